"""harness.atomic: what a temp file + rename, and a staging folder + rename, leave behind."""

import errno
import json
import os

import pytest

from harness import atomic
from harness.atomic import STAGING_MARK, link_or_copy, output_folder, write_text
from harness.errors import PanbenchError, WriteError


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    """Temp file + rename must not leave mkstemp's private 0600 mode: datasets, run records and the
    dashboard are shared with other users and web servers like any file `open()` creates."""
    write_text(tmp_path / "a.txt", "x")
    with open(tmp_path / "b.txt", "w") as f:
        f.write("x")
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == os.stat(tmp_path / "b.txt").st_mode & 0o777


def test_an_output_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "out"
    with output_folder(target) as staging:
        (staging / "a.txt").write_text("a")
        assert not target.exists() and staging.parent == tmp_path and staging.name.startswith(".out" + STAGING_MARK)
    assert (target / "a.txt").read_text() == "a" and sorted(os.listdir(tmp_path)) == ["out"]


def test_a_failed_output_folder_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with output_folder(tmp_path / "out") as staging:
            write_text(staging / "sub" / "a.txt", "a")
            raise RuntimeError("half way")
    assert os.listdir(tmp_path) == []


def test_an_empty_folder_is_filled_and_a_full_one_refused_unless_replaceable(tmp_path):
    (tmp_path / "empty").mkdir()
    with output_folder(tmp_path / "empty") as staging:
        (staging / "new.png").write_bytes(b"1")
    assert os.listdir(tmp_path / "empty") == ["new.png"]
    with pytest.raises(PanbenchError, match="already exists and is not empty"):
        with output_folder(tmp_path / "empty"):
            pass
    with output_folder(tmp_path / "empty", replace=lambda folder: True) as staging:
        (staging / "newer.png").write_bytes(b"2")
    assert os.listdir(tmp_path / "empty") == ["newer.png"]  # the old contents went, once the new were in place
    assert sorted(os.listdir(tmp_path)) == ["empty"]


def test_a_write_error_inside_names_the_final_path(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteError) as caught:
        with output_folder(tmp_path / "out") as staging:
            monkeypatch.setattr(os, "fsync", full)
            write_text(staging / "images" / "a.png", "x")
    assert caught.value.path == str(tmp_path / "out" / "images" / "a.png")
    assert str(caught.value).endswith("a.png: cannot write (No space left on device)")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_link_or_copy_links_and_leaves_no_temp_name(tmp_path):
    (tmp_path / "src.png").write_bytes(b"png")
    link_or_copy(tmp_path / "src.png", tmp_path / "dst" / "x.png")
    assert (tmp_path / "dst" / "x.png").stat().st_ino == (tmp_path / "src.png").stat().st_ino
    assert os.listdir(tmp_path / "dst") == ["x.png"]


def test_only_durable_writes_fsync_and_the_ground_truth_cache_is_not_one(tmp_path, monkeypatch):
    from harness.metrics.engines.gt_cache import PngRecords

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    atomic.write_json(tmp_path / "result.json", {"pq": 1.0})
    assert len(synced) == 1
    atomic.write_json(tmp_path / "cache.json", {"pq": 2.0}, durable=False)
    assert len(synced) == 1 and json.loads((tmp_path / "cache.json").read_text()) == {"pq": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.json", "result.json"]  # no temp name left
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "a.png").write_bytes(b"png")
    with PngRecords("test", tmp_path / "gt", tmp_path / "cache") as records:
        assert records.value("a.png", "k", lambda: [1, 2]) == [1, 2]
    assert len(synced) == 1 and any((tmp_path / "cache").rglob("test-*.json"))
