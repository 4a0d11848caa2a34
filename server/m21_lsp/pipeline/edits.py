"""Minimal text edits by string offset, and moving them onto a document that changed.

Edits are whole lines: a client shows them as a readable diff, and a line edit can never
split a ``\\r\\n`` pair. Every function first trims the common prefix and suffix of the two
texts (C-speed slice comparisons), so the line diff only ever runs on the region that
actually differs; a 20,000-line document with a ten-line change costs a ten-line diff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..text.strings import common_prefix, common_suffix


@dataclass(frozen=True)
class OffsetEdit:
    """Replace ``text[start:end]`` with ``new_text``. Offsets are Python string indices."""

    start: int
    end: int
    new_text: str


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _is_line_start(text: str, pos: int) -> bool:
    if pos <= 0 or pos >= len(text):
        return True
    prev = text[pos - 1]
    return prev == "\n" or (prev == "\r" and text[pos] != "\n")


def _differing_lines(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: the smallest whole-line window outside which the texts
    are equal. ``start`` is a line start in both; the ends are line ends in both."""
    p = common_prefix(old, new)
    s = common_suffix(old, new, min(len(old), len(new)) - p)
    # Back the start up to a line start valid in both texts (never inside a CRLF).
    while not (_is_line_start(old, p) and _is_line_start(new, p)):
        p -= 1
    oe, ne = len(old) - s, len(new) - s
    # Push the ends forward through the common suffix to a line start valid in both.
    while not (_is_line_start(old, oe) and _is_line_start(new, ne)):
        oe += 1
        ne += 1
    return p, oe, ne


def split_lines(text: str) -> list[str]:
    """Lines with their endings kept; only ``\\n``, ``\\r\\n`` and ``\\r`` end a line
    (unlike ``str.splitlines``, which also splits on form feeds and U+2028)."""
    return _LINE.findall(text)


def _line_hunks(old: str, new: str, base: int) -> list[OffsetEdit]:
    a, b = split_lines(old), split_lines(new)
    if not a or not b:
        return [OffsetEdit(base, base + len(old), new)]
    offsets = [base]
    for line in a:
        offsets.append(offsets[-1] + len(line))
    out: list[OffsetEdit] = []
    matcher = SequenceMatcher(None, a, b, autojunk=len(a) > 2000)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            out.append(OffsetEdit(offsets[i1], offsets[i2], "".join(b[j1:j2])))
    return out


def minimal_edits(old: str, new: str) -> list[OffsetEdit]:
    """Edits covering only the lines that changed; applying them to ``old`` gives ``new``.

    Several separate hunks give several edits, sorted by position and never overlapping.
    """
    if old == new:
        return []
    p, oe, ne = _differing_lines(old, new)
    return _line_hunks(old[p:oe], new[p:ne], p)


def apply_edits(text: str, edits: list[OffsetEdit]) -> str:
    """Apply non-overlapping edits (any order) to ``text``.

    Raises ``ValueError`` for overlapping or out-of-range edits: applying them silently
    would corrupt the document.
    """
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    parts: list[str] = []
    pos = 0
    for edit in ordered:
        if edit.start < pos or edit.end < edit.start or edit.end > len(text):
            raise ValueError(f"overlapping or out-of-range edit at {edit.start}-{edit.end}")
        parts.append(text[pos : edit.start])
        parts.append(edit.new_text)
        pos = edit.end
    parts.append(text[pos:])
    return "".join(parts)


def _user_changes(base: str, current: str) -> list[OffsetEdit]:
    """What the user changed, as tight character-level edits against ``base``.

    Line hunks are narrowed to the characters that differ so that typing on the line next
    to an edited region does not count as touching it.
    """
    if base == current:
        return []
    p = common_prefix(base, current)
    s = common_suffix(base, current, min(len(base), len(current)) - p)
    region_old, region_new = base[p : len(base) - s], current[p : len(current) - s]
    if "\n" not in region_old and "\r" not in region_old and "\n" not in region_new:
        return [OffsetEdit(p, len(base) - s, region_new)]
    p2, oe, ne = _differing_lines(base, current)
    out: list[OffsetEdit] = []
    for hunk in _line_hunks(base[p2:oe], current[p2:ne], p2):
        old_seg = base[hunk.start : hunk.end]
        hp = common_prefix(old_seg, hunk.new_text)
        hs = common_suffix(old_seg, hunk.new_text, min(len(old_seg), len(hunk.new_text)) - hp)
        out.append(
            OffsetEdit(hunk.start + hp, hunk.end - hs, hunk.new_text[hp : len(hunk.new_text) - hs])
        )
    return out


_BREAKS = ("\n", "\r")


def _changes_selection(base: str, change: OffsetEdit, selection: tuple[int, int]) -> bool:
    """Whether ``change`` alters the code in ``base[start:end]``, or its first or last line.

    It does when it removes, replaces or inserts a character inside the selection, or
    changes the line the selection starts or ends on right at its edge (``c`` typed before
    ``a + b`` makes ``ca + b``; deleting the line break before it joins two lines). Whole
    lines added or removed just before or after the selection leave it as the model saw it.
    """
    start, end = selection
    if (change.start < end and change.end > start) or start < change.start < end:
        return True
    if change.end == start:
        if not _is_line_start(base, start):
            return True  # the same line continues before the selection
        if change.new_text:
            return not change.new_text.endswith(_BREAKS)
        return change.start > 0 and base[change.start - 1] not in _BREAKS
    if change.start == end:
        if end > 0 and base[end - 1] in _BREAKS:
            return False  # the selection ends with its line: the change is on the next one
        if change.new_text:
            return not change.new_text.startswith(_BREAKS)
        return change.end < len(base) and base[change.end] not in _BREAKS
    return False


def rebase_edits(
    base: str,
    current: str,
    edits: list[OffsetEdit],
    *,
    selection: tuple[int, int] | None = None,
) -> list[OffsetEdit] | None:
    """Move ``edits`` made against ``base`` onto ``current``.

    Returns ``None`` when the user's changes touch (or abut) any edited region, or change
    any character of ``base[selection[0]:selection[1]]`` (the code the model was shown: its
    reply was written for that code, even where it left some lines alone), so the edit
    cannot land safely; otherwise the same edits shifted to ``current``'s offsets.
    """
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    changes = _user_changes(base, current)
    if not changes:
        return ordered
    if selection is not None and any(_changes_selection(base, c, selection) for c in changes):
        return None
    out: list[OffsetEdit] = []
    for edit in ordered:
        shift = 0
        for change in changes:
            if change.start <= edit.end and change.end >= edit.start:
                return None
            if change.end <= edit.start:
                shift += len(change.new_text) - (change.end - change.start)
        out.append(OffsetEdit(edit.start + shift, edit.end + shift, edit.new_text))
    return out
