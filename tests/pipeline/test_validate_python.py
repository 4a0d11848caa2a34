"""Regional libcst validation and name warnings."""

from __future__ import annotations

from pathlib import Path

import libcst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from m21_lsp.errors import InvalidPython
from m21_lsp.pipeline import validate
from m21_lsp.pipeline.shape import build_candidate
from pipeline_strategies import documents

SOURCES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"


def _splice(doc: str, old: str, new: str) -> tuple[str, list[tuple[int, int]]]:
    start = doc.index(old)
    text = doc[:start] + new + doc[start + len(old) :]
    return text, [(start, start + len(new))]


def test_valid_edit_passes() -> None:
    doc = (SOURCES / "shapes_classes.py").read_text()
    text, spans = _splice(
        doc, "        self.radius *= factor\n", "        self.radius = self.radius * factor\n"
    )
    validate.check_python(text, spans)


def test_syntax_error_names_the_document_line_and_source() -> None:
    doc = (SOURCES / "shapes_classes.py").read_text()
    old = "        self.radius *= factor\n"
    text, spans = _splice(doc, old, "        self.radius *= (factor\n")
    with pytest.raises(InvalidPython) as info:
        validate.check_python(text, spans)
    line = doc[: doc.index(old)].count("\n") + 1
    assert info.value.line is not None and line <= info.value.line <= line + 2
    assert f"line {info.value.line}" in info.value.message
    assert "detail" not in info.value.message
    assert info.value.detail  # the parser's full report, for logs


def test_deleting_a_body_leaves_an_invalid_header() -> None:
    doc = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    start = doc.index("    return 1\n")
    text = doc[:start] + doc[start + len("    return 1\n") :]
    with pytest.raises(InvalidPython):
        validate.check_python(text, [(start, start)])


def test_dangling_else_after_region_is_caught() -> None:
    doc = "if x:\n    a = 1\nelse:\n    a = 2\n\nb = 3\n"
    text, spans = _splice(doc, "if x:\n    a = 1\n", "a = 1\n")
    with pytest.raises(InvalidPython):
        validate.check_python(text, spans)


def test_decorator_left_without_function_is_caught() -> None:
    doc = "import functools\n\n\n@functools.cache\ndef f():\n    return 1\n\n\nx = 2\n"
    text, spans = _splice(doc, "def f():\n    return 1\n", "y = 1\n")
    with pytest.raises(InvalidPython):
        validate.check_python(text, spans)


def test_edit_inside_string_with_column0_code_is_judged_on_the_whole_string() -> None:
    doc = 'X = 1\n\nTEMPLATE = """\ndef fake():\n    pass\n"""\n\n\ndef real():\n    return TEMPLATE\n'
    # Closing the string early leaves a stray opening quote: invalid as a whole.
    text, spans = _splice(doc, "    pass\n", '    """\n')
    with pytest.raises(InvalidPython):
        validate.check_python(text, spans)
    # Text that is harmless inside the string is fine, although it is not valid code.
    text, spans = _splice(doc, "    pass\n", "    this is ( not python\n")
    validate.check_python(text, spans)


def test_unterminated_string_in_edit_is_caught() -> None:
    doc = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    text, spans = _splice(doc, "    return 1\n", '    return """1\n')
    with pytest.raises(InvalidPython):
        validate.check_python(text, spans)


def test_regions_stay_small_in_a_big_file() -> None:
    unit = (
        "def f{n}(x):\n    '''Doc\ndef not_code():\n    '''\n    return [\n        x,\n    ]\n\n\n"
    )
    doc = "".join(unit.format(n=n) for n in range(5000))
    old = "def f2500(x):"
    text, spans = _splice(doc, old, "def f2500(x, y=1):")
    regions = validate.plan_regions(text, spans)
    assert regions is not None and len(regions) == 1
    a, b = regions[0]
    assert text[a:b].count("\n") < 20
    assert text[a:].startswith("def f2500(") or text[a:].startswith("def f2499(")
    validate.check_python(text, spans)


def test_hoisted_import_and_replacement_are_both_checked() -> None:
    doc = (SOURCES / "shapes_classes.py").read_text()
    start = doc.index("    async def grow")
    end = doc.index("        return self.radius\n") + len("        return self.radius\n")
    cand = build_candidate(
        doc,
        start,
        end,
        "from pathlib import Path\n\ndef grow(self):\n    return Path(self.radius)\n",
    )
    assert len(cand.changed_spans) == 2
    assert validate.plan_regions(cand.new_text, cand.changed_spans) is not None
    validate.check_python(cand.new_text, cand.changed_spans)


def test_crlf_and_tabs_documents() -> None:
    doc = (SOURCES / "crlf_module.py").read_bytes().decode()
    text, spans = _splice(doc, "    return result\r\n", "    return sorted(result)\r\n")
    validate.check_python(text, spans)
    text, spans = _splice(doc, "    return result\r\n", "    return sorted(result\r\n")
    with pytest.raises(InvalidPython):
        validate.check_python(text, spans)
    doc = (SOURCES / "tabs_indented.py").read_text()
    text, spans = _splice(doc, "\t\treturn default\n", "\t\treturn default or None\n")
    validate.check_python(text, spans)


def test_no_spans_is_nothing_to_check() -> None:
    validate.check_python("this is not python (", [])


