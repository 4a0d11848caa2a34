"""Property tests for positions and edits against an independent oracle.

The pipeline's own tests check each module; these check the chain a client really sees:
offsets -> LSP positions in each encoding -> edits applied by a client that counts code
units its own way. The oracle here shares no code with ``positions.py`` or ``edits.py``.
"""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from m21_lsp.pipeline.edits import OffsetEdit, apply_edits, minimal_edits, rebase_edits
from m21_lsp.text.positions import LineIndex

ENCODINGS = ("utf-8", "utf-16", "utf-32")
_ATOMS = [
    "a",
    "x = 1",
    "    ",
    "\t",
    "é",
    "中",
    "😀",
    "👩‍💻",
    "\U0010ffff",
    "\u2028",  # a line break for str.splitlines, not for LSP
    "\x0c",  # form feed: same trap
    "\n",
    "\r\n",
    "\r",
    "\r\r\n",
]
TEXT = st.lists(st.sampled_from(_ATOMS) | st.text(max_size=3), max_size=30).map("".join)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------ oracle
def oracle_lines(text: str) -> list[tuple[int, str]]:
    """(start offset, content without its line ending) for each LSP line."""
    out: list[tuple[int, str]] = []
    pos = 0
    for match in re.finditer(r"\r\n|\r|\n", text):
        out.append((pos, text[pos : match.start()]))
        pos = match.end()
    out.append((pos, text[pos:]))
    return out


def units(text: str, encoding: str) -> int:
    if encoding == "utf-32":
        return len(text)
    data = text.encode("utf-16-le" if encoding == "utf-16" else "utf-8", "surrogatepass")
    return len(data) // 2 if encoding == "utf-16" else len(data)


def oracle_position(text: str, offset: int, encoding: str) -> tuple[int, int]:
    for number, (start, content) in reversed(list(enumerate(oracle_lines(text)))):
        if start <= offset:
            column = min(offset - start, len(content))
            return number, units(content[:column], encoding)
    raise AssertionError("unreachable")


def oracle_offset(text: str, line: int, character: int, encoding: str) -> int:
    """What a client means by (line, character): clamped as the specification says."""
    lines = oracle_lines(text)
    if line >= len(lines):
        return len(text)
    start, content = lines[line]
    for i in range(len(content) + 1):
        if units(content[: i + 1], encoding) > character or i == len(content):
            return start + i
    raise AssertionError("unreachable")


