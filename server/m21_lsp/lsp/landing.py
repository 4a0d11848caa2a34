"""Did an edit the client answered ``applied: true`` for really land?

Some clients say yes for an edit they skipped: Neovim's own handler answers ``applied: true``
after skipping a ``TextDocumentEdit`` for an older version (see :mod:`.neovim`). The server
then looks at the client's next ``didChange``: the text it reports either contains the edit
(plus, maybe, the user's typing) or does not (only the user's typing). Of the two texts the
document could have come from — the text with the edit applied, and the text without it — the
one that needs fewer changed characters to become the reported text is where it came from.
"""

from __future__ import annotations

from ..pipeline.edits import OffsetEdit, apply_edits, minimal_edits


def _distance(a: str, b: str) -> int:
    return sum(max(e.end - e.start, len(e.new_text)) for e in minimal_edits(a, b))


def edit_landed(base: str, edits: list[OffsetEdit], now: str) -> bool:
    """True when ``now`` is ``base`` with ``edits`` applied, give or take other typing."""
    expected = apply_edits(base, edits)
    if now == expected:
        return True
    if now == base:
        return False
    return _distance(expected, now) < _distance(base, now)