# A document is a list of top-level chunks; an edit replaces one line with a snippet.
CHUNKS = [
    "import os\n",
    "x = 1\n",
    "def f(a):\n    return a\n",
    "@dec\ndef g():\n    pass\n",
    "@dec(\n    1,\n)\nclass C:\n    y = 2\n",
    'S = """\ndef not_code():\nelse:\n"""\n',
    "if x:\n    x = 2\nelse:\n    x = 3\n",
    "try:\n    pass\nexcept E:\n    pass\n",
    "T = (\n1,\n2,\n)\n",
    "y = 1 + \\\n    2\n",
    "\n",
    "# comment\n",
]
SNIPPETS = [
    "",
    "x = 2\n",
    "    return a + 1\n",
    "def h():\n",
    "else:\n",
    '"""\n',
    "y = (\n",
    ")\n",
    "pass\n",
    "    pass\n",
    "@dec\n",
    "class D:\n    z = 1\n",
    "s = '''\nx\n'''\n",
    "def k(:\n",
]


@st.composite
def _edits(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]]]:
    doc = "".join(draw(st.lists(st.sampled_from(CHUNKS), min_size=1, max_size=8)))
    lines = doc.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines)))
    j = draw(st.integers(i, min(len(lines), i + 2)))
    new = draw(st.sampled_from(SNIPPETS))
    start = sum(len(line) for line in lines[:i])
    end = sum(len(line) for line in lines[:j])
    return doc[:start] + new + doc[end:], [(start, start + len(new))]


def _full_parse_ok(text: str) -> bool:
    try:
        libcst.parse_module(text)
    except libcst.ParserSyntaxError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_edits())
def test_regional_verdict_equals_full_parse(case: tuple[str, list[tuple[int, int]]]) -> None:
    text, spans = case
    try:
        validate.check_python(text, spans)
        regional = True
    except InvalidPython:
        regional = False
    assert regional == _full_parse_ok(text)


# --- names ---------------------------------------------------------------------------------


def _names_case(doc: str, old: str, new: str) -> list[str]:
    start = doc.index(old)
    cand = build_candidate(doc, start, start + len(old), new)
    return validate.name_warnings(old, cand.replacement, cand.new_text)


DOC = """import json
from pathlib import Path


def load(path):
    with open(path) as fh:
        return json.load(fh)


def helper(value):
    return value * 2


class Store:
    def __init__(self, items):
        self.items = items

    def total(self, factor):
        result = 0
        for item in self.items:
            result += helper(item) * factor
        return result


LIMIT = 10
"""


def test_lost_top_level_definition_is_reported() -> None:
    old = "def helper(value):\n    return value * 2\n"
    warnings = _names_case(DOC, old, "def double(value):\n    return value * 2\n")
    assert any("`helper`" in w and "no longer defines" in w for w in warnings)


def test_renamed_local_is_not_reported() -> None:
    old = "        result = 0\n        for item in self.items:\n            result += helper(item) * factor\n        return result\n"
    new = "total = 0\nfor entry in self.items:\n    total += helper(entry) * factor\nreturn total\n"
    assert _names_case(DOC, old, new) == []


def test_undefined_name_is_reported_but_known_ones_are_not() -> None:
    old = "def helper(value):\n    return value * 2\n"
    new = (
        "def helper(value):\n"
        "    base = Path(str(value))\n"
        "    data = json.loads(load(base))\n"
        "    return len(data) * LIMIT * undefined_thing + Store([]).total(1)\n"
    )
    warnings = _names_case(DOC, old, new)
    assert warnings == [
        "`undefined_thing` is used by the new code but is not defined or imported anywhere."
    ]


def test_enclosing_parameters_and_self_are_known() -> None:
    old = "        return result\n"
    assert _names_case(DOC, old, "return result * factor + len(self.items)\n") == []


def test_star_import_disables_undefined_warnings() -> None:
    doc = "from os.path import *\n\n\ndef f():\n    return 1\n"
    assert _names_case(doc, "    return 1\n", "return join('a', 'b')\n") == []


def test_lost_variable_used_elsewhere_is_reported() -> None:
    doc = "LIMIT = 10\nNAME = 'x'\n\n\ndef f():\n    return LIMIT\n"
    warnings = _names_case(doc, "LIMIT = 10\n", "MAXIMUM = 10\n")
    assert any("`LIMIT`" in w for w in warnings)


def test_partial_selection_gives_no_name_warnings_but_no_crash() -> None:
    doc = "def f(a):\n    return a + 1\n"
    start = doc.index("a + 1")
    cand = build_candidate(doc, start, start + 5, "a + 2")
    assert validate.name_warnings("a + 1", cand.replacement, cand.new_text) == []


@settings(max_examples=150, deadline=None)
@given(documents, st.data())
def test_any_text_gives_a_verdict_or_invalid_python(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    try:
        validate.check_python(text, [(start, end)])
    except InvalidPython as exc:
        assert exc.message.startswith(("Syntax error at line", "The code is nested"))
    assert isinstance(validate.name_warnings(text[:start], text[start:end], text), list)


def test_name_warnings_look_where_the_replacement_is_not_at_an_earlier_copy() -> None:
    """The replacement's text (``pass``) also stands in an earlier class: searching for it
    found that copy and looked for uses of the lost name in the wrong class."""
    before = (
        "class A:\n"
        "    def f(self):\n"
        "        pass\n"
        "\n"
        "\n"
        "class B:\n"
        "    def f(self):\n"
        "        counter = 1\n"
        "\n"
        "    def g(self):\n"
        "        return counter\n"
    )
    start = before.index("        counter = 1\n")
    end = start + len("        counter = 1\n")
    replacement = "        pass\n"
    after = before[:start] + replacement + before[end:]
    span = (start, start + len(replacement))
    warned = validate.name_warnings(before[start:end], replacement, after, span)
    assert any("`counter` was assigned" in w for w in warned), warned
