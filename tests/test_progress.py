"""Progress off a terminal: a line every few percent (at most every N seconds) per task and a last
line, on stdout; nothing for short work; the same calls as rich's Progress."""

from __future__ import annotations

import io

import pytest

from harness.errors import ConfigError
from harness.progress import LineProgress, line_seconds, progress_bar, track


def test_lines_are_printed_every_interval_and_once_at_the_end():
    out = io.StringIO()
    with LineProgress(interval=0.0, stream=out) as bar:
        task = bar.add_task("PQ", total=4, loss=float("nan"))
        for k in range(4):
            bar.update(task, advance=1, loss=0.5 / (k + 1))
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("PQ: 1/4 (25%), 0:00:00 elapsed, ~0:00:00 left, loss 0.5")
    assert lines[-1].startswith("PQ: 4/4 (100%), done in 0:00:00, loss 0.125")


def test_a_long_task_prints_a_line_every_five_percent():
    out = io.StringIO()
    with LineProgress(interval=0.0, stream=out) as bar:
        task = bar.add_task("train", total=1000)
        for _ in range(1000):
            bar.advance(task)
    lines = out.getvalue().splitlines()
    assert len(lines) == 20  # 5 %, 10 %, ..., 95 %, then the last line
    assert lines[0].startswith("train: 50/1000 (5%)") and lines[-2].startswith("train: 950/1000 (95%)")
    assert lines[-1].startswith("train: 1000/1000 (100%), done in")


def test_without_a_total_lines_follow_the_interval():
    out = io.StringIO()
    with LineProgress(interval=0.0, stream=out) as bar:
        task = bar.add_task("reading")
        for _ in range(3):
            bar.advance(task)
    assert out.getvalue().splitlines() == ["reading: 1, 0:00:00 elapsed", "reading: 2, 0:00:00 elapsed",
                                           "reading: 3, 0:00:00 elapsed"]


def test_short_work_prints_nothing():
    out = io.StringIO()
    with LineProgress(interval=3600.0, stream=out) as bar:
        assert list(bar.track(range(5), description="quick")) == list(range(5))
    assert out.getvalue() == ""


def test_off_a_terminal_the_bar_is_lines_on_stdout(capsys, monkeypatch):
    monkeypatch.setenv("PANBENCH_PROGRESS_SECONDS", "0")
    assert isinstance(progress_bar(), LineProgress)  # pytest's capture is not a terminal
    assert list(track(range(2), "work")) == [0, 1]
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1].startswith("work: 2/2 (100%), done in") and captured.err == ""
    assert list(track(range(2), "silent", disable=True)) == [0, 1]
    assert capsys.readouterr().out == ""


def test_the_interval_is_checked(monkeypatch):
    monkeypatch.setenv("PANBENCH_PROGRESS_SECONDS", "soon")
    with pytest.raises(ConfigError, match="PANBENCH_PROGRESS_SECONDS"):
        line_seconds()
    monkeypatch.delenv("PANBENCH_PROGRESS_SECONDS")
    assert line_seconds() == 10.0


@pytest.mark.parametrize("env, expected", [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": ""}, False),
                                           ({"TTY_COMPATIBLE": "1"}, True), ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, False)])
def test_interactive_is_riches_answer_off_a_tty(monkeypatch, env, expected):
    """Standard output captured (not a tty): a terminal only where rich's variables force one, as rich says."""
    from harness.progress import interactive

    for key in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert interactive() is expected
