"""Cursor ranges widen to the enclosing function, class or module-level statement."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from m21_lsp.text.selection import expand_range, whole_lines

SOURCE = '''"""Module docstring."""
import os

SETTINGS = dict(
    name="x",
    size=3,
)


@decorator(
    arg=1,
)
@other
def outer(a):
    """Doc with a column-0 line that looks like code:
def fake():
    """
    def inner(b):
        return b + 1

    return inner(a)


class Shape:
    sides = 0

    def area(self):
        if self.sides:
            return 1
        return 2

    async def fetch(self):
        await os.fspath("x")


# a comment about main
if __name__ == "__main__":
    outer(1)
else:
    pass
'''


def _expand_at(marker: str, text: str = SOURCE) -> str:
    pos = text.index(marker)
    start, end = expand_range(text, pos, pos)
    return text[start:end]


def _block(first: str, last: str, text: str = SOURCE) -> str:
    start = text.index(first)
    start = text.rfind("\n", 0, start) + 1
    end = text.index(last, start) + len(last)
    return text[start:end]


OUTER = _block("@decorator(", "    return inner(a)\n")
SHAPE = _block("class Shape:", '        await os.fspath("x")\n')


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("return b", "    def inner(b):\n        return b + 1\n"),
        ("def inner", "    def inner(b):\n        return b + 1\n"),
        ("return inner", OUTER),
        ("arg=1", OUTER),
        ("@other", OUTER),
        ("def fake", OUTER),  # inside the docstring: not a real definition
        (
            "return 2",
            "    def area(self):\n        if self.sides:\n            return 1\n        return 2\n",
        ),
        (
            "return 1",
            "    def area(self):\n        if self.sides:\n            return 1\n        return 2\n",
        ),
        ("await os", '    async def fetch(self):\n        await os.fspath("x")\n'),
        ("sides = 0", SHAPE),
        ("class Shape", SHAPE),
        ("size=3", 'SETTINGS = dict(\n    name="x",\n    size=3,\n)\n'),
        ("import os", "import os\n"),
        ("outer(1)", 'if __name__ == "__main__":\n    outer(1)\nelse:\n    pass\n'),
        ("pass\n", 'if __name__ == "__main__":\n    outer(1)\nelse:\n    pass\n'),
    ],
)
def test_cursor_expands_to_enclosing_block(marker: str, expected: str) -> None:
    assert _expand_at(marker) == expected


def test_one_character_range_expands_too() -> None:
    pos = SOURCE.index("return b")
    start, end = expand_range(SOURCE, pos, pos + 1)
    assert SOURCE[start:end] == "    def inner(b):\n        return b + 1\n"


def test_blank_line_inside_function_belongs_to_it() -> None:
    pos = SOURCE.index("\n\n    return inner") + 1
    start, end = expand_range(SOURCE, pos, pos)
    assert SOURCE[start:end] == OUTER


def test_blank_line_between_top_level_statements_stays_put() -> None:
    pos = SOURCE.index("\n\n\nclass Shape") + 1
    assert expand_range(SOURCE, pos, pos) == (pos, pos)


def test_real_selection_is_left_alone() -> None:
    assert expand_range(SOURCE, 10, 30) == (10, 30)
    assert expand_range(SOURCE, 30, 10) == (10, 30)


def test_empty_document() -> None:
    assert expand_range("", 0, 0) == (0, 0)


def test_tabs_and_crlf() -> None:
    text = "class A:\r\n\tdef m(self):\r\n\t\treturn 1\r\n\r\n\tdef n(self):\r\n\t\treturn 2\r\n"
    pos = text.index("return 1")
    start, end = expand_range(text, pos, pos)
    assert text[start:end] == "\tdef m(self):\r\n\t\treturn 1\r\n"


def test_multiline_signature_and_string_body() -> None:
    text = "def f(\n    a,\n    b,\n):\n    s = '''\nnot code\n'''\n    return s\n\n\nx = 1\n"
    pos = text.index("return s")
    start, end = expand_range(text, pos, pos)
    assert text[start:end] == text[: text.index("\n\n\nx")] + "\n"


def test_last_line_without_newline() -> None:
    text = "x = 1\ndef f():\n    return 😀"
    pos = text.index("return")
    assert expand_range(text, pos, pos) == (6, len(text))


def test_whole_lines() -> None:
    text = "ab\ncd\r\nef"
    assert whole_lines(text, 1, 4) == (0, 7)
    assert whole_lines(text, 3, 3) == (3, 7)
    assert whole_lines(text, 0, 3) == (0, 3)  # ends at a line start: not widened
    assert whole_lines(text, 8, 9) == (7, 9)


def test_cursor_in_huge_file_only_scans_nearby() -> None:
    body = "".join(f"def f{n}(x):\n    return x + {n}\n\n\n" for n in range(5000))
    pos = body.index("return x + 2500")
    start, end = expand_range(body, pos, pos)
    assert body[start:end] == "def f2500(x):\n    return x + 2500\n"


SELECTION_CHUNKS = [
    "import os\n",
    "x = 1\n",
    "\n",
    "# comment\n",
    "def f(a):\n    return a\n",
    "@dec\ndef g():\n    pass\n",
    "@dec(\n    1,\n)\nclass C:\n    y = 2\n\n    def m(self):\n        return [\n            1,\n        ]\n",
    'S = """\ndef not_code():\n    x\n"""\n',
    "if x:\n    x = 2\nelse:\n    x = 3\n",
    "T = (\n1,\n2,\n)\n",
    "async def h():\n    def inner():\n        return '''\ntext\n'''\n    return inner\n",
    "class K:\n\tdef t(self):\n\t\treturn 1\n",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SELECTION_CHUNKS), min_size=1, max_size=8), st.data())
def test_expansion_is_whole_lines_around_the_cursor_and_parses(
    chunks: list[str], data: st.DataObject
) -> None:
    text = "".join(chunks)
    eol = data.draw(st.sampled_from(["\n", "\r\n"]))
    text = text.replace("\n", eol)
    cursor = data.draw(st.integers(0, len(text)))
    start, end = expand_range(text, cursor, cursor)
    if (start, end) == (cursor, cursor):
        return
    assert start <= cursor <= end
    assert start == 0 or text[start - 1] == "\n"
    assert end == len(text) or text[end - 1] == "\n"
    block = text[start:end].replace(eol, "\n")
    if block[:1] in (" ", "\t"):  # nested: parse it inside a block of its own
        block = "if True:\n" + block
    ast.parse(block)  # a whole statement, function or class: parses on its own
