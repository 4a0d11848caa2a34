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

from .strings import splice

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
    """Line starts of one text, for fast conversions. Lines end at \\n, \\r\\n or \\r.

    The starts are kept as ``(raw, pending_from, pending_shift)``: line ``i`` starts at
    ``raw[i]``, plus ``pending_shift`` from line ``pending_from`` on. An edit moves every
    line after it by the same amount, so :meth:`replaced` records that as the pending
    shift instead of adding it to each of 20,000 starts in Python: a refactor's edit, or a
    keystroke, costs a list copy (C speed) plus work for the lines between it and the edit
    before. The three are held in one tuple, swapped whole, because pipeline threads may
    read an index while the server's thread reads it too.
    """

    def __init__(
        self, text: str, *, _starts: list[int] | None = None, _pending: tuple[int, int] = (0, 0)
    ) -> None:
        self.text = text
        self._lines: tuple[list[int], int, int] | None = None
        if _starts is not None:
            self._lines = (_starts, *_pending) if _pending[1] else (_starts, len(_starts), 0)

    @property
    def _starts(self) -> list[int] | None:
        """The stored starts (``None`` until built); shifted ones not yet shifted."""
        return None if self._lines is None else self._lines[0]

    def _built(self) -> tuple[list[int], int, int]:
        if self._lines is None:
            starts = self._scan()
            self._lines = (starts, len(starts), 0)
        return self._lines

    def _scan(self) -> list[int]:
        text = self.text
        if "\r" not in text:
            starts = [0]
            find = text.find
            pos = find("\n")
            while pos >= 0:
                starts.append(pos + 1)
                pos = find("\n", pos + 1)
            return starts
        return [0, *(m.end() for m in _EOL.finditer(text))]

    def _start(self, line: int) -> int:
        raw, since, shift = self._built()
        return raw[line] + shift if line >= since else raw[line]

    def _count_below(self, offset: int, *, inclusive: bool) -> int:
        """How many line starts are ``< offset`` (``<=`` when ``inclusive``)."""
        raw, since, shift = self._built()
        search = bisect_right if inclusive else bisect_left
        if since < len(raw):
            first = raw[since] + shift
            if first < offset or (inclusive and first == offset):
                return search(raw, offset - shift, since)
        return search(raw, offset, 0, since)

    def replaced(self, start: int, end: int, new_text: str) -> LineIndex:
        """The index of ``text[:start] + new_text + text[end:]``, from this one's starts.

        Whether a line starts at ``s`` depends only on the two characters around it (an
        ``\\r`` before a ``\\n`` ends no line), so the starts before the edit are kept, the
        starts after it are shifted (lazily, see the class), and only the inserted text
        (plus one character on each side) is searched. Starts not built yet stay lazy.
        """
        text = self.text
        start = min(max(start, 0), len(text))
        end = min(max(end, start), len(text))
        result = splice(text, start, end, new_text)
        if self._lines is None:
            return LineIndex(result)
        raw, since, shift = self._lines
        keep = self._count_below(start, inclusive=False)  # before the edit: kept
        if keep <= since or not shift:
            head = raw[:keep]
        else:
            head = raw[:since] + [s + shift for s in raw[since:keep]]
        lo = max(start - 1, 0)
        hi = start + len(new_text)  # new starts s have s - 1 in [lo, hi)
        middle = [
            m.end()
            for m in _LINE_END.finditer(result, lo, min(hi + 1, len(result)))
            if m.start() < hi
        ]
        if not head:
            head = [0]  # an edit at the very start: line 0 still starts at 0
        tail_from = self._count_below(end + 1, inclusive=False)  # old starts s, s - 1 >= end
        delta = len(new_text) - (end - start)
        if tail_from >= since or not shift:
            tail = raw[tail_from:]  # all still lack ``shift``: they get shift + delta
        else:
            # Starts between this edit and the shifted ones are exact: store them minus
            # ``shift`` too, so one pending shift covers the whole tail.
            tail = [s - shift for s in raw[tail_from:since]] + raw[since:]
        starts = head + middle + tail
        return LineIndex(result, _starts=starts, _pending=(len(head) + len(middle), shift + delta))

    @property
    def line_starts(self) -> list[int]:
        """Offsets where each line begins; built on first use because many callers never
        need it (a code action on a small selection of an unchanged document). A pending
        shift is applied here, once: the methods below never need the whole list."""
        raw, since, shift = self._built()
        if since < len(raw) and shift:
            raw = raw[:since] + [s + shift for s in raw[since:]]
            self._lines = (raw, len(raw), 0)
        return raw

    @property
    def line_count(self) -> int:
        """Number of lines; a text ending with a newline has an empty last line."""
        return len(self._built()[0])

    def line_start(self, line: int) -> int:
        line = min(max(line, 0), self.line_count - 1)
        return self._start(line)

    def line_end(self, line: int, *, include_eol: bool = False) -> int:
        """Offset of the end of ``line``'s content (before its line ending, unless asked)."""
        count = self.line_count
        line = min(max(line, 0), count - 1)
        if line + 1 < count:
            nxt = self._start(line + 1)
            if include_eol:
                return nxt
            if self.text[nxt - 2 : nxt] == "\r\n":
                return nxt - 2
            return nxt - 1
        return len(self.text)

    def line_of(self, offset: int) -> int:
        """Line containing ``offset`` (clamped into the text)."""
        offset = min(max(offset, 0), len(self.text))
        return self._count_below(offset, inclusive=True) - 1

    def offset_at(self, line: int, character: int, encoding: Encoding = "utf-16") -> int:
        """String offset of an LSP position; clamps past-the-end as the LSP spec says.

        A line past the last one means the end of the text; a character past the line's
        end means the end of its content (before the line ending); a character inside a
        surrogate pair or a multi-byte sequence rounds down to the code point's start.
        """
        if line < 0:
            line = 0
        if line >= self.line_count:
            return len(self.text)
        character = max(character, 0)
        start = self._start(line)
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
        line = self.line_of(offset)
        start = self._start(line)
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
