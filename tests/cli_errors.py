"""The bad-input contract of every command, checked in one place: exit 2, exactly one
`panbench: error:` line on stderr holding every expected text, no traceback, nothing on stdout."""

from __future__ import annotations

from harness.cli import main as panbench


def one_line_error(capsys, argv: list[str], *expected: str) -> str:
    """Run the CLI on `argv` and check the contract; returns the error line."""
    assert panbench(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panbench: error: "), captured.err
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in captured.err and captured.out == "", captured.out
    return lines[0]
