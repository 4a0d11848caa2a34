"""``m21-lsp serve``: the language server an editor starts.

Kept apart from the other subcommands so that starting it imports only the CLI's parser
and ``lsp.server`` (no pipeline, libcst or httpx: ``lsp/lazy.py`` loads those later).
"""

from __future__ import annotations

import argparse

from .exits import EXIT_OK


def run(args: argparse.Namespace) -> int:
    from ..lsp import server

    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.run_tcp(host or "127.0.0.1", int(port))
    else:
        server.run_stdio()
    return EXIT_OK
