"""Offsets <-> LSP positions in the three position encodings.

(Contract stub: the text helper fills in the bodies; signatures are fixed.)
"""

from __future__ import annotations

from typing import Literal

Encoding = Literal["utf-8", "utf-16", "utf-32"]


class LineIndex:
    """Line starts of one text, for fast conversions. Lines end at \\n, \\r\\n or \\r."""

    def __init__(self, text: str) -> None:
        self.text = text

    def offset_at(self, line: int, character: int, encoding: Encoding = "utf-16") -> int:
        """String offset of an LSP position; clamps past-the-end as the LSP spec says."""
        raise NotImplementedError

    def position_at(self, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
        raise NotImplementedError
