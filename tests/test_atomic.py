"""harness.atomic: what a temp file + rename leaves behind."""

import os

from harness.atomic import write_text


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    """Temp file + rename must not leave mkstemp's private 0600 mode: datasets, run records and the
    dashboard are shared with other users and web servers like any file `open()` creates."""
    write_text(tmp_path / "a.txt", "x")
    with open(tmp_path / "b.txt", "w") as f:
        f.write("x")
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == os.stat(tmp_path / "b.txt").st_mode & 0o777
