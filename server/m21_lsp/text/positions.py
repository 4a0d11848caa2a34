"""Offsets <-> LSP positions in the three position encodings.

Inside the pipeline every position is a Python string offset (a code point index). LSP
speaks ``(line, character)`` where ``character`` counts UTF-16 code units by default, or
UTF-8 bytes / code points when negotiated. This module is the only place that converts.

Line starts are computed once, lazily, so a conversion costs a binary search plus work
proportional to one line, never to the whole document; an edit derives the next version's
index from the line starts it already has (:meth:`LineIndex.replaced`) instead of
rescanning the text. Lines end at ``\\n``, ``\\r\\n`` or ``\\r``, as the LSP
specification says.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Literal

Encoding = Literal["utf-8", "utf-16", "utf-32"]

_EOL = re.compile(r"\r\n?|\n")
# A character after which a line starts: the line ending's last character.
_LINE_END = re.compile(r"\n|\r(?!\n)")
ENCODINGS: tuple[Encoding, ...] = ("utf-16", "utf-8", "utf-32")


def _units(ch: str, encoding: Encoding) -> int:
    """Code units one code point takes in ``encoding``."""
    cp = ord(ch)
    if encoding == "utf-16":
        return 2 if cp > 0xFFFF else 1
    if encoding == "utf-8":
        if cp < 0x80:
            return 1
        if cp < 0x800:
            return 2
        return 3 if cp < 0x10000 else 4
    return 1


def units_in(text: str, encoding: Encoding) -> int:
    """Length of ``text`` in code units of ``encoding``."""
    if encoding == "utf-32" or text.isascii():
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class LineIndex:
    """Line starts of one text, for fast conversions. Lines end at \\n, \\r\\n or \\r."""

    def __init__(self, text: str, *, _starts: list[int] | None = None) -> None:
        self.text = text
        self._starts: list[int] | None = _starts

    def replaced(self, start: int, end: int, new_text: str) -> LineIndex:
        """The index of ``text[:start] + new_text + text[end:]``, from this one's starts.

        Whether a line starts at ``s`` depends only on the two characters around it (an
        ``\\r`` before a ``\\n`` ends no line), so the starts before the edit are kept, the
        starts after it are shifted, and only the inserted text (plus one character on
        each side) is searched. Starts not built yet stay lazy.
        """
        text = self.text
        start = min(max(start, 0), len(text))
        end = min(max(end, start), len(text))
        result = text[:start] + new_text + text[end:]
        if self._starts is None:
            return LineIndex(result)
        starts = self._starts
        keep = bisect_left(starts, start)  # starts before the edit: both characters kept
        head = starts[:keep]
        lo = max(start - 1, 0)
        hi = start + len(new_text)  # new starts s have s - 1 in [lo, hi)
        middle = [
            m.end()
            for m in _LINE_END.finditer(result, lo, min(hi + 1, len(result)))
            if m.start() < hi
        ]
        if not head:
            head = [0]  # an edit at the very start: line 0 still starts at 0
        tail_from = bisect_left(starts, end + 1)  # old starts s with s - 1 >= end
        shift = len(new_text) - (end - start)
        tail = starts[tail_from:]
        if shift:
            tail = [s + shift for s in tail]
        return LineIndex(result, _starts=head + middle + tail)

    @property
    def line_starts(self) -> list[int]:
        """Offsets where each line begins; built on first use because many callers never
        need it (a code action on a small selection of an unchanged document)."""
        if self._starts is None:
            text = self.text
            if "\r" not in text:
                starts = [0]
                find = text.find
                pos = find("\n")
                while pos >= 0:
                    starts.append(pos + 1)
                    pos = find("\n", pos + 1)
            else:
                starts = [0, *(m.end() for m in _EOL.finditer(text))]
            self._starts = starts
        return self._starts

    @property
    def line_count(self) -> int:
        """Number of lines; a text ending with a newline has an empty last line."""
        return len(self.line_starts)

    def line_start(self, line: int) -> int:
        starts = self.line_starts
        line = min(max(line, 0), len(starts) - 1)
        return starts[line]

    def line_end(self, line: int, *, include_eol: bool = False) -> int:
        """Offset of the end of ``line``'s content (before its line ending, unless asked)."""
        starts = self.line_starts
        line = min(max(line, 0), len(starts) - 1)
        if line + 1 < len(starts):
            nxt = starts[line + 1]
            if include_eol:
                return nxt
            if self.text[nxt - 2 : nxt] == "\r\n":
                return nxt - 2
            return nxt - 1
        return len(self.text)

    def line_of(self, offset: int) -> int:
        """Line containing ``offset`` (clamped into the text)."""
        offset = min(max(offset, 0), len(self.text))
        return bisect_right(self.line_starts, offset) - 1

    def offset_at(self, line: int, character: int, encoding: Encoding = "utf-16") -> int:
        """String offset of an LSP position; clamps past-the-end as the LSP spec says.

        A line past the last one means the end of the text; a character past the line's
        end means the end of its content (before the line ending); a character inside a
        surrogate pair or a multi-byte sequence rounds down to the code point's start.
        """
        starts = self.line_starts
        if line < 0:
            line = 0
        if line >= len(starts):
            return len(self.text)
        character = max(character, 0)
        start = starts[line]
        end = self.line_end(line)
        if encoding == "utf-32":
            return min(start + character, end)
        content = self.text[start:end]
        if content.isascii():
            return start + min(character, len(content))
        units = 0
        for i, ch in enumerate(content):
            units += _units(ch, encoding)
            if units > character:
                return start + i
        return end

    def position_at(self, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
        """LSP ``(line, character)`` of a string offset (clamped into the text).

        An offset between the ``\\r`` and ``\\n`` of a CRLF maps to the end of that line's
        content, since LSP has no position there.
        """
        offset = min(max(offset, 0), len(self.text))
        line = bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        offset = min(offset, self.line_end(line))
        return line, units_in(self.text[start:offset], encoding)

    def range_to_offsets(
        self,
        start: tuple[int, int],
        end: tuple[int, int],
        encoding: Encoding = "utf-16",
    ) -> tuple[int, int]:
        """Offsets of an LSP range given as two ``(line, character)`` pairs, ordered."""
        a = self.offset_at(start[0], start[1], encoding)
        b = self.offset_at(end[0], end[1], encoding)
        return (a, b) if a <= b else (b, a)

    def offsets_to_range(
        self, start: int, end: int, encoding: Encoding = "utf-16"
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        return self.position_at(start, encoding), self.position_at(end, encoding)


def lsp_range_to_offsets(
    index: LineIndex,
    start_line: int,
    start_character: int,
    end_line: int,
    end_character: int,
    encoding: Encoding = "utf-16",
) -> tuple[int, int]:
    """Offsets of an LSP range (fields spelled out so callers need not build tuples)."""
    return index.range_to_offsets(
        (start_line, start_character), (end_line, end_character), encoding
    )


def offsets_to_lsp_range(
    index: LineIndex, start: int, end: int, encoding: Encoding = "utf-16"
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((line, character), (line, character))`` of two offsets."""
    return index.offsets_to_range(start, end, encoding)


def normalize_encoding(name: str | None) -> Encoding:
    """Map a negotiated ``positionEncoding`` value to one we implement (utf-16 default)."""
    if name in ("utf-8", "utf-32"):
        return name  # type: ignore[return-value]
    return "utf-16"
