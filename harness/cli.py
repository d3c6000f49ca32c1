"""`panbench` command line: one sub-command per stage of the pipeline.

The sub-commands and their one-line help are listed below; each is registered by its module in
harness/commands/ (`register(subparsers)`, the handler stored as `func` on the namespace). A run
imports only the module of the sub-command it runs, and `--help` / `--version` none, so start-up
loads what the command needs and no more. Errors panbench raises on purpose print as one line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable

from harness.errors import PanbenchError, clip
from harness.interrupts import Interrupted, handled
from harness.threads import set_process_defaults

COMMANDS = {  # name -> (module that registers it, one-line help), in the order `panbench --help` lists them
    "data": ("harness.commands.data", "make, check, subset, convert and export COCO-panoptic datasets"),
    "panda": ("harness.commands.panda", "PanDA: synthesise a panoptic dataset from a COCO-panoptic one"),
    "augment": ("harness.commands.panda", "any augmentation method (panda, copy-paste, module:function) as a "
                                          "COCO-panoptic dataset"),
    "train": ("harness.commands.train", "train and evaluate one recipe cell"),
    "sync": ("harness.commands.tracking", "push offline W&B runs (wandb sync)"),
    "runs": ("harness.commands.tracking", "inspect the run store (runs stale: finished runs made by other code)"),
    "table": ("harness.commands.analysis", "a paper table from the run store, the published numbers, or both "
                                           "side by side (ours | paper | Δ)"),
    "figure": ("harness.commands.analysis", "PanDA Fig. 3, supplementary Figs 1-2 (class share), per-class bars, "
                                            "the copies study; synthesis Fig. 4 and sample images (Figs 6-7)"),
    "report": ("harness.commands.analysis", "write tables, figures and the dashboard of a study into one folder"),
    "dashboard": ("harness.commands.analysis", "one self-contained HTML page comparing runs"),
    "specs": ("harness.commands.analysis", "the registered tables and figures, and the recipe each make target sweeps"),
    "sweep": ("harness.commands.launch", "run every cell of a recipe's grid (finished runs are skipped)"),
    "evaluate": ("harness.commands.metrics", "PQ / mIoU / AP / FID of predictions against ground truth"),
    "weights": ("harness.commands.weights", "weights files: present, absent or corrupted (publisher's hash)"),
}


class _Parser(argparse.ArgumentParser):
    """Every panbench parser, sub-commands' included: flags are not abbreviated, so a removed
    spelling (`--runs`) does not live on as a prefix of its successor (`--runs-root`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


class _Version(argparse.Action):
    """`--version` from the package metadata, read only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help=help or "show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        import importlib.metadata

        print(f"panbench {importlib.metadata.version('panbench')}")
        parser.exit()


class _Commands(argparse._SubParsersAction):
    """The sub-command action: a command's one-line help comes from COMMANDS, so `panbench --help`
    lists every command without importing its module."""

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        kwargs.setdefault("help", COMMANDS[name][1])
        return super().add_parser(name, **kwargs)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The `panbench` parser with the full parsers of `commands` (default: all); any other command is
    listed by name and help only, its module not imported."""
    parser = _Parser(prog="panbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_Version)
    subparsers = parser.add_subparsers(dest="command", required=True, action=_Commands)
    wanted = {COMMANDS[name][0] for name in (COMMANDS if commands is None else commands) if name in COMMANDS}
    for name, (module, _) in COMMANDS.items():
        if module in wanted:
            importlib.import_module(module).register(subparsers)  # every command of the module
            wanted.discard(module)
        elif name not in subparsers.choices:
            subparsers.add_parser(name)  # listed only: this run does not use it
    return parser


def main(argv: list[str] | None = None) -> int:
    set_process_defaults()  # before any command imports torch (harness.threads)
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[:1]).parse_args(argv)  # top-level options take no value: argv[0] names the command
    try:
        with handled():  # SIGTERM / SIGINT / SIGHUP end a command in one line, exit 128 + n (harness.interrupts)
            result = args.func(args)
    except Interrupted as exc:
        if int(os.environ.get("RANK", "0")) == 0:  # one line per command, not one per DDP process
            print(f"panbench: interrupted: {exc}", file=sys.stderr)
        return exc.exit_code
    except PanbenchError as exc:
        if int(os.environ.get("RANK", "0")) == 0:  # one line per command, not one per DDP process
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
