"""Hostile and broken data through the real CLI: every case exits 2 with exactly ONE line on stderr
naming the file and the problem, writes nothing outside its output folder and leaves nothing
partial behind (the tree of the test folder is byte for byte what it was)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_errors import one_line_error
from conftest import write_blocks_dataset
from harness.atomic import STAGING_MARK
from harness.cli import main as panbench


# --- helpers ------------------------------------------------------------------------------------
def tree(root: Path) -> dict[str, str]:
    """Every file and folder below `root` (links as links), files with a hash of their bytes."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out



def fails_cleanly(capsys, tmp_path: Path, argv: list[str], *expected: str) -> str:
    """`one_line_error`, and the whole test folder is unchanged afterwards."""
    before = tree(tmp_path)
    line = one_line_error(capsys, argv, *expected)
    assert tree(tmp_path) == before
    return line


def edit_json(root: Path, change) -> None:
    path = root / "panoptic.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def segment(data: dict, image_index: int, sid: int) -> dict:
    return next(s for s in data["annotations"][image_index]["segments_info"] if s["id"] == sid)


def png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height RGB pixels, with a few bytes of data: what a
    decompression bomb looks like to a reader that trusts the header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def disk_full_after(monkeypatch, n_ok: int) -> None:
    """The (n_ok + 1)-th fsync of this process fails like a full disk (os.write itself is C-level)."""
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def no_partial_folders(root: Path) -> None:
    assert not [p for p in root.rglob("*") if STAGING_MARK in p.name], "a staging folder was left behind"


@pytest.fixture
def blocks(tmp_path):
    return write_blocks_dataset(tmp_path / "blocks", n=3)


@pytest.fixture
def victim(tmp_path):
    """A file outside every dataset, which no command may touch."""
    path = tmp_path / "victim.png"
    Image.new("RGB", (48, 32), (1, 2, 3)).save(path)
    return path


def check(root: Path) -> list[str]:
    return ["data", "check", str(root), "--workers", "1"]


def panda(src: Path, out: Path, *extra: str) -> list[str]:
    return ["panda", "--src", str(src), "--out", str(out), "--workers", "1", "--no-progress", *extra]


def evaluate(gt: Path, pred_json: Path, pred_dir: Path) -> list[str]:
    return ["evaluate", "panoptic", "--gt", str(gt), "--pred-json", str(pred_json), "--pred-dir", str(pred_dir),
            "--workers", "1"]


# --- paths named in a JSON stay in their folder ---------------------------------------------------
def test_dotdot_file_name_is_refused_by_check_and_panda(blocks, tmp_path, capsys, victim):
    edit_json(blocks, lambda d: d["images"][1].update(file_name="../../victim.png"))
    rule = "images[1] (id 1): file_name '../../victim.png' climbs out of its folder with '..'"
    fails_cleanly(capsys, tmp_path, check(blocks), "blocks/panoptic.json", rule)
    fails_cleanly(capsys, tmp_path, panda(blocks, tmp_path / "p"), "blocks/panoptic.json", rule)


def test_absolute_file_name_is_never_opened(blocks, tmp_path, capsys):
    edit_json(blocks, lambda d: d["annotations"][0].update(file_name="/etc/hostname"))
    fails_cleanly(capsys, tmp_path, check(blocks), "blocks/panoptic.json",
                  "annotations[0] (image 0): file_name '/etc/hostname' is an absolute path")


def test_symlink_out_of_the_dataset_needs_the_explicit_option(blocks, tmp_path, capsys):
    outside = tmp_path / "elsewhere.png"
    shutil.copy(blocks / "images/img_001.png", outside)
    (blocks / "images/img_001.png").unlink()
    (blocks / "images/img_001.png").symlink_to(outside)
    line = fails_cleanly(capsys, tmp_path, check(blocks), "blocks/panoptic.json", "image 1: file_name 'img_001.png'",
                         f"resolves to {outside}, outside images/", "--allow-outside-links")
    assert line.count(str(outside)) == 1
    assert panbench([*check(blocks), "--allow-outside-links"]) == 0
    assert "ok:" in capsys.readouterr().out


