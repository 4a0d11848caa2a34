"""``m21-lsp actions``: the actions ``--action`` can run, as text or JSON."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .. import config
from ..user_actions import BUILTINS, find
from .exits import EXIT_OK


async def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The actions in force (M21_ACTIONS), then the built-ins they do not shadow."""
    settings = config.load()
    rows = [(a, "M21_ACTIONS") for a in settings.actions]
    rows += [(a, "built-in") for a in BUILTINS.values() if not find(settings.actions, a.name)]
    if args.json:
        json.dump([{**a.as_dict(), "from": where} for a, where in rows], out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not settings.actions:
        print("No actions set (M21_ACTIONS is empty); built-ins can be named:", file=err)
    for action, where in rows:
        langs = ",".join(action.languages) or "any"
        target = f" -> {action.target.file}" if action.target else ""
        out.write(
            f"{action.name:<16} {action.title} [{action.kind}; {langs}; {action.scope}"
            f"{target}] ({where})\n"
        )
    return EXIT_OK
