"""Minimal text edits by string offset, and moving them onto a document that changed.

(Contract stub: the text helper fills in the bodies; signatures are fixed.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OffsetEdit:
    """Replace ``text[start:end]`` with ``new_text``. Offsets are Python string indices."""

    start: int
    end: int
    new_text: str


def minimal_edits(old: str, new: str) -> list[OffsetEdit]:
    """Edits covering only the lines that changed; applying them to ``old`` gives ``new``."""
    raise NotImplementedError


def apply_edits(text: str, edits: list[OffsetEdit]) -> str:
    """Apply non-overlapping edits (any order) to ``text``."""
    raise NotImplementedError


def rebase_edits(base: str, current: str, edits: list[OffsetEdit]) -> list[OffsetEdit] | None:
    """Move ``edits`` made against ``base`` onto ``current``.

    Returns ``None`` when the user's changes touch (or abut) any edited region, so the edit
    cannot land safely; otherwise the same edits shifted to ``current``'s offsets.
    """
    raise NotImplementedError
