"""The bounded windows the pipeline now reads instead of the whole document give the
answers the whole document gave (extract's context cut, validate's name check)."""

from __future__ import annotations

import random

import pytest
from m21_lsp.pipeline import extract, validate


def _whole_before(document: str, start: int) -> list[str]:
    lines = document[:start].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.strip() for line in lines[:-1]]


def _whole_after(document: str, end: int) -> list[str]:
    lines = document[end:].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.strip() for line in lines]


def _document(rng: random.Random) -> str:
    words = ["x = 1", "def f():", "    return x", "", "   ", "import os", "# note", "\ty"]
    eol = rng.choice(["\n", "\r\n", "\r"])
    lines = [rng.choice(words) * rng.choice([1, 1, 30]) for _ in range(rng.randint(1, 400))]
    return eol.join(lines) + rng.choice(["", eol])


@pytest.mark.parametrize("seed", range(6))
def test_the_windows_next_to_the_selection_are_those_of_the_whole_document(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        document = _document(rng)
        start = rng.randint(0, len(document))
        end = rng.randint(start, len(document))
        reach = rng.randint(1, 80)
        whole_before = _whole_before(document, start)
        before = extract._stripped_lines_before(document, start, reach)
        last = max((k for k, line in enumerate(whole_before) if line), default=-1)
        if last >= 0:  # what _cut_top compares: reach lines up to the last code line
            lo = max(0, last + 1 - reach)
            assert before[len(before) - (len(whole_before) - lo) :] == whole_before[lo:]
        else:
            assert not any(before)
        whole_after = _whole_after(document, end)[1:]
        after = extract._stripped_lines_after(document, end, reach)[1:]
        first = next((k for k, line in enumerate(whole_after) if line), None)
        if first is not None:  # what _cut_bottom compares
            assert after[first : first + reach] == whole_after[first : first + reach]
        else:
            assert not any(after)


SOURCE = """import os

LIMIT = 3


def helper(x):
    return x + LIMIT


def target(items):
    total = helper(len(items))
    return total + missing_name + os.sep.count("/")


class Box:
    def size(self):
        return target(self.items) + undefined_too
"""


@pytest.mark.parametrize("name", ["target", "Box", "helper"])
def test_names_found_unresolved_near_the_span_match_the_whole_region(name: str) -> None:
    start = SOURCE.index(("class " if name == "Box" else "def ") + name)
    end = SOURCE.find("\n\n\n", start)
    end = len(SOURCE) if end < 0 else end + 1
    a, b = validate.region_bounds(SOURCE, start, end)
    whole = validate._unresolved_in(SOURCE[a:b], start - a, end - a) or set()
    assert validate._unresolved_near(SOURCE, a, b, start, end) == whole
