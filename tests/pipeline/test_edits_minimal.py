"""Minimal line edits, applying them, and rebasing them onto a changed document."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from m21_lsp.pipeline.edits import (
    OffsetEdit,
    apply_edits,
    minimal_edits,
    rebase_edits,
)
from m21_lsp.text.strings import common_prefix, common_suffix
from pipeline_strategies import documents, edited_pair, line_documents


def test_single_changed_line_gives_one_line_edit() -> None:
    old = "a = 1\nb = 2\nc = 3\n"
    new = "a = 1\nb = 20\nc = 3\n"
    assert minimal_edits(old, new) == [OffsetEdit(6, 12, "b = 20\n")]


def test_two_separate_hunks_give_two_edits() -> None:
    old = "".join(f"line {n}\n" for n in range(10))
    new = old.replace("line 2\n", "LINE 2\n").replace("line 8\n", "LINE 8\nextra\n")
    edits = minimal_edits(old, new)
    assert [old[e.start : e.end] for e in edits] == ["line 2\n", "line 8\n"]
    assert [e.new_text for e in edits] == ["LINE 2\n", "LINE 8\nextra\n"]
    assert apply_edits(old, edits) == new


def test_identical_texts_need_no_edit() -> None:
    assert minimal_edits("same\r\n", "same\r\n") == []


def test_crlf_pair_is_never_split() -> None:
    old = "a\r\nb\r\n"
    new = "a\rX\nb\r\n"
    for edit in minimal_edits(old, new):
        assert old[edit.start - 1 : edit.start + 1] != "\r\n"
        assert old[edit.end - 1 : edit.end + 1] != "\r\n"
    assert apply_edits(old, minimal_edits(old, new)) == new


def test_change_of_line_ending_only() -> None:
    old, new = "a\nb\n", "a\r\nb\n"
    edits = minimal_edits(old, new)
    assert edits == [OffsetEdit(0, 2, "a\r\n")]


def test_missing_final_newline_added() -> None:
    old, new = "a\nb", "a\nb\n"
    edits = minimal_edits(old, new)
    assert edits == [OffsetEdit(2, 3, "b\n")]


def test_large_document_small_change_is_cheap_and_local() -> None:
    old = "".join(f"value_{n} = {n}\n" for n in range(20_000))
    new = old.replace("value_10000 = 10000\n", "value_10000 = -1\n")
    edits = minimal_edits(old, new)
    assert len(edits) == 1
    assert old[edits[0].start : edits[0].end] == "value_10000 = 10000\n"


def test_apply_edits_any_order_and_rejects_overlap() -> None:
    text = "0123456789"
    edits = [OffsetEdit(8, 9, "X"), OffsetEdit(1, 2, "Y")]
    assert apply_edits(text, edits) == "0Y234567X9"
    with pytest.raises(ValueError):
        apply_edits(text, [OffsetEdit(1, 5, ""), OffsetEdit(4, 6, "")])
    with pytest.raises(ValueError):
        apply_edits(text, [OffsetEdit(5, 11, "")])


def test_common_prefix_and_suffix() -> None:
    assert common_prefix("abcdef", "abcxef") == 3
    assert common_suffix("abcdef", "abcxef") == 2
    assert common_prefix("", "a") == 0
    assert common_suffix("aa", "aaa") == 2
    assert common_suffix("aaa", "aaa", 1) == 1


def test_rebase_shifts_edit_after_typing_above() -> None:
    base = "import os\n\ndef f():\n    return 1\n"
    edits = minimal_edits(base, base.replace("return 1", "return 2"))
    current = "# note\n" + base
    moved = rebase_edits(base, current, edits)
    assert moved is not None
    assert apply_edits(current, moved) == current.replace("return 1", "return 2")


def test_rebase_keeps_edit_when_typing_below() -> None:
    base = "def f():\n    return 1\n\n\nx = 1\n"
    edits = minimal_edits(base, base.replace("return 1", "return 2"))
    current = base.replace("x = 1", "x = 12345")
    moved = rebase_edits(base, current, edits)
    assert moved == edits


def test_rebase_refuses_when_user_changed_the_edited_lines() -> None:
    base = "def f():\n    return 1\n"
    edits = minimal_edits(base, base.replace("return 1", "return 2"))
    assert rebase_edits(base, base.replace("return 1", "return 11"), edits) is None


def test_rebase_refuses_when_user_change_abuts_the_edit() -> None:
    base = "a\nb\nc\n"
    edits = [OffsetEdit(2, 4, "B\n")]
    assert rebase_edits(base, "a\nX" + base[2:], edits) is None  # typed right before
    assert rebase_edits(base, base[:4] + "Y" + base[4:], edits) is None  # right after


def test_rebase_typing_on_both_sides_of_an_edit() -> None:
    base = "".join(f"line {n}\n" for n in range(30))
    target = base.replace("line 15\n", "changed\n")
    edits = minimal_edits(base, target)
    current = base.replace("line 2\n", "line two\n").replace("line 28\n", "")
    moved = rebase_edits(base, current, edits)
    assert moved is not None
    assert apply_edits(current, moved) == current.replace("line 15\n", "changed\n")


def test_rebase_with_no_user_change_returns_the_edits() -> None:
    edits = [OffsetEdit(0, 1, "x")]
    assert rebase_edits("abc", "abc", edits) == edits


@given(edited_pair())
def test_applying_minimal_edits_yields_the_target(pair: tuple[str, str]) -> None:
    old, new = pair
    edits = minimal_edits(old, new)
    assert apply_edits(old, edits) == new
    for edit in edits:  # whole lines, never inside a CRLF
        assert old[edit.start - 1 : edit.start + 1] != "\r\n"
        assert old[edit.end - 1 : edit.end + 1] != "\r\n"
    for a, b in itertools.pairwise(edits):
        assert a.end <= b.start


@given(documents, documents)
def test_applying_minimal_edits_between_unrelated_texts(old: str, new: str) -> None:
    assert apply_edits(old, minimal_edits(old, new)) == new


@given(line_documents(), line_documents())
def test_minimal_edits_on_line_documents(old: str, new: str) -> None:
    assert apply_edits(old, minimal_edits(old, new)) == new


@given(st.data())
def test_rebase_is_correct_or_refuses(data: st.DataObject) -> None:
    """The model was shown lines ``s..e`` and edited line ``i`` among them; the user edited
    line ``j``. Rebase must refuse when ``j`` is a selected line, must succeed when ``j`` is
    outside the selection and not next to line ``i``, and when it succeeds the result equals
    applying the model's change and the user's change together."""
    lines = data.draw(
        st.lists(st.sampled_from(["a", "😀 b", "中文", "\tc", "d = 1"]), min_size=6, max_size=20)
    )
    eol = data.draw(st.sampled_from(["\n", "\r\n"]))
    # Numbered lines: with identical lines "which one did the user delete" is ambiguous.
    base_lines = [f"{k} {line}{eol}" for k, line in enumerate(lines)]
    n = len(base_lines)
    i = data.draw(st.integers(0, n - 1))  # the model edits line i
    j = data.draw(st.integers(0, n - 1))  # the user edits line j
    assume(i != j)
    first = data.draw(st.integers(0, i))  # the selection: lines first..last
    last = data.draw(st.integers(i, n - 1))
    selection = (len("".join(base_lines[:first])), len("".join(base_lines[: last + 1])))
    model_lines = list(base_lines)
    model_lines[i] = "MODEL" + eol
    user_lines = list(base_lines)
    user_text = data.draw(st.sampled_from(["", "user" + eol, "user😀" + eol + "more" + eol]))
    user_lines[j] = user_text
    base, target, current = "".join(base_lines), "".join(model_lines), "".join(user_lines)
    moved = rebase_edits(base, current, minimal_edits(base, target), selection=selection)
    if first <= j <= last:
        assert moved is None
    elif abs(i - j) > 1:
        assert moved is not None
    if moved is not None:
        both = list(user_lines)
        both[i] = "MODEL" + eol
        assert apply_edits(current, moved) == "".join(both)


# -------------------------------------------------------------- the selection the model saw
FUNC = "def f(x):\n    y = x\n    return y\n"
BEFORE, AFTER = "a = 1\n\n\n", "\n\nz = 1\n"
DOC = BEFORE + FUNC + AFTER
SEL = (len(BEFORE), len(BEFORE) + len(FUNC))
# The model rewrote one line of the selection and kept the others.
MODEL_EDITS = minimal_edits(DOC, DOC.replace("y = x\n", "y = x + 1\n"))


def rebased(current: str, selection: tuple[int, int] = SEL) -> list[OffsetEdit] | None:
    return rebase_edits(DOC, current, MODEL_EDITS, selection=selection)


@pytest.mark.parametrize(
    "current",
    [
        DOC.replace("return y", "return -y"),  # a line the model kept
        DOC.replace("def f", "async def f"),  # typed onto the first line, at its edge
        DOC.replace("def f", "ef f"),  # the first character
        DOC.replace("return y\n", "return y  # done\n"),  # the last line, before its newline
        BEFORE.rstrip("\n") + FUNC + AFTER,  # the line breaks before it removed: lines joined
    ],
)
def test_rebase_refuses_any_change_to_the_selected_code(current: str) -> None:
    # None of these touches the edited line: only the selection rule refuses them.
    assert rebase_edits(DOC, current, MODEL_EDITS) is not None
    assert rebased(current) is None


def test_rebase_refuses_typing_at_the_edge_of_a_selection_that_ends_mid_line() -> None:
    selection = (SEL[0], SEL[1] - 1)  # "…return y" without its newline
    assert rebased(DOC.replace("return y\n", "return y + 1\n"), selection) is None
    # A new line after it leaves the selected lines as they were.
    current = DOC.replace("return y\n", "return y\n    pass\n")
    moved = rebased(current, selection)
    assert moved is not None
    assert apply_edits(current, moved) == current.replace("y = x\n", "y = x + 1\n")


@pytest.mark.parametrize(
    "current",
    [
        "import os\n" + DOC,  # far above
        DOC.replace("z = 1", "z = 2"),  # far below
        BEFORE + "# note\n" + FUNC + AFTER,  # a whole line right before the selection
        BEFORE + FUNC + "# note\n" + AFTER,  # a whole line right after it
        BEFORE + FUNC + "# note" + AFTER,  # typed at the start of the line after it
        BEFORE[:-1] + FUNC + AFTER,  # a blank line before it removed
    ],
)
def test_rebase_moves_the_edit_past_changes_outside_the_selection(current: str) -> None:
    moved = rebased(current)
    assert moved is not None, current
    assert apply_edits(current, moved) == current.replace("y = x\n", "y = x + 1\n")
