"""``m21-lsp refactor --action NAME`` for an action with a target file (tests, docs…):
the model writes text for another file, which is shown as a diff or created/appended."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from .. import config
from ..errors import M21Error, UsageError
from ..user_actions import Action, resolve_target, target_request, target_text
from .diffs import unified_diff
from .exits import EXIT_OK
from .files import create_or_replace, read_text
from .languages import language_id
from .session import refactor_with_progress


async def run_target_action(
    args: argparse.Namespace,
    action: Action,
    settings: config.Settings,
    path: Path,
    text: str,
    start: int,
    end: int,
    out: TextIO,
    err: TextIO,
) -> int:
    """An action with a target: print the target's diff, or create/append to it (--apply)."""
    from ..limits import refused_path_reason

    assert action.target is not None
    try:
        target, shown = resolve_target(action.target.file, path, Path.cwd())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    reason = refused_path_reason(settings, str(target))
    if reason:
        raise UsageError(reason)
    existed = target.exists()
    existing = read_text(target) if existed else ""
    req = target_request(
        action,
        text[start:end],
        source=path,
        path=target,
        shown=shown,
        existing=existing,
        language_id=language_id(path),
    )
    result = await refactor_with_progress(req, settings, err, action.title)
    new_text = target_text(existing, req, result.new_text)
    applied = False
    if new_text is not None and args.apply:
        if (read_text(target) if target.exists() else "") != existing:
            raise M21Error(f"{shown} changed while the model was working; nothing was written.")
        create_or_replace(target, new_text, existed)
        applied = True
    diff = unified_diff(existing, new_text or existing, shown)
    size = len((new_text or "").encode("utf-8"))
    if args.json:
        report = {
            "path": str(path),
            "action": action.name,
            "target": str(target),
            "targetPath": shown,
            "existed": existed,
            "changed": new_text is not None,
            "applied": applied,
            "bytes": size,
            "text": new_text,
            "usage": result.usage.as_dict(),
            "modelCalls": result.model_calls,
            "secretsKeptOut": result.secrets_kept_out,
            "seconds": round(result.seconds, 3),
            "diff": diff,
        }
        json.dump(report, out, indent=2)
        out.write("\n")
    elif new_text is None:
        print(f"The model wrote nothing new for {shown}; nothing to do.", file=err)
    elif applied:
        print(f"{'Added to' if existed else 'Created'} {shown} ({size} bytes).", file=err)
    else:
        out.write(diff)
        print(f"Would {'append to' if existed else 'create'} {shown} ({size} bytes); "
              "--apply writes it.", file=err)  # fmt: skip
    return EXIT_OK
