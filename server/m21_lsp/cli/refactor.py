"""``m21-lsp refactor``: one checked refactor of a selection, printed as a diff or applied.

An action with a ``target`` (a file it writes to, not the selection) is ``refactor_target``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from .. import config
from ..errors import UsageError
from ..pipeline import run as pipeline
from ..pipeline.types import RefactorRequest, RefactorResult
from ..user_actions import BUILTINS, Action, find
from .diffs import edits_json, unified_diff
from .exits import EXIT_OK
from .files import read_text, write_atomically
from .languages import language_id, language_of
from .ranges import selection
from .session import refactor_with_progress, settings_for_run


async def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not (args.action or args.lines or args.range):
        raise UsageError("refactor needs one of the arguments --lines, --range (or --action).")
    path = Path(args.path)
    text = read_text(path)
    action: Action | None = None
    if args.action:
        settings = settings_for_run()
        action = action_for(args.action, settings, path)
        start, end = selection(args, text, action)
    else:
        start, end = selection(args, text)
        settings = settings_for_run()
    if action is not None and action.target is not None:
        from .refactor_target import run_target_action

        return await run_target_action(args, action, settings, path, text, start, end, out, err)
    req = RefactorRequest(
        text=text,
        start=start,
        end=end,
        instruction=action.instruction if action else args.instruction,
        language_id=language_of(path),
        path=str(path),
    )
    verb = action.title if action else "Refactor"
    result = await refactor_with_progress(req, settings, err, verb)
    for warning in result.warnings:
        print(f"warning: {warning}", file=err)
    new_text = result.new_text
    applied = False
    if args.apply and result.changed:
        current = read_text(path)
        edits, new_text = await pipeline.rebase(
            result, current, is_python=req.is_python, language_id=req.language_id, path=req.path
        )
        write_atomically(path, new_text)
        applied = True
        base = current
    else:
        edits, base = result.edits, text
    diff = unified_diff(base, new_text, path.name)
    if args.json:
        json.dump(result_json(result, path, applied, diff, edits_json(base, edits)), out, indent=2)
        out.write("\n")
    elif not result.changed:
        print("The model returned the selection unchanged; nothing to do.", file=err)
    elif args.apply:
        print(f"Applied to {path} ({len(edits)} edit(s)).", file=err)
    else:
        out.write(diff)
    return EXIT_OK


def action_for(name: str, settings: config.Settings, path: Path) -> Action:
    """The action named ``name``: the settings' (``M21_ACTIONS``) first, then a built-in."""
    action = find(settings.actions, name) or BUILTINS.get(name)
    if action is None:
        known = ", ".join(dict.fromkeys([a.name for a in settings.actions] + list(BUILTINS)))
        raise UsageError(f"There is no action named {name!r} (actions: {known}).")
    language = language_id(path)
    if not action.applies_to(language):
        raise UsageError(
            f"{action.title!r} is for {', '.join(action.languages)}, not {language} ({path.name})."
        )
    return action


def result_json(
    result: RefactorResult, path: Path, applied: bool, diff: str, edits: list[dict[str, Any]]
) -> dict[str, Any]:
    """``refactor --json``: the keys scripts read (documented in the README)."""
    return {
        "path": str(path),
        "changed": result.changed,
        "applied": applied,
        "edits": edits,
        "positionEncoding": "utf-16",
        "warnings": result.warnings,
        "syntaxChecked": result.syntax_checked,
        "usage": result.usage.as_dict(),
        "modelCalls": result.model_calls,
        "secretsKeptOut": result.secrets_kept_out,
        "seconds": round(result.seconds, 3),
        "diff": diff,
    }
