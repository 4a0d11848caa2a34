"""Code actions: built in microseconds from the request alone, never from the model.

A code action request arrives every time the cursor moves in some editors, so this module
does no model call and no parse of the file: it converts the range, expands an empty or
one-character range to the enclosing statement/function/class (``selection.expand_range``
looks only at nearby lines), and builds up to three actions whose ``command`` carries
everything the long-running command needs: the URI, the document version the user saw,
the range (in the negotiated position encoding), the optional instruction and, for the
quick fix, the diagnostics to fix.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from lsprotocol import types

from ..text import selection
from ..text.positions import Encoding
from ..user_actions import Action
from .documents import Snapshot

REFACTOR_COMMAND = "m21.refactor"
EXPLAIN_COMMAND = "m21.explain"
FIX_COMMAND = "m21.fix"
# A user-defined action is m21.refactor with an "action" argument naming it (docs/actions.md):
# editors that already handle m21.refactor's progress and result handle actions too.
ACTION_COMMAND = REFACTOR_COMMAND
COMMANDS = (REFACTOR_COMMAND, EXPLAIN_COMMAND, FIX_COMMAND)

REFACTOR_KIND = types.CodeActionKind.RefactorRewrite.value  # "refactor.rewrite"
EXPLAIN_KIND = "refactor.explain"  # its own kind under "refactor", so `only` can pick it
FIX_KIND = types.CodeActionKind.QuickFix.value  # "quickfix"
ACTION_KINDS: list[str] = [REFACTOR_KIND, EXPLAIN_KIND, FIX_KIND]

_TITLE_MESSAGE_CHARS = 60


def _kind(value: Any) -> str:
    return value.value if isinstance(value, enum.Enum) else str(value)


def wanted(kind: str, only: Sequence[Any] | None) -> bool:
    """LSP's ``only`` filter: a kind matches an entry equal to it or a dotted prefix of it."""
    if not only:
        return True
    return any(kind == k or kind.startswith(k + ".") for k in map(_kind, only))


def target_range(snap: Snapshot, start: int, end: int, scope: str = "selection") -> tuple[int, int]:
    """An empty or one-character range means "here": what "here" is, is the ``scope``.

    ``selection`` and ``function`` (Refactor's rule): the smallest enclosing ``def``/``class``
    (decorators included) or, at module level, the enclosing statement; ``file``: the whole
    document, for actions that want all of it (a module docstring, tests for a module).
    """
    if end - start > 1:
        return start, end
    if scope == "file":
        return 0, len(snap.text)
    return selection.expand_range(snap.text, start, end)


def enclosing(text: str, start: int, end: int) -> tuple[int, int]:
    """The smallest enclosing function/class/statement around both ends of a range, or the
    range's whole lines when there is none (diagnostics often mark a single token)."""
    a, _ = selection.expand_range(text, start, start)
    _, b = selection.expand_range(text, max(start, end - 1), max(start, end - 1))
    lo, hi = selection.whole_lines(text, start, end)
    return min(a, lo), max(b, hi)


def _before(a: types.Position, b: types.Position) -> bool:
    return (a.line, a.character) < (b.line, b.character)


def overlaps(diag: types.Range, rng: types.Range) -> bool:
    """Touching counts: a cursor (empty range) at either end of a diagnostic overlaps it."""
    return not (_before(diag.end, rng.start) or _before(rng.end, diag.start))


def describe_diagnostic(diag: types.Diagnostic) -> str:
    """One line for the prompt: where, who says so, and what."""
    origin = " ".join(str(x) for x in (diag.source, diag.code) if x not in (None, ""))
    where = f"line {diag.range.start.line + 1}"
    message = " ".join(diag.message.split())
    return f"{where}: [{origin}] {message}" if origin else f"{where}: {message}"


def _short(text: str) -> str:
    first = " ".join(text.split())
    if len(first) > _TITLE_MESSAGE_CHARS:
        first = first[: _TITLE_MESSAGE_CHARS - 1].rstrip() + "…"
    return first


def command_arguments(
    snap: Snapshot,
    start: int,
    end: int,
    encoding: Encoding,
    *,
    instruction: str | None = None,
    diagnostics: Sequence[str] = (),
    action: str | None = None,
) -> list[Any]:
    rng = snap.range(start, end, encoding)
    arg: dict[str, Any] = {
        "uri": snap.uri,
        "version": snap.version,
        "range": {
            "start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character},
        },
    }
    if instruction:
        arg["instruction"] = instruction
    if diagnostics:
        arg["diagnostics"] = list(diagnostics)
    if action:
        arg["action"] = action
    return [arg]


def build_actions(
    snap: Snapshot,
    params: types.CodeActionParams,
    encoding: Encoding,
    label: str,
    user_actions: Sequence[Action] = (),
) -> list[types.CodeAction]:
    only = params.context.only
    want_refactor = wanted(REFACTOR_KIND, only)
    want_explain = wanted(EXPLAIN_KIND, only)
    related = [d for d in params.context.diagnostics or () if overlaps(d.range, params.range)]
    want_fix = bool(related) and wanted(FIX_KIND, only)
    mine = [a for a in user_actions if a.applies_to(snap.language_id) and wanted(a.kind, only)]
    if not (want_refactor or want_explain or want_fix or mine):
        return []

    raw_start, raw_end = snap.offsets(params.range, encoding)
    start, end = target_range(snap, raw_start, raw_end)
    actions: list[types.CodeAction] = []
    if start < end and snap.text[start:end].strip():
        args = command_arguments(snap, start, end, encoding)
        if want_refactor:
            actions.append(_action(f"Refactor with {label}", REFACTOR_KIND, REFACTOR_COMMAND, args))
        if want_explain:
            actions.append(_action(f"Explain with {label}", EXPLAIN_KIND, EXPLAIN_COMMAND, args))
    for action in mine:
        a, b = target_range(snap, raw_start, raw_end, action.scope)
        if a >= b or not snap.text[a:b].strip():
            continue
        args = command_arguments(snap, a, b, encoding, action=action.name)
        actions.append(_action(f"{action.title} with {label}", action.kind, ACTION_COMMAND, args))
    if want_fix:
        fix = _fix_action(snap, params, related, encoding, label)
        if fix is not None:
            actions.append(fix)
    return actions


def _action(title: str, kind: str, command: str, args: list[Any]) -> types.CodeAction:
    """A code action whose command carries everything the long-running command needs."""
    return types.CodeAction(
        title=title, kind=kind, command=types.Command(title=title, command=command, arguments=args)
    )


def _fix_action(
    snap: Snapshot,
    params: types.CodeActionParams,
    related: list[types.Diagnostic],
    encoding: Encoding,
    label: str,
) -> types.CodeAction | None:
    """The fix covers the request's range and every overlapping diagnostic, widened to the
    enclosing statement so the model sees a complete piece of code."""
    start, end = snap.offsets(params.range, encoding)
    for diag in related:
        a, b = snap.offsets(diag.range, encoding)
        start, end = min(start, a), max(end, b)
    start, end = enclosing(snap.text, start, end)
    if start >= end or not snap.text[start:end].strip():
        return None
    messages = [describe_diagnostic(d) for d in related]
    title = f"Fix with {label}: {_short(related[0].message)}"
    return types.CodeAction(
        title=title,
        kind=FIX_KIND,
        diagnostics=related,
        command=types.Command(
            title=title,
            command=FIX_COMMAND,
            arguments=command_arguments(snap, start, end, encoding, diagnostics=messages),
        ),
    )
