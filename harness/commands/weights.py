"""`panbench weights check [FILE ...]`: is each weights file where panbench looks, and are its bytes
the publisher's (harness/weight_check.py). Without FILE, every file panbench's recipes and
evaluators name (harness/weight_files.py KNOWN_FILES), looked for in PANBENCH_WEIGHTS. Exit 0 when
every file checked is present and intact, 1 when one is absent or corrupted."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("weights", description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="weights_command", required=True)
    check = commands.add_parser("check", help="present / absent / corrupted, against the publisher's hash",
                                description=__doc__)
    check.add_argument("files", nargs="*", metavar="FILE",
                       help="a path, or a bare name looked up in PANBENCH_WEIGHTS (default: every known file)")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from harness.weight_check import OK, check_files

    results = check_files(args.files)
    width = max(len(str(r.path)) for r in results)
    for r in results:
        print(f"{r.status:<9} {str(r.path):<{width}}  {r.detail}")
    return int(any(r.status != OK for r in results))
