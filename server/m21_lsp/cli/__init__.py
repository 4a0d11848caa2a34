"""``m21-lsp``: the pipeline from the command line, plus ``serve`` for editors.

Exit codes: 0 success; 1 configuration, model, reply or validation failure (message on
stderr, file untouched); 2 usage errors (bad arguments or ranges); 130 interrupted.

One module per subcommand (``refactor``, ``explain``, ``actions``, ``doctor``, ``demo``,
``serve``), imported only when it runs: ``serve`` must start without the pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from .. import version
from ..errors import M21Error, UsageError, scrub
from .exits import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from .ranges import parse_lines, parse_range

__all__ = [
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "parse_lines",
    "parse_range",
]

# Subcommands that run a coroutine ``run(args, out, err)`` in the module of their name.
_ASYNC_COMMANDS = ("refactor", "explain", "actions", "doctor", "demo")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is the code we promise."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="m21-lsp", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--version", action="version", version=f"m21-lsp {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_selection(p: argparse.ArgumentParser, *, required: bool = True) -> None:
        p.add_argument("path", help="the file to work on")
        group = p.add_mutually_exclusive_group(required=required)
        group.add_argument("--lines", metavar="A-B", help="1-based inclusive whole lines")
        group.add_argument(
            "--range",
            metavar="L1:C1-L2:C2",
            help="1-based lines and code-point columns, end exclusive",
        )
        p.add_argument("--json", action="store_true", help="print JSON instead of text")

    refactor = sub.add_parser("refactor", help="refactor a selection; prints a diff")
    add_selection(refactor, required=False)
    what = refactor.add_mutually_exclusive_group()
    what.add_argument("--instruction", "-i", help="what to do (default: improve it)")
    what.add_argument(
        "--action", "-a", metavar="NAME", help="run an action by name (see `m21-lsp actions`)"
    )
    refactor.add_argument("--apply", action="store_true", help="rewrite the file atomically")

    explain = sub.add_parser("explain", help="explain a selection as markdown")
    add_selection(explain)

    actions = sub.add_parser("actions", help="list the actions --action can run")
    actions.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub.add_parser("doctor", help="show the configuration and check the endpoint")
    sub.add_parser("demo", help="offline demo with a recorded reply")

    serve = sub.add_parser("serve", help="run the language server")
    serve.add_argument("--stdio", action="store_true", help="speak LSP over stdio (default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP, for debugging")
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from .serve import run as serve

        return serve(args)
    assert args.command in _ASYNC_COMMANDS, args.command
    try:
        runner = importlib.import_module(f"{__name__}.{args.command}").run
        return asyncio.run(runner(args, out, err))
    except UsageError as exc:
        print(f"m21-lsp: {exc.message}", file=err)
        return EXIT_USAGE
    except M21Error as exc:
        print(f"m21-lsp: {exc.message}", file=err)
        if exc.detail and os.environ.get("M21_DEBUG"):
            print(scrub(exc.detail), file=err)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("m21-lsp: cancelled; nothing was changed.", file=err)
        return EXIT_INTERRUPTED
