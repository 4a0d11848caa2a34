"""The full-size soak run: the real server over stdio under seeded faults, printing figures.

Runs exactly the code of ``tests/reliability/test_soak.py`` (``soak_run.run_soak``) at full
size: at least 200 refactor and explain commands, up to 8 at a time, against the scripted
model server on 127.0.0.1 injecting faults, while the documents are edited concurrently
and some commands are cancelled. Prints: commands, model HTTP requests, faults injected per
kind, outcomes per kind, user edits, cancels, leftover tasks and server memory. Exits 1 if
any check failed (the problems are listed).

    python bench/soak.py                      # 240 commands, seed 2126
    python bench/soak.py --commands 400 --seed 7
    python bench/soak.py --smoke              # 40 commands
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "tests"), str(ROOT / "tests" / "reliability")]

from m21_lsp.testing.scripted_server import ScriptedModelServer  # noqa: E402
from soak_run import SoakConfig, run_soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=240)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2126)
    parser.add_argument("--encoding", default="utf-16", choices=["utf-16", "utf-8", "utf-32"])
    parser.add_argument(
        "--client", default="visual-studio-code", choices=["visual-studio-code", "neovim"]
    )
    parser.add_argument("--smoke", action="store_true", help="a short run (40 commands)")
    args = parser.parse_args()
    config = SoakConfig(
        commands=40 if args.smoke else args.commands,
        concurrency=args.concurrency,
        seed=args.seed,
        position_encoding=args.encoding,
        client=args.client,
    )
    key = "sk-m21-sentinel-" + secrets.token_hex(16)
    with ScriptedModelServer() as server:
        report = asyncio.run(run_soak(config, server, key))
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
