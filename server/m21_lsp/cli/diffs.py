"""What the CLI prints for a change: a unified diff, or the edits as LSP-shaped JSON."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from ..text.positions import LineIndex


def unified_diff(old: str, new: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )


def edits_json(text: str, result_edits: Sequence[Any]) -> list[dict[str, Any]]:
    """Each edit with an LSP range (UTF-16, like an editor's) and its string offsets."""
    index = LineIndex(text)
    out = []
    for edit in result_edits:
        sl, sc = index.position_at(edit.start, "utf-16")
        el, ec = index.position_at(edit.end, "utf-16")
        out.append(
            {
                "range": {
                    "start": {"line": sl, "character": sc},
                    "end": {"line": el, "character": ec},
                },
                "newText": edit.new_text,
                "startOffset": edit.start,
                "endOffset": edit.end,
            }
        )
    return out
