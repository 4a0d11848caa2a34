"""``python -m m21_lsp.lsp``: serve over stdio (``--tcp HOST:PORT`` for debugging)."""

from __future__ import annotations

import sys

from .server import run_stdio, run_tcp


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--tcp" and len(args) == 2:
        host, _, port = args[1].rpartition(":")
        run_tcp(host or "127.0.0.1", int(port))
        return 0
    if args and args != ["--stdio"]:
        print("usage: python -m m21_lsp.lsp [--stdio | --tcp HOST:PORT]", file=sys.stderr)
        return 2
    run_stdio()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
