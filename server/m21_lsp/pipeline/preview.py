"""What the live view shows of a refactor while the model is still writing it.

The live view (``docs/preview.md``) is a view, not an edit: nothing here is checked or
applied, and whatever it shows is replaced by the checked edit or cleared. So the rules are
about not showing the wrong thing, not about fidelity:

* the code shown is the inside of the code block being written (a fence not yet closed is
  shown as far as it goes, minus a last line that may still turn into the closing fence);
* prose before the block, and a reply with no block yet, show nothing (None);
* once a block is closed, the block that would be chosen as the answer
  (:func:`.extract.choose_block`) stays on screen, so an "example usage" block written after
  it does not replace the code in the view;
* a reply in replacement-pair form (docs/edit-format.md) shows the selection with each
  pair applied (:func:`.pairs.preview_pairs`): the one being written as soon as its old
  text is complete, with its new text as far as it has come; nothing before that: the
  unchanged selection is not new code;
* the model writes the selection dedented (``prompt.dedent_selection``); the view puts the
  selection's common indentation back so the code lines up with what it replaces. This is
  a cheap approximation of :mod:`.reindent`, good enough for a view.

Plain Python and cheap (one pass over the reply per call): the server calls it at most about
ten times a second per command, on the latest snapshot.
"""

from __future__ import annotations

import re

from ..errors import NoCodeInReply
from .extract import choose_block, find_blocks
from .pairs import is_pair_reply, preview_pairs

__all__ = ["refactor_preview"]

# A last line that could still become the closing fence (``, ```, ~~ …) is not code yet.
_FENCE_START = re.compile(r"[ \t]*(?:`+|~+)[ \t]*")


def refactor_preview(visible: str, selection: str) -> str | None:
    """The code to show so far for a whole-selection reply, or None when there is none yet.

    ``visible`` is the reply's visible text so far (reasoning already removed);
    ``selection`` the selection's text exactly as in the document.
    """
    if is_pair_reply(visible):
        shown = preview_pairs(visible, selection)
        return shown if shown is not None and shown != selection else None
    if "```" not in visible and "~~~" not in visible:
        return None
    blocks = find_blocks(visible)
    if not blocks:
        return None
    closed = [b for b in blocks if b.terminated and b.code.strip()]
    if closed:
        try:
            code = choose_block(closed, selection).code
        except NoCodeInReply:  # pragma: no cover - closed, non-empty blocks exist
            return None
    else:
        last = blocks[-1]
        code = _without_partial_fence(last.code, visible)
    if not code.strip():
        return None
    return _indent_like(code, selection)


def _without_partial_fence(code: str, visible: str) -> str:
    """The code of the block still being written: ``find_blocks`` ends a block's code with
    a newline of its own, which the stream has not written yet; and an unfinished last line
    that may be the start of the closing fence is not code yet."""
    code = code[:-1] if code.endswith("\n") else code
    if visible.endswith(("\n", "\r")):
        return code
    start = code.rfind("\n") + 1
    if _FENCE_START.fullmatch(code, start):
        return code[:start]
    return code


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _selection_indent(selection: str) -> str:
    """The selection's common indentation, first line included, as the prompt's dedent
    counts it for a selection that starts at a line's start (the usual case; a selection
    starting after code dedents less, and the view then shows the code less indented)."""
    lines = selection.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    prefixes = [_leading_ws(line) for line in lines if line.strip()]
    if not prefixes:
        return ""
    first, last = min(prefixes), max(prefixes)
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]


def _indent_like(code: str, selection: str) -> str:
    indent = _selection_indent(selection)
    if not indent:
        return code
    lines = code.split("\n")
    written = [line for line in lines if line.strip()]
    if written and all(line.startswith(indent) for line in written):
        return code  # the model kept the indentation itself
    return "\n".join(indent + line if line.strip() else line for line in lines)
