"""Offsets <-> LSP positions in utf-8, utf-16 and utf-32."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from m21_lsp.text.positions import (
    LineIndex,
    lsp_range_to_offsets,
    normalize_encoding,
    offsets_to_lsp_range,
)
from pipeline_strategies import documents

ENCODINGS = ("utf-8", "utf-16", "utf-32")


def test_emoji_and_cjk_columns_in_each_encoding() -> None:
    text = "a😀b中c\nnext"
    index = LineIndex(text)
    c = text.index("c")
    assert index.position_at(c, "utf-32") == (0, 4)
    assert index.position_at(c, "utf-16") == (0, 5)  # the emoji is a surrogate pair
    assert index.position_at(c, "utf-8") == (0, 1 + 4 + 1 + 3)
    for enc in ENCODINGS:
        assert index.offset_at(*index.position_at(c, enc), enc) == c


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_every_line_ending_starts_a_line(eol: str) -> None:
    text = f"one{eol}two{eol}three"
    index = LineIndex(text)
    assert index.line_count == 3
    assert index.offset_at(1, 0) == text.index("two")
    assert index.offset_at(2, 0) == text.index("three")
    assert index.position_at(text.index("three")) == (2, 0)


def test_mixed_line_endings() -> None:
    text = "a\r\nb\rc\nd"
    index = LineIndex(text)
    assert [index.offset_at(n, 0) for n in range(4)] == [0, 3, 5, 7]


def test_character_past_line_end_clamps_before_the_line_ending() -> None:
    text = "ab\r\ncd"
    index = LineIndex(text)
    assert index.offset_at(0, 99) == 2
    assert index.offset_at(0, 99, "utf-8") == 2
    assert index.offset_at(0, 99, "utf-32") == 2


def test_line_past_the_end_is_end_of_text() -> None:
    text = "ab\ncd\n"
    index = LineIndex(text)
    assert index.offset_at(2, 0) == len(text)  # the empty last line exists
    assert index.offset_at(3, 0) == len(text)
    assert index.offset_at(100, 5) == len(text)


def test_negative_values_clamp_to_zero() -> None:
    index = LineIndex("ab\ncd")
    assert index.offset_at(-1, 1) == 1
    assert index.offset_at(1, -4) == 3
    assert index.position_at(-10) == (0, 0)
    assert index.position_at(10_000) == (1, 2)


def test_middle_of_surrogate_pair_or_utf8_sequence_rounds_down() -> None:
    text = "😀x中y"
    index = LineIndex(text)
    assert index.offset_at(0, 1, "utf-16") == 0
    assert index.offset_at(0, 2, "utf-16") == 1
    for column in (1, 2, 3):
        assert index.offset_at(0, column, "utf-8") == 0
    assert index.offset_at(0, 4, "utf-8") == 1
    assert index.offset_at(0, 6, "utf-8") == 2  # inside 中
    assert index.offset_at(0, 8, "utf-8") == 3


def test_offset_between_cr_and_lf_maps_to_line_end() -> None:
    index = LineIndex("ab\r\ncd")
    assert index.position_at(3) == (0, 2)


def test_empty_text() -> None:
    index = LineIndex("")
    assert index.line_count == 1
    assert index.offset_at(0, 0) == 0
    assert index.offset_at(5, 5) == 0
    assert index.position_at(0) == (0, 0)


def test_range_helpers_order_and_round_trip() -> None:
    text = "x = '😀'\ny = 2\n"
    index = LineIndex(text)
    a, b = text.index("😀"), text.index("y")
    (s, e) = offsets_to_lsp_range(index, a, b)
    assert s == (0, 5) and e == (1, 0)
    assert lsp_range_to_offsets(index, e[0], e[1], s[0], s[1]) == (a, b)


def test_normalize_encoding_defaults_to_utf16() -> None:
    assert normalize_encoding(None) == "utf-16"
    assert normalize_encoding("utf-8") == "utf-8"
    assert normalize_encoding("utf-32") == "utf-32"
    assert normalize_encoding("latin-1") == "utf-16"


def test_large_document_conversions_use_the_line_index() -> None:
    text = "".join(f"line {n} 😀 中\n" for n in range(20_000))
    index = LineIndex(text)
    offset = text.index("line 15000 ")
    assert index.position_at(offset) == (15000, 0)
    assert index.offset_at(15000, 8, "utf-16") == offset + len("line 150")
    assert index.line_count == 20_001


def _boundary_offsets(text: str) -> list[int]:
    """Offsets that LSP can name: not between the halves of a CRLF."""
    return [i for i in range(len(text) + 1) if not (text[i - 1 : i + 1] == "\r\n")]


@given(documents, st.sampled_from(ENCODINGS))
def test_round_trip_every_offset(text: str, encoding: str) -> None:
    index = LineIndex(text)
    for offset in _boundary_offsets(text):
        line, character = index.position_at(offset, encoding)  # type: ignore[arg-type]
        assert index.offset_at(line, character, encoding) == offset  # type: ignore[arg-type]


@given(documents)
def test_utf16_column_matches_encoded_length(text: str) -> None:
    index = LineIndex(text)
    for offset in _boundary_offsets(text):
        line, character = index.position_at(offset, "utf-16")
        start = index.line_start(line)
        assert character == len(text[start:offset].encode("utf-16-le")) // 2
        assert index.position_at(offset, "utf-8")[1] == len(text[start:offset].encode("utf-8"))


@given(documents)
def test_line_count_matches_lsp_rules(text: str) -> None:
    expected = (
        1
        + text.count("\r\n")
        + text.replace("\r\n", "").count("\r")
        + text.replace("\r\n", "").count("\n")
    )
    assert LineIndex(text).line_count == expected


@given(documents, documents, st.data())
def test_an_edit_derives_the_same_line_starts_as_a_fresh_index(
    text: str, inserted: str, data: st.DataObject
) -> None:
    """Every kind of line ending on either side of the edit, CRLFs split and joined."""
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    index = LineIndex(text)
    if data.draw(st.booleans()):
        assert index.line_count >= 1  # built before the edit, so the edit derives it
    derived = index.replaced(start, end, inserted)
    assert derived.text == text[:start] + inserted + text[end:]
    assert derived.line_starts == LineIndex(derived.text).line_starts


def test_a_derived_index_counts_the_lines_the_edit_brings() -> None:
    text = "x = 1\n" * 50_000
    index = LineIndex(text)
    assert index.line_count == 50_001
    at = index.line_start(25_000)
    derived = index.replaced(at, at, "y = (\r\n  2)\r")
    assert derived.line_start(25_001) == at + len("y = (\r\n")
    assert derived.line_start(25_002) == at + len("y = (\r\n  2)\r")
    assert derived.line_count == 50_003
    assert derived.line_starts[-1] == len(derived.text)


def _same_answers(index: LineIndex, fresh: LineIndex, probes: list[int]) -> None:
    """Every query answers as a freshly scanned index of the same text does."""
    assert index.line_count == fresh.line_count
    for line in range(-1, fresh.line_count + 1):
        assert index.line_start(line) == fresh.line_start(line)
        assert index.line_end(line) == fresh.line_end(line)
        assert index.line_end(line, include_eol=True) == fresh.line_end(line, include_eol=True)
        for enc in ENCODINGS:
            assert index.offset_at(line, 3, enc) == fresh.offset_at(line, 3, enc)
    for offset in probes:
        assert index.line_of(offset) == fresh.line_of(offset)
        assert index.position_at(offset) == fresh.position_at(offset)


@given(documents, st.data())
def test_a_chain_of_edits_answers_like_a_fresh_index(text: str, data: st.DataObject) -> None:
    """Edits before, inside and after the previous one (each leaves its shift pending
    for the lines after it), with queries in between that may or may not apply it."""
    index = LineIndex(text)
    assert index.line_count >= 1  # built, so every edit derives its successor's starts
    for _ in range(data.draw(st.integers(1, 6))):
        start = data.draw(st.integers(0, len(index.text)))
        end = data.draw(st.integers(start, min(len(index.text), start + 40)))
        index = index.replaced(start, end, data.draw(documents))
        fresh = LineIndex(index.text)
        probes = data.draw(st.lists(st.integers(-1, len(index.text) + 1), max_size=8))
        _same_answers(index, fresh, probes)
        if data.draw(st.booleans()):
            assert index.line_starts == fresh.line_starts  # applies the pending shift
