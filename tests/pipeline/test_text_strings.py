"""Whole-document string operations against a character-by-character reading."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from m21_lsp.text.strings import common_prefix, common_suffix, splice

# Few distinct characters, so that long common runs (and near misses) are common.
texts = st.text(alphabet="ab\r\n😀", max_size=300)


def _prefix_by_hand(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@given(texts, texts)
def test_common_prefix_and_suffix_agree_with_a_character_loop(a: str, b: str) -> None:
    assert common_prefix(a, b) == _prefix_by_hand(a, b)
    assert common_suffix(a, b) == _prefix_by_hand(a[::-1], b[::-1])


@given(texts, texts, st.integers(-3, 400))
def test_common_suffix_stops_at_its_limit(a: str, b: str, limit: int) -> None:
    assert common_suffix(a, b, limit) == max(0, min(limit, _prefix_by_hand(a[::-1], b[::-1])))


@given(texts, st.data())
def test_edited_copies_share_what_the_edit_left(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    new = data.draw(texts)
    edited = splice(text, start, end, new)
    assert edited == text[:start] + new + text[end:]
    assert common_prefix(text, edited) >= start
    assert common_suffix(text, edited) >= len(text) - end


LONG = "def f(x):\n    return x + 1\n" * 4000  # 104,000 characters, many 4 KB blocks


@given(st.integers(0, len(LONG) - 1), st.integers(0, 3))
def test_a_difference_anywhere_in_a_long_document_is_found_exactly(at: int, extra: int) -> None:
    changed = LONG[:at] + "Z" * (extra + 1) + LONG[at + 1 :]
    assert common_prefix(LONG, changed) == _prefix_by_hand(LONG, changed)
    assert common_suffix(LONG, changed) == _prefix_by_hand(LONG[::-1], changed[::-1])
    assert common_prefix(LONG, LONG) == len(LONG) == common_suffix(LONG, LONG)
