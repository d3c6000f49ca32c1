"""`panbench` command line: one sub-command per stage of the pipeline.

Each stage owns its sub-commands in a `commands.py` with `register(subparsers)`; a handler is
stored as `func` on the parsed namespace. Errors panbench raises on purpose print as one line."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

from harness.errors import PanbenchError, clip
from harness.interrupts import Interrupted, handled
from harness.threads import set_process_defaults

COMMAND_MODULES = (
    "harness.data.commands",
    "harness.panda.commands",
    "harness.train.commands",
    "harness.tracking.commands",
    "analysis.commands",
    "harness.launch.commands",
    "harness.metrics.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"panbench {importlib.metadata.version('panbench')}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    set_process_defaults()  # before any command imports torch (harness.threads)
    args = build_parser().parse_args(argv)
    try:
        with handled():  # SIGTERM / SIGINT / SIGHUP end a command in one line, exit 128 + n (harness.interrupts)
            result = args.func(args)
    except Interrupted as exc:
        print(f"panbench: interrupted: {exc}", file=sys.stderr)
        return exc.exit_code
    except PanbenchError as exc:
        print(f"panbench: error: {clip(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the system refuses (missing folder, no permission, disk full)
        if exc.filename is None:
            raise
        print(f"panbench: error: {clip(exc.filename, 300)}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
