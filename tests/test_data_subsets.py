"""Nested seeded subsets, the paper's every-4th rule, and subset datasets on disk."""

import json

import numpy as np
import pytest

from harness.cli import main as panbench
from harness.data.subsets import every_kth, nested_subsets, write_subset
from harness.data.validate import load_valid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nested_subsets_nest_and_are_seeded(seed):
    ids = [f"img_{i}" for i in range(2975)]  # Cityscapes train size
    subsets = nested_subsets(ids, [10, 100, 1000, 2975], seed)
    assert [len(subsets[s]) for s in (10, 100, 1000, 2975)] == [10, 100, 1000, 2975]
    assert set(subsets[10]) < set(subsets[100]) < set(subsets[1000]) < set(subsets[2975]) == set(ids)
    assert all(len(set(s)) == len(s) for s in subsets.values())
    assert subsets[100] == sorted(subsets[100], key=ids.index)  # listed in source order
    assert subsets == nested_subsets(ids, [10, 100, 1000, 2975], seed)
    assert subsets[100] != nested_subsets(ids, [100], seed + 10)[100]
    # the smaller subset does not depend on which other sizes were asked for
    assert nested_subsets(ids, [10], seed)[10] == subsets[10]


def test_nested_subsets_reject_impossible_sizes():
    with pytest.raises(ValueError, match="subset size 4 is not in 1..3"):
        nested_subsets([1, 2, 3], [4], 0)


def test_every_4th_gives_the_papers_coco_30k():
    assert every_kth(list(range(10)), 4) == [0, 4, 8]
    assert len(every_kth(list(range(118287)), 4)) == 29572  # COCO train2017 -> "30K"


def test_write_subset_is_a_valid_linked_dataset(blocks_dataset, tmp_path):
    out = write_subset(blocks_dataset, tmp_path / "sub", [2, 0])
    sub, src = load_valid(out), load_valid(blocks_dataset)
    assert [e["id"] for e in sub.images] == [2, 0]
    assert sub.annotation_for(2) == src.annotation_for(2)
    np.testing.assert_array_equal(sub.read_ids(0), src.read_ids(2))
    assert (out / "images/img_002.png").stat().st_ino == (blocks_dataset / "images/img_002.png").stat().st_ino
    assert not (out / "images/img_001.png").exists()
    assert json.loads((out / "panoptic.json").read_text())["subset"]["n"] == 2


def test_cli_subset_sizes_and_every(blocks_dataset, tmp_path, capsys):
    assert panbench(["data", "subset", "--src", str(blocks_dataset), "--out", str(tmp_path / "nested"),
                     "--sizes", "1,2", "--seed", "3"]) == 0
    n1, n2 = (load_valid(tmp_path / "nested" / f"n{s}") for s in (1, 2))
    assert {e["id"] for e in n1.images} < {e["id"] for e in n2.images}
    assert panbench(["data", "subset", "--src", str(blocks_dataset), "--out", str(tmp_path / "k2"), "--every", "2"]) == 0
    assert [e["id"] for e in load_valid(tmp_path / "k2").images] == [0, 2]
    capsys.readouterr()
    assert panbench(["data", "subset", "--src", str(blocks_dataset), "--out", str(tmp_path / "x"), "--sizes", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "panoptic.json: has 3 images; cannot make a subset of 5" in err[0]