def test_subset_never_writes_outside_its_output(blocks, tmp_path, capsys, victim):
    """A file_name of ../../victim.png once made `data subset` replace that file with a hard link."""
    edit_json(blocks, lambda d: d["images"][1].update(file_name="../../victim.png"))
    fails_cleanly(capsys, tmp_path, ["data", "subset", "--src", str(blocks), "--out", str(tmp_path / "sub"),
                                     "--every", "1"], "climbs out of its folder with '..'")
    assert not (tmp_path / "sub").exists()


def test_export_never_writes_outside_the_dataset(blocks, tmp_path, capsys, victim):
    """A label file_name of ../../victim.png once made `data export` overwrite that PNG."""
    shutil.copy(blocks / "panoptic/img_001.png", tmp_path / "victim.png")
    edit_json(blocks, lambda d: d["annotations"][1].update(file_name="../../victim.png"))
    fails_cleanly(capsys, tmp_path, ["data", "export", "--src", str(blocks), "--workers", "1"],
                  "blocks/panoptic.json", "annotations[1] (image 1): file_name '../../victim.png' climbs out")


def test_prediction_png_outside_its_folder(blocks, tmp_path, capsys):
    pred = tmp_path / "pred"
    shutil.copytree(blocks, pred)
    edit_json(pred, lambda d: d["annotations"][0].update(file_name="../../blocks/panoptic/img_000.png"))
    fails_cleanly(capsys, tmp_path, evaluate(blocks, pred / "panoptic.json", pred / "panoptic"),
                  "pred/panoptic.json: annotations[0] (image 0): file_name", "climbs out of its folder")


# --- bounded images -----------------------------------------------------------------------------
def test_decompression_bomb_header_is_refused_before_decoding(blocks, tmp_path, capsys):
    png_header(blocks / "panoptic/img_001.png", 30000, 30000)  # 2.7 GB of pixels if decoded
    for argv in (check(blocks), panda(blocks, tmp_path / "p"),
                 evaluate(blocks, blocks / "panoptic.json", blocks / "panoptic")):
        fails_cleanly(capsys, tmp_path, argv, "blocks/panoptic/img_001.png: label has more than",
                      "pixels, over the limit of", "PANBENCH_MAX_IMAGE_PIXELS")


def test_a_label_over_the_pixel_limit_is_refused_with_its_size(blocks, tmp_path, capsys):
    """10000x10000 passed `data check` after 40 s at 3.4 GB; now its header is enough."""
    png_header(blocks / "panoptic/img_002.png", 10000, 10000)
    fails_cleanly(capsys, tmp_path, check(blocks), "blocks/panoptic/img_002.png: label is 10000x10000 (WxH) = "
                  "100,000,000 pixels, over the limit of 89,478,485")


def test_a_separate_process_prints_only_the_error_line(blocks, tmp_path):
    """Outside pytest (which captures warnings itself) Pillow's DecompressionBombWarning must not
    reach stderr either: the CLI's one line is all there is. Progress lines (every 0 s here) go to
    stdout."""
    import sys

    png_header(blocks / "panoptic/img_002.png", 10000, 10000)
    done = subprocess.run([sys.executable, "-m", "harness.cli", *check(blocks)], capture_output=True, text=True,
                          env={**os.environ, "PANBENCH_PROGRESS_SECONDS": "0"})
    assert done.returncode == 2
    first, last = done.stdout.splitlines()
    assert re.fullmatch(r"checking pixels: 1/2 \(50%\), 0:00:\d\d elapsed, ~0:00:\d\d left", first), first
    assert re.fullmatch(r"checking pixels: 2/2 \(100%\), done in 0:00:\d\d", last), last
    assert done.stderr.splitlines() == [f"panbench: error: {blocks / 'panoptic/img_002.png'}: label is 10000x10000 "
                                        "(WxH) = 100,000,000 pixels, over the limit of 89,478,485 (refused before "
                                        "decoding; PANBENCH_MAX_IMAGE_PIXELS raises it)"]


