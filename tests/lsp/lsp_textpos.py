"""Independent LSP position arithmetic for the tests (not the server's positions module).

Written the slow, obvious way, so a bug in the server's fast conversions cannot hide behind
the same bug here.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types


def _lines(text: str) -> list[str]:
    """Lines with their endings, split only at \\n, \\r\\n and \\r (LSP's rule)."""
    out: list[str] = []
    current = ""
    i = 0
    while i < len(text):
        ch = text[i]
        current += ch
        if ch == "\n" or (ch == "\r" and text[i + 1 : i + 2] != "\n"):
            out.append(current)
            current = ""
        i += 1
    out.append(current)
    return out


def units(s: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(s.encode("utf-8"))
    if encoding == "utf-32":
        return len(s)
    return len(s.encode("utf-16-le")) // 2


def position(text: str, offset: int, encoding: str = "utf-16") -> types.Position:
    before = text[:offset]
    lines = _lines(before)
    return types.Position(line=len(lines) - 1, character=units(lines[-1], encoding))


def lsp_range(text: str, start: int, end: int, encoding: str = "utf-16") -> types.Range:
    return types.Range(start=position(text, start, encoding), end=position(text, end, encoding))


def offset_of(text: str, pos: types.Position, encoding: str = "utf-16") -> int:
    lines = _lines(text)
    base = sum(len(line) for line in lines[: pos.line])
    line = lines[pos.line].rstrip("\r\n")
    count = 0
    for i, ch in enumerate(line):
        if count >= pos.character:
            return base + i
        count += units(ch, encoding)
    return base + len(line)


def apply_lsp_edits(text: str, edits: list[Any], encoding: str = "utf-16") -> str:
    spans = sorted(
        (
            (
                offset_of(text, e.range.start, encoding),
                offset_of(text, e.range.end, encoding),
                e.new_text,
            )
            for e in edits
        ),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text
