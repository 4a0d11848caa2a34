"""Cleanliness from the top of the file, proven over a window: same answers as the full
scan, and the work done per query no longer grows with the file."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from m21_lsp.pipeline import validate
from m21_lsp.text import pyscan

# Pieces that open and close strings, brackets and continuations in every way the
# scanner knows, mixed with statement lines, so that edits move the tokenizer state.
PIECES = [
    "x = 1\n",
    "def f():\n",
    "    return (a,\n",
    "        b)\n",
    "class K:\n",
    "@dec\n",
    '"""doc\n',
    'end"""\n',
    "'''\n",
    "s = 'a\\\n",
    "b'\n",
    "# note ' \" (\n",
    "y = [1,\n",
    "]\n",
    "z = {\n",
    "}\n",
    "t = 1 + \\\n",
    "\r\n",
    "\r",
    '"',
    "'",
    "(",
    ")",
    "\\",
    "\n",
]
pieces = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


@st.composite
def edit_chains(draw: st.DrawFn) -> list[str]:
    """A text and a few successive edits of it, the way a document moves on."""
    text = draw(pieces)
    chain = [text]
    for _ in range(draw(st.integers(1, 4))):
        a = draw(st.integers(0, len(text)))
        b = draw(st.integers(a, min(len(text), a + 40)))
        text = text[:a] + draw(pieces.map(lambda s: s[:30])) + text[b:]
        chain.append(text)
    return chain


def _reference_mask(segment: str) -> str:
    return pyscan._MASK.sub(r"\g<bad>", segment)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, "#x", '"""', "'''", "a"]), max_size=30).map("".join))
def test_mask_is_the_substitution_it_replaces(text: str) -> None:
    assert pyscan.mask(text) == _reference_mask(text)


@settings(max_examples=300, deadline=None)
@given(edit_chains(), st.data())
def test_clean_from_top_agrees_with_the_full_scan(chain: list[str], data: st.DataObject) -> None:
    pyscan.forget_marks()
    for text in chain:
        positions = data.draw(st.lists(st.integers(0, len(text) + 2), max_size=8))
        for pos in positions:
            assert pyscan.clean_from_top(text, pos) == pyscan.is_clean(text, 0, pos)
        for a in positions:
            for b in positions:
                lo, hi = min(a, b), max(a, b)
                assert pyscan.clean_between(text, lo, hi) == pyscan.is_clean(text, lo, hi)


@settings(max_examples=200, deadline=None)
@given(edit_chains(), st.data())
def test_proven_region_is_the_one_the_full_scan_gives(
    chain: list[str], data: st.DataObject
) -> None:
    """top_level_region(proven=True) with remembered marks against a fresh scan each time."""
    for text in chain:
        first = data.draw(st.integers(0, len(text)))
        last = data.draw(st.integers(first, len(text)))
        with_marks = pyscan.top_level_region(text, first, last, proven=True)
        pyscan.forget_marks()
        fresh = pyscan.top_level_region(text, first, last, proven=True)
        assert with_marks == fresh