def test_the_pixel_limit_is_configurable(blocks, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PANBENCH_MAX_IMAGE_PIXELS", "1000")  # the blocks images are 48x32 = 1,536 pixels
    fails_cleanly(capsys, tmp_path, check(blocks), "blocks/images/img_000.png: image is 48x32 (WxH) = 1,536 "
                  "pixels, over the limit of 1,000")
    fails_cleanly(capsys, tmp_path, evaluate(blocks, blocks / "panoptic.json", blocks / "panoptic"),
                  "blocks/panoptic/img_000.png: label is 48x32")
    monkeypatch.setenv("PANBENCH_MAX_IMAGE_PIXELS", "lots")
    fails_cleanly(capsys, tmp_path, check(blocks), "PANBENCH_MAX_IMAGE_PIXELS: expected a positive number of "
                  "pixels, got 'lots'")
    monkeypatch.setenv("PANBENCH_MAX_IMAGE_PIXELS", "2000")
    assert panbench(check(blocks)) == 0


# --- disk full and killed runs ------------------------------------------------------------------
def test_disk_full_in_panda_names_the_file_and_leaves_nothing(blocks, tmp_path, capsys, monkeypatch):
    disk_full_after(monkeypatch, 3)
    fails_cleanly(capsys, tmp_path, panda(blocks, tmp_path / "p"),
                  f"{tmp_path / 'p'}/", ": cannot write (No space left on device)")


def test_disk_full_in_synth_names_the_file_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    disk_full_after(monkeypatch, 2)
    line = fails_cleanly(capsys, tmp_path, ["data", "synth", "--out", str(tmp_path / "s"), "--n", "3", "--width",
                                            "32", "--height", "16", "--workers", "1"],
                         f"{tmp_path / 's'}/", "cannot write (No space left on device)")
    assert STAGING_MARK not in line  # the file's final name, not its staging one


def test_disk_full_in_export_changes_nothing(blocks, tmp_path, capsys, monkeypatch):
    disk_full_after(monkeypatch, 1)
    fails_cleanly(capsys, tmp_path, ["data", "export", "--src", str(blocks), "--workers", "1"],
                  f"{blocks / 'semantic'}/img_00", "cannot write (No space left on device)")
    monkeypatch.undo()
    assert panbench(["data", "export", "--src", str(blocks), "--workers", "1"]) == 0
    capsys.readouterr()
    disk_full_after(monkeypatch, 3)  # the second export fails on its JSONs: the first export's files stay
    exported = tree(blocks)
    one_line_error(capsys, ["data", "export", "--src", str(blocks), "--workers", "1"], "No space left on device")
    assert tree(blocks) == exported
    no_partial_folders(tmp_path)


def test_killed_panda_leaves_no_dataset_and_a_rerun_starts_clean(blocks, tmp_path, capsys, monkeypatch):
    import harness.panda.generate as generate

    rendered = []
    real_render = generate.render

    def render_then_die(job):
        if len(rendered) == 2:
            raise KeyboardInterrupt  # the user's Ctrl-C (or a kill) mid-way
        rendered.append(job)
        return real_render(job)

    before = tree(tmp_path)
    monkeypatch.setattr(generate, "render", render_then_die)
    with pytest.raises(KeyboardInterrupt):
        panbench(panda(blocks, tmp_path / "p", "--copies", "2"))
    assert tree(tmp_path) == before  # no half dataset, no staging folder
    monkeypatch.undo()
    # a SIGKILL cannot clean up: its staging folder stays, hidden, until the next run of that output
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".p{STAGING_MARK}{socket.gethostname()}-{dead.pid}"
    (stale / "images").mkdir(parents=True)
    (stale / "images/img_000_panda1.png").write_bytes(b"half")
    assert panbench(panda(blocks, tmp_path / "p", "--copies", "1")) == 0
    assert not stale.exists()
    assert panbench(check(tmp_path / "p")) == 0  # fewer copies, no orphan images
    assert len(json.loads((tmp_path / "p/panoptic.json").read_text())["images"]) == 3
    capsys.readouterr()


def test_an_occupied_output_folder_is_refused(blocks, tmp_path, capsys):
    (tmp_path / "s").mkdir()
    (tmp_path / "s/notes.txt").write_text("mine")
    fails_cleanly(capsys, tmp_path, ["data", "synth", "--out", str(tmp_path / "s"), "--n", "1", "--workers", "1"],
                  f"{tmp_path / 's'}: already exists and is not empty")


# --- what `data check` sees that a reader would trip over ---------------------------------------
def test_files_no_entry_names_are_flagged(blocks, tmp_path, capsys):
    shutil.copy(blocks / "images/img_000.png", blocks / "images/img_000_panda1.png")
    fails_cleanly(capsys, tmp_path, check(blocks),
                  "blocks/images/img_000_panda1.png: no entry of panoptic.json names this file")


def test_an_empty_dataset_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/panoptic.json").write_text('{"images": [], "annotations": [], "categories": []}')
    fails_cleanly(capsys, tmp_path, check(tmp_path / "empty"), "empty/panoptic.json: the dataset holds no images")


def test_a_json_that_is_not_a_dataset(blocks, tmp_path, capsys):
    (blocks / "panoptic.json").write_text("[1, 2]")
    fails_cleanly(capsys, tmp_path, check(blocks), "panoptic.json: is list, expected a JSON object")
    (blocks / "panoptic.json").write_text('{"images": [')
    fails_cleanly(capsys, tmp_path, check(blocks), "panoptic.json: invalid JSON")


@pytest.mark.parametrize("name,corrupt,expected", [
    ("corrupt png", lambda r: (r / "panoptic/img_001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png"),
     "blocks/panoptic/img_001.png: unreadable or corrupt label"),
    ("segment missing from the png", lambda r: edit_json(r, lambda d: d["annotations"][1]["segments_info"].append(
        {"id": 26002, "category_id": 26, "area": 1, "bbox": [0, 0, 1, 1], "iscrowd": 0})),
     "blocks/panoptic/img_001.png: segment 26002"),
    ("id collision", lambda r: edit_json(r, lambda d: d["annotations"][1]["segments_info"].append(
        dict(segment(d, 1, 26001)))), "blocks/panoptic/img_001.png: segment 26001 is listed 2 times"),
    ("wrong bbox", lambda r: edit_json(r, lambda d: segment(d, 1, 26001)["bbox"].__setitem__(2, 13)),
     "blocks/panoptic/img_001.png: segment 26001 has bbox"),
    ("text segment id", lambda r: edit_json(r, lambda d: segment(d, 1, 26001).update(id="26001")),
     "blocks/panoptic.json: annotations[1] (image 1) segments_info[3] (id '26001'): id is '26001', "
     "expected an integer"),
    ("no segments_info", lambda r: edit_json(r, lambda d: d["annotations"][2].pop("segments_info")),
     "blocks/panoptic.json: annotations[2] (image 2): has no 'segments_info'"),
    ("nul in a file name", lambda r: edit_json(r, lambda d: d["images"][0].update(file_name="a\x00.png")),
     "images[0] (id 0): file_name 'a\\x00.png' contains a NUL character"),
], ids=["corrupt png", "segment missing from the png", "id collision", "wrong bbox", "text segment id",
        "no segments_info", "nul in a file name"])
def test_check_and_panda_apply_one_rule(blocks, tmp_path, capsys, name, corrupt, expected):
    corrupt(blocks)
    check_line = fails_cleanly(capsys, tmp_path, check(blocks), expected)
    panda_line = fails_cleanly(capsys, tmp_path, panda(blocks, tmp_path / "p"), expected)
    if name == "wrong bbox":  # panda refuses it by data check's rule, in data check's words
        assert check_line == panda_line and ", 12, 8] in the PNG" in check_line


# --- evaluation inputs --------------------------------------------------------------------------
@pytest.fixture
def pred(blocks, tmp_path):
    root = tmp_path / "pred"
    shutil.copytree(blocks, root)
    return root


def test_rgba_labels_are_refused_by_evaluate_as_by_check(blocks, pred, tmp_path, capsys):
    Image.open(blocks / "panoptic/img_001.png").convert("RGBA").save(blocks / "panoptic/img_001.png")
    label = str(blocks / "panoptic/img_001.png")
    for argv in (check(blocks), evaluate(blocks, pred / "panoptic.json", pred / "panoptic")):
        line = fails_cleanly(capsys, tmp_path, argv, f"{label}: label PNG has mode RGBA, expected RGB")
        assert line.count(label) == 1  # the path once, not twice


@pytest.mark.parametrize("change,expected", [
    (lambda d: d["annotations"][0].pop("segments_info"), "annotations[0] (image 0): has no 'segments_info'"),
    (lambda d: d["annotations"][1].pop("image_id"), "annotations[1]: has no 'image_id'"),
    (lambda d: d["annotations"][0]["segments_info"][0].update(id=None),
     "annotations[0] (image 0) segments_info[0] (id None): id is None, expected an integer"),
    (lambda d: d["annotations"][0].update(segments_info={"id": 1}),
     "annotations[0] (image 0): segments_info is {'id': 1}, expected a list"),
    (lambda d: d.update(annotations="all of them"), "top-level 'annotations' is str, expected a list"),
], ids=["no segments_info", "no image_id", "id of the wrong type", "segments_info not a list", "not a list"])
def test_prediction_json_schema(blocks, pred, tmp_path, capsys, change, expected):
    edit_json(pred, change)
    fails_cleanly(capsys, tmp_path, evaluate(blocks, pred / "panoptic.json", pred / "panoptic"),
                  f"{pred / 'panoptic.json'}: {expected}")
    fails_cleanly(capsys, tmp_path, ["evaluate", "semantic", "--gt", str(blocks), "--pred", str(pred)],
                  f"{pred / 'panoptic.json'}: {expected}")


def test_instance_results_schema(blocks, tmp_path, capsys):
    results = tmp_path / "instances.json"
    results.write_text(json.dumps([{"image_id": 0, "category_id": 26, "score": 0.9, "bbox": [0, 0, 4, 4]},
                                   {"image_id": 1, "category_id": 26, "score": "high", "bbox": [0, 0, 4, 4]}]))
    fails_cleanly(capsys, tmp_path, ["evaluate", "instances", "--gt", str(blocks), "--pred-json", str(results)],
                  "instances.json: prediction 1: score is 'high', expected a number")
    results.write_text(json.dumps([{"image_id": 0, "category_id": 26, "score": 0.9, "bbox": [0, 0, 4]}]))
    fails_cleanly(capsys, tmp_path, ["evaluate", "instances", "--gt", str(blocks), "--pred-json", str(results)],
                  "instances.json: prediction 0: bbox is [0, 0, 4], expected [x, y, w, h] (4 numbers)")


def test_ground_truth_json_schema_in_evaluate(blocks, pred, tmp_path, capsys):
    edit_json(blocks, lambda d: d["categories"][0].pop("name"))
    fails_cleanly(capsys, tmp_path, evaluate(blocks, pred / "panoptic.json", pred / "panoptic"),
                  "blocks/panoptic.json: categories[0] (id 7): has no 'name'")


def test_a_clean_copy_still_scores_100(blocks, pred, capsys):
    """The checks above refuse bad input only: the same files, unbroken, evaluate as before."""
    assert panbench(evaluate(blocks, pred / "panoptic.json", pred / "panoptic")) == 0
    assert "100.0" in capsys.readouterr().out
    arr = np.asarray(Image.open(blocks / "panoptic/img_000.png"))
    assert arr.shape == (32, 48, 3)
