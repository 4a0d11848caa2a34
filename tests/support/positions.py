"""The tests' position oracle: offsets <-> LSP positions in utf-8, utf-16 and utf-32.

Written the slow, obvious way and independently of ``server/m21_lsp/text/positions.py``, so a
bug in the server's fast conversions cannot hide behind the same bug here. Every test that
needs a position (the tests/lsp client, the reliability driver, the hover/action tests) uses
this one module, so the two clients cannot disagree about where a character is.
"""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types

_BREAK = re.compile(r"\r\n|\r|\n")  # LSP's line breaks, and only these


def units(s: str, encoding: str = "utf-16") -> int:
    """Length of ``s`` in the code units of ``encoding`` (lone surrogates counted, not fatal)."""
    if encoding == "utf-32":
        return len(s)
    if encoding == "utf-8":
        return len(s.encode("utf-8", "surrogatepass"))
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def line_starts(text: str) -> list[int]:
    """Offset of the first character of every line."""
    return [0] + [m.end() for m in _BREAK.finditer(text)]


def position(text: str, offset: int, encoding: str = "utf-16") -> types.Position:
    """The LSP position of character ``offset`` of ``text``."""
    starts = line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= offset)
    return types.Position(line=line, character=units(text[starts[line] : offset], encoding))


def lsp_range(text: str, start: int, end: int, encoding: str = "utf-16") -> types.Range:
    """The LSP range of characters ``start:end`` of ``text``."""
    return types.Range(start=position(text, start, encoding), end=position(text, end, encoding))


def offset_of(text: str, pos: types.Position, encoding: str = "utf-16") -> int:
    """The character offset of ``pos``; past the end of a line clamps to the line's end (LSP)."""
    starts = line_starts(text)
    if pos.line >= len(starts):
        return len(text)
    start = starts[pos.line]
    stop = starts[pos.line + 1] if pos.line + 1 < len(starts) else len(text)
    content = text[start:stop].rstrip("\r\n")
    for i in range(len(content) + 1):
        if units(content[:i], encoding) >= pos.character:
            return start + i
    return start + len(content)


def apply_lsp_edits(text: str, edits: list[Any], encoding: str = "utf-16") -> str:
    """Apply LSP ``TextEdit``s the way the spec says: all ranges refer to the original text,
    and inserts at one position land in array order."""
    spans = [
        (offset_of(text, e.range.start, encoding), offset_of(text, e.range.end, encoding), i, e)
        for i, e in enumerate(edits)
    ]
    for start, end, _, edit in sorted(spans, key=lambda s: s[:3], reverse=True):
        text = text[:start] + edit.new_text + text[end:]
    return text