def test_marks_survive_a_string_opened_by_the_edit() -> None:
    """An edit that opens a docstring makes everything below it unclean: the marks kept
    from the old text below the edit must not be believed."""
    pyscan.forget_marks()
    body = "".join(f"def f{n}():\n    return {n}\n\n\n" for n in range(3000))
    assert pyscan.clean_from_top(body, len(body))
    cut = body.index("def f1500")
    opened = body[:cut] + '"""\n' + body[cut:]
    assert not pyscan.clean_from_top(opened, len(opened))
    assert not pyscan.is_clean(opened, 0, len(opened))
    closed = opened[: len(opened) // 2] + '"""\n' + opened[len(opened) // 2 :]
    assert pyscan.clean_from_top(closed, len(closed)) == pyscan.is_clean(closed, 0, len(closed))


# --- work done per query ----------------------------------------------------------------


def _big_module(functions: int = 4000) -> str:
    return "".join(
        f'def total_{n}(items):\n    """Sum."""\n    return sum(i["q"] for i in items)\n\n\n'
        for n in range(functions)
    )


@pytest.fixture
def masked_chars(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Lengths of every segment the scanner masks (the work that grows with the file)."""
    seen: list[int] = []
    real = pyscan.mask

    def counting(segment: str) -> str:
        seen.append(len(segment))
        return real(segment)

    monkeypatch.setattr(pyscan, "mask", counting)
    yield seen


def test_validation_region_of_an_edited_big_file_scans_a_window(
    masked_chars: list[int],
) -> None:
    pyscan.forget_marks()
    text = _big_module()
    assert len(text) > 300_000
    at = text.index("def total_3500(")
    # The document once (as the first refactor on it does)...
    pyscan.top_level_region(text, at, at + 10, proven=True)
    masked_chars.clear()
    # ...then an edit of another function far below the first one, as the next refactor
    # sees it: the candidate text is new, its prefix is the document's.
    target = text.index("def total_3900(")
    end = text.index("def total_3901(")
    new = text[:target] + text[target:end].replace("sum(", "math.fsum(") + text[end:]
    span = (target, target + len(text[target:end]) + 5)
    validate.check_python(new, [span])
    pyscan.top_level_region(new, span[0], span[1], proven=True)
    assert sum(masked_chars) < 60_000, f"masked {sum(masked_chars)} characters"


def test_rest_of_the_file_after_the_region_is_read_from_marks(masked_chars: list[int]) -> None:
    pyscan.forget_marks()
    text = _big_module()
    assert pyscan.clean_from_top(text, len(text))
    start = text.index("def total_10(")
    end = text.index("def total_11(")
    new = text[:start] + text[start:end].replace("sum(", "max(") + text[end:]
    masked_chars.clear()
    assert validate.plan_regions(new, [(start, start + 20)]) is not None
    assert sum(masked_chars) < 60_000, f"masked {sum(masked_chars)} characters"


def test_line_starts_do_not_search_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a CR in the file, finding a line's start or the next one must not look for
    one all the way to either end of the file."""
    text = "x = 1\n" * 100_000
    searched: list[int] = []

    class Spy(str):
        def find(self, sub: str, start: int = 0, end: int | None = None) -> int:  # type: ignore[override]
            stop = len(self) if end is None else end
            hit = str.find(self, sub, start, stop)
            searched.append((stop if hit < 0 else hit) - start)
            return hit

        def rfind(self, sub: str, start: int = 0, end: int | None = None) -> int:  # type: ignore[override]
            stop = len(self) if end is None else end
            hit = str.rfind(self, sub, start, stop)
            searched.append(stop - max(hit, start))  # a miss searched back to ``start``
            return hit

    spy = Spy(text)
    mid = len(text) // 2 + 3
    assert pyscan.next_line_start(spy, mid) == text.index("\n", mid) + 1
    assert pyscan.line_start(spy, mid) == text.rfind("\n", 0, mid) + 1
    assert max(searched) < 1000, searched


def test_star_import_is_the_line_pattern_it_replaces() -> None:
    reference = re.compile(r"(?m)^[ \t]*from[ \t]+\S+[ \t]+import[ \t]+\*")
    samples = [
        "from x import *\n",
        "  from a.b import  *",
        "x = 1\nfrom m import *  # all\n",
        "# from x import *\n",
        "s = 'from x import *'\n",
        "from x import y, *\n",
        "from  import *\n",
        "from x importimport *\n",
        "from x import\t*\n",
        "y\rfrom x import *\n",
        "import *\n",
    ]
    for text in samples:
        assert validate._star_import(text) == (reference.search(text) is not None), text


def _reference_statement_above(text: str, pos: int, floor: int = 0) -> int | None:
    """The search as it was, 4 KiB windows at a time: the oracle for the faster one."""
    cur = pos
    while True:
        candidates = pyscan._col0_before(text, cur, floor)
        if not candidates:
            return None
        for start in candidates:
            if pyscan.starts_top_level_statement(pyscan.line_text(text, start)):
                return start
        cur = candidates[-1]


@settings(max_examples=300, deadline=None)
@given(pieces, st.data())
def test_statement_above_agrees_with_the_window_search(text: str, data: st.DataObject) -> None:
    text = text * data.draw(st.integers(1, 200))
    pos = data.draw(st.integers(0, len(text)))
    floor = data.draw(st.integers(0, pos))
    assert pyscan._statement_above(text, pos, floor) == _reference_statement_above(text, pos, floor)


def test_statement_above_lists_a_few_lines_not_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code action path looks for the statement above the cursor several times per
    request: it must list the few lines above, not every line of 4 KiB of text."""
    listed: list[int] = []
    real = pyscan.col0_code_lines

    def counting(text: str, lo: int, hi: int) -> list[int]:
        found = real(text, lo, hi)
        listed.append(len(found))
        return found

    monkeypatch.setattr(pyscan, "col0_code_lines", counting)
    text = "x = 1\n" * 20_000
    assert pyscan.top_level_start(text, len(text) // 2) == len(text) // 2
    assert sum(listed) < 200, listed