def client_apply(
    text: str, edits: list[tuple[tuple[int, int], tuple[int, int], str]], enc: str
) -> str:
    """Apply LSP text edits the way an editor does: all ranges refer to the original."""
    resolved = [
        (oracle_offset(text, *s, enc), oracle_offset(text, *e, enc), new) for s, e, new in edits
    ]
    for start, end, new in sorted(resolved, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def valid_offsets(text: str) -> list[int]:
    """Offsets an LSP position can name (not between a CR and its LF)."""
    return [
        i for i in range(len(text) + 1) if not (0 < i < len(text) and text[i - 1 : i + 1] == "\r\n")
    ]


# ------------------------------------------------------------------------------ positions
@FAST
@given(TEXT, st.sampled_from(ENCODINGS))
def test_positions_match_an_independent_count_and_round_trip(text: str, encoding: str) -> None:
    index = LineIndex(text)
    for offset in valid_offsets(text):
        line, character = index.position_at(offset, encoding)  # type: ignore[arg-type]
        assert (line, character) == oracle_position(text, offset, encoding)
        assert index.offset_at(line, character, encoding) == offset  # type: ignore[arg-type]


@FAST
@given(
    TEXT,
    st.sampled_from(ENCODINGS),
    st.integers(min_value=-3, max_value=40),
    st.integers(min_value=-3, max_value=200),
)
def test_any_position_a_client_sends_maps_to_a_safe_offset(
    text: str, encoding: str, line: int, character: int
) -> None:
    """Past-the-end, negative and mid-character positions never raise or split a character
    pair, and agree with the oracle wherever the specification defines the answer."""
    offset = LineIndex(text).offset_at(line, character, encoding)  # type: ignore[arg-type]
    assert 0 <= offset <= len(text)
    assert offset in valid_offsets(text)
    if line >= 0 and character >= 0:
        assert offset == oracle_offset(text, line, character, encoding)


# ------------------------------------------------------------------------------ edits
@FAST
@given(TEXT, TEXT, st.sampled_from(ENCODINGS))
def test_minimal_edits_sent_over_lsp_give_the_target(old: str, new: str, encoding: str) -> None:
    edits = minimal_edits(old, new)
    assert apply_edits(old, edits) == new
    index = LineIndex(old)
    lsp_edits = [
        (
            index.position_at(e.start, encoding),  # type: ignore[arg-type]
            index.position_at(e.end, encoding),  # type: ignore[arg-type]
            e.new_text,
        )
        for e in edits
    ]
    assert client_apply(old, lsp_edits, encoding) == new
    # Minimal and tidy: sorted, disjoint, and none of them a no-op.
    for a, b in pairwise(edits):
        assert a.end <= b.start
    assert all(old[e.start : e.end] != e.new_text for e in edits)
    assert all(e.start in valid_offsets(old) and e.end in valid_offsets(old) for e in edits)


# Typed text that cannot be mistaken for the text around it: it begins and ends with a
# character the documents never contain, so the user's change is found exactly where it was
# made (otherwise typing "\n" next to a blank line could equally be read as typing it right
# after the edit, and refusing is then the right answer).
MARK = "\ue000"
TYPED_LINE = st.lists(
    st.sampled_from([a for a in _ATOMS if "\n" not in a and "\r" not in a]), max_size=6
).map("".join)
TYPED = st.builds(
    lambda parts, eol: eol.join(MARK + part + MARK for part in parts),
    st.lists(TYPED_LINE, min_size=1, max_size=3),
    st.sampled_from(["\n", "\r\n"]),
)
PLAIN = TEXT.filter(lambda t: MARK not in t)


@FAST
@given(PLAIN, PLAIN, st.data())
def test_a_rebased_edit_keeps_the_users_typing_and_lands_where_it_was_meant(
    head: str, tail: str, data: st.DataObject
) -> None:
    """The user types before or after the edited region while the model works: the edit
    is moved (it must be: the typing is lines away from it), applies the model's change to
    the same code, and keeps what they typed."""
    region = "def f():\n    return 1\n"
    replacement = "def f():\n    return 2\n"
    base = head + "\n" + region + "\n" + tail
    new = head + "\n" + replacement + "\n" + tail
    edits = minimal_edits(base, new)
    typed_before = data.draw(TYPED | st.just(""), label="typed before")
    typed_after = data.draw(TYPED | st.just(""), label="typed after")
    cut_before = data.draw(st.integers(0, len(head)), label="where in head")
    cut_after = data.draw(st.integers(0, len(tail)), label="where in tail")
    user_head = head[:cut_before] + typed_before + head[cut_before:]
    user_tail = tail[:cut_after] + typed_after + tail[cut_after:]
    current = user_head + "\n" + region + "\n" + user_tail
    selection = (len(head) + 1, len(head) + 1 + len(region))
    for moved in (
        rebase_edits(base, current, edits),
        rebase_edits(base, current, edits, selection=selection),
    ):
        assert moved is not None
        assert apply_edits(current, moved) == user_head + "\n" + replacement + "\n" + user_tail


@FAST
@given(TEXT, TEXT, st.data())
def test_a_rebased_edit_is_refused_or_keeps_any_typing_around_it(
    head: str, tail: str, data: st.DataObject
) -> None:
    """Any typing at all around the edited region (blank lines next to blank lines
    included): refusing is safe, landing wrongly never is."""
    region = "def f():\n    return 1\n"
    replacement = "def f():\n    return 2\n"
    base = head + "\n" + region + "\n" + tail
    edits = minimal_edits(base, head + "\n" + replacement + "\n" + tail)
    cut_before = data.draw(st.integers(0, len(head)), label="where in head")
    cut_after = data.draw(st.integers(0, len(tail)), label="where in tail")
    user_head = head[:cut_before] + data.draw(TEXT, label="typed before") + head[cut_before:]
    user_tail = tail[:cut_after] + data.draw(TEXT, label="typed after") + tail[cut_after:]
    current = user_head + "\n" + region + "\n" + user_tail
    moved = rebase_edits(base, current, edits)
    if moved is not None:
        assert apply_edits(current, moved) == user_head + "\n" + replacement + "\n" + user_tail


@FAST
@given(TEXT, st.data())
def test_a_rebased_edit_replaces_exactly_the_text_it_was_made_for(
    base: str, data: st.DataObject
) -> None:
    """Arbitrary concurrent typing, arbitrary model edit: either refused, or each moved edit
    replaces, in the current text, exactly the text it replaced in the base (never a
    shifted or partly overwritten span)."""
    a = data.draw(st.integers(0, len(base)))
    b = data.draw(st.integers(a, len(base)))
    edit = OffsetEdit(a, b, data.draw(TEXT))
    u = data.draw(st.integers(0, len(base)))
    v = data.draw(st.integers(u, len(base)))
    current = base[:u] + data.draw(TEXT) + base[v:]
    moved = rebase_edits(base, current, [edit])
    if moved is None:
        return  # the user's change may be next to the edit: see the test below
    check_moved(base, current, edit, moved)


@FAST
@given(PLAIN, st.data())
def test_an_edit_apart_from_the_users_change_is_always_moved(
    base: str, data: st.DataObject
) -> None:
    """The user replaced ``base[u:v]`` (one line's worth, no line break) with text that
    cannot be mistaken for its neighbours, at least one character away from the model's
    edit on either side: rebase must move the edit, and exactly."""
    a = data.draw(st.integers(0, len(base)))
    b = data.draw(st.integers(a, len(base)))
    edit = OffsetEdit(a, b, data.draw(TEXT))
    sides = (["before"] if a >= 1 else []) + (["after"] if b < len(base) else [])
    assume(sides)
    before = data.draw(st.sampled_from(sides)) == "before"
    u = data.draw(st.integers(0, a - 1) if before else st.integers(b + 1, len(base)))
    v = data.draw(st.integers(u, a - 1) if before else st.integers(u, len(base)))
    assume("\n" not in base[u:v] and "\r" not in base[u:v])
    typed = MARK + data.draw(TYPED_LINE) + MARK
    current = base[:u] + typed + base[v:]
    moved = rebase_edits(base, current, [edit])
    assert moved is not None, (u, v, a, b)
    check_moved(base, current, edit, moved)
    assert apply_edits(current, moved) == apply_edits(base, [edit, OffsetEdit(u, v, typed)])


def check_moved(base: str, current: str, edit: OffsetEdit, moved: list[OffsetEdit]) -> None:
    assert len(moved) == 1
    m = moved[0]
    assert current[m.start : m.end] == base[edit.start : edit.end]
    assert m.new_text == edit.new_text
    result = apply_edits(current, moved)
    assert len(result) == len(current) + len(edit.new_text) - (edit.end - edit.start)
