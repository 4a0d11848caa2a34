"""Shaping the model's code into the document: indentation, line endings, imports."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from m21_lsp.pipeline.edits import apply_edits, minimal_edits
from m21_lsp.pipeline.shape import build_candidate, detect_indent_style, import_insertion_point
from pipeline_strategies import documents

SOURCES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"

GROW = (
    "async def grow(self, factor: float, delay: float = 0.0) -> float:\n"
    "    await asyncio.sleep(delay)\n"
    "    self.radius = self.radius * factor\n"
    "    return self.radius\n"
)


def _read(name: str) -> str:
    return (SOURCES / name).read_bytes().decode("utf-8")


def _method_range(text: str, first: str, last: str) -> tuple[int, int]:
    start = text.index(first)
    end = text.index(last, start) + len(last)
    return start, end


def _check_spans(doc: str, candidate) -> None:  # type: ignore[no-untyped-def]
    for s, e in candidate.changed_spans:
        assert 0 <= s <= e <= len(candidate.new_text)
    assert apply_edits(doc, minimal_edits(doc, candidate.new_text)) == candidate.new_text


def test_method_is_indented_into_its_class() -> None:
    doc = _read("shapes_classes.py")
    start, end = _method_range(doc, "    async def grow", "        return self.radius\n")
    cand = build_candidate(doc, start, end, GROW)
    assert cand.replacement == "".join("    " + line for line in GROW.splitlines(keepends=True))
    assert cand.new_text == doc[:start] + cand.replacement + doc[end:]
    assert cand.changed_spans == [(start, start + len(cand.replacement))]
    assert cand.hoisted_imports == []
    ast.parse(cand.new_text)
    _check_spans(doc, cand)


def test_tabs_file_gets_tabs_and_string_content_is_untouched() -> None:
    doc = _read("tabs_indented.py")
    start, end = _method_range(doc, "\tdef describe", "\t\treturn text + self.prefix\n")
    code = (
        "def describe(self):\n"
        '    text = """Config:\n'
        "\tprefix is kept exactly as written,\n"
        "  including this odd indentation.\n"
        '"""\n'
        "    return text + self.prefix\n"
    )
    cand = build_candidate(doc, start, end, code)
    assert cand.replacement == (
        "\tdef describe(self):\n"
        '\t\ttext = """Config:\n'
        "\tprefix is kept exactly as written,\n"
        "  including this odd indentation.\n"
        '"""\n'
        "\t\treturn text + self.prefix\n"
    )
    ns: dict[str, object] = {}
    exec(compile(cand.new_text, "tabs", "exec"), ns)
    assert ns["Config"]("P").describe() == ns["Config"]("P").describe()  # type: ignore[operator]
    assert "\tprefix is kept exactly as written,\n  including this odd" in cand.new_text


def test_two_space_file_converts_four_space_code() -> None:
    doc = "class A:\n  def m(self):\n    if self:\n      return 1\n    return 2\n"
    start = doc.index("  def m")
    code = "def m(self):\n    if not self:\n        return 2\n    return 1\n"
    cand = build_candidate(doc, start, len(doc), code)
    assert cand.replacement == "  def m(self):\n    if not self:\n      return 2\n    return 1\n"
    assert detect_indent_style(doc).unit == "  "


def test_crlf_document_stays_crlf() -> None:
    doc = _read("crlf_module.py")
    start, end = _method_range(doc, "def save", "handle)\r\n")
    code = "def save(path, names):\n    payload = [{'name': n, 'enabled': True} for n in names]\n    with open(path, 'w', encoding='utf-8') as handle:\n        json.dump(payload, handle)\n"
    cand = build_candidate(doc, start, end, code)
    assert "\n" not in cand.new_text.replace("\r\n", "")
    assert cand.replacement.endswith("\r\n")
    ast.parse(cand.new_text)
    _check_spans(doc, cand)


def test_selection_without_trailing_newline_keeps_that_shape() -> None:
    doc = _read("no_trailing_newline.py")
    start = doc.index("def last")
    cand = build_candidate(
        doc, start, len(doc), "def last(items):\n    return items[-1] if items else None\n"
    )
    assert not cand.new_text.endswith("\n")
    assert cand.new_text.endswith("return items[-1] if items else None")


def test_selection_with_trailing_blank_lines_keeps_them() -> None:
    doc = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    end = doc.index("def g")
    cand = build_candidate(doc, 0, end, "def f():\n    return 10\n")
    assert cand.new_text == "def f():\n    return 10\n\n\ndef g():\n    return 2\n"


def test_selection_starting_after_indentation_is_not_indented_twice() -> None:
    doc = "class A:\n    def m(self):\n        return 1\n"
    start = doc.index("def m")
    cand = build_candidate(doc, start, len(doc), "def m(self):\n    return 2\n")
    assert cand.new_text == "class A:\n    def m(self):\n        return 2\n"


def test_mid_line_expression_keeps_its_position() -> None:
    doc = "def f():\n    value = compute(1, 2)\n    return value\n"
    start = doc.index("compute")
    end = doc.index(")\n") + 1
    cand = build_candidate(doc, start, end, "compute(\n    1,\n    2,\n)")
    assert cand.new_text == (
        "def f():\n    value = compute(\n        1,\n        2,\n    )\n    return value\n"
    )


def test_selection_starting_at_end_of_previous_line_does_not_glue() -> None:
    doc = "x = 1\ndef f():\n    return 1\n"
    start = doc.index("\ndef f")
    cand = build_candidate(doc, start, len(doc), "def f():\n    return 2\n")
    assert cand.new_text == "x = 1\ndef f():\n    return 2\n"


def test_selection_ending_in_next_line_indentation_keeps_it() -> None:
    doc = "class A:\n    def m(self):\n        return 1\n    def n(self):\n        return 2\n"
    start = doc.index("    def m")
    end = doc.index("def n")
    cand = build_candidate(doc, start, end, "def m(self):\n    return 3\n")
    assert cand.new_text == doc.replace("return 1", "return 3")


def test_import_is_hoisted_to_the_end_of_the_import_block() -> None:
    doc = _read("shapes_classes.py")
    start, end = _method_range(doc, "    async def grow", "        return self.radius\n")
    cand = build_candidate(doc, start, end, "from pathlib import Path\nimport math\n\n" + GROW)
    assert cand.hoisted_imports == ["from pathlib import Path"]  # math already imported
    assert "from dataclasses import dataclass, field\nfrom pathlib import Path\n" in cand.new_text
    assert cand.new_text.count("import math") == 1
    assert "    async def grow" in cand.replacement and "import" not in cand.replacement
    a, b = cand.changed_spans[0]
    assert cand.new_text[a:b] == "from pathlib import Path\n"
    assert cand.new_text[slice(*cand.changed_spans[1])] == cand.replacement
    ast.parse(cand.new_text)
    _check_spans(doc, cand)


def test_partly_existing_from_import_adds_only_missing_names() -> None:
    doc = "from os import path\n\n\ndef f():\n    return path\n"
    start = doc.index("def f")
    cand = build_candidate(
        doc, start, len(doc), "from os import path, sep\n\ndef f():\n    return path, sep\n"
    )
    assert cand.hoisted_imports == ["from os import sep"]
    assert cand.new_text.startswith("from os import path\nfrom os import sep\n")


def test_import_goes_after_docstring_and_future_when_there_are_no_imports() -> None:
    doc = '"""Doc."""\nfrom __future__ import annotations\n\nX = 1\n\n\ndef f():\n    return X\n'
    start = doc.index("def f")
    cand = build_candidate(doc, start, len(doc), "import os\n\ndef f():\n    return os.sep\n")
    assert cand.new_text.startswith('"""Doc."""\nfrom __future__ import annotations\nimport os\n')
    ast.parse(cand.new_text)


def test_import_goes_after_docstring_only() -> None:
    doc = '"""Multi\nline doc."""\n\nX = 1\n\n\ndef f():\n    return X\n'
    assert import_insertion_point(doc) == len('"""Multi\nline doc."""\n')
    start = doc.index("def f")
    cand = build_candidate(doc, start, len(doc), "import os\ndef f():\n    return os.sep\n")
    assert cand.new_text.startswith('"""Multi\nline doc."""\n\nimport os\n\nX = 1')


def test_import_at_start_of_file_without_docstring_or_imports() -> None:
    doc = "#!/usr/bin/env python\nX = 1\n\n\ndef f():\n    return X\n"
    assert import_insertion_point(doc) == len("#!/usr/bin/env python\n")


def test_import_never_goes_into_the_middle_of_the_file() -> None:
    doc = "import os\n\nX = 1\nimport sys\n\n\nclass A:\n    def m(self):\n        return 1\n"
    start = doc.index("    def m")
    cand = build_candidate(doc, start, len(doc), "import re\ndef m(self):\n    return re\n")
    assert cand.new_text.startswith("import os\nimport re\n\nX = 1\nimport sys\n")
    assert "class A:\n    def m(self):\n        return re\n" in cand.new_text


def test_multiline_import_is_hoisted_whole() -> None:
    doc = "import os\n\n\ndef f():\n    pass\n"
    start = doc.index("def f")
    code = (
        "from typing import (\n    Any,\n    Optional,\n)\n\ndef f() -> Optional[Any]:\n    pass\n"
    )
    cand = build_candidate(doc, start, len(doc), code)
    assert cand.new_text.startswith("import os\nfrom typing import (\n    Any,\n    Optional,\n)\n")
    ast.parse(cand.new_text)


def test_selected_import_block_is_not_hoisted() -> None:
    doc = "import sys\nimport os\n\nX = 1\n"
    end = doc.index("\nX")
    cand = build_candidate(doc, 0, end, "import os\nimport sys\n\n")
    assert cand.hoisted_imports == []
    assert cand.new_text == "import os\nimport sys\n\nX = 1\n"


def test_crlf_hoisted_import_uses_crlf() -> None:
    doc = _read("crlf_module.py")
    start, end = _method_range(doc, "def save", "handle)\r\n")
    cand = build_candidate(
        doc, start, end, "import os\ndef save(path, names):\n    return os.sep\n"
    )
    assert "import json\r\nimport os\r\n" in cand.new_text
    assert "\n" not in cand.new_text.replace("\r\n", "")


def test_non_python_document_is_reindented_without_hoisting() -> None:
    doc = "function f() {\r\n\tif (x) {\r\n\t\treturn 1;\r\n\t}\r\n}\r\n"
    start = doc.index("\tif")
    end = doc.index("\t}\r\n") + 4
    cand = build_candidate(
        doc, start, end, "import x from 'y';\nif (y) {\n    return 2;\n}\n", is_python=False
    )
    assert cand.hoisted_imports == []
    assert "\tif (y) {\r\n\t\treturn 2;\r\n\t}\r\n" in cand.new_text


def test_unicode_document() -> None:
    doc = _read("unicode_text.py")
    start, end = _method_range(doc, "    def render", '{line}"\n')
    code = 'def render(self, width: int = 20) -> str:\n    line = "═" * width  # 边框 ✨\n    return "\\n".join([line, self.title.center(width), line])\n'
    cand = build_candidate(doc, start, end, code)
    assert (
        '    def render(self, width: int = 20) -> str:\n        line = "═" * width  # 边框 ✨\n'
        in cand.new_text
    )
    ast.parse(cand.new_text)
    _check_spans(doc, cand)


@st.composite
def _documents(draw: st.DrawFn) -> tuple[str, int, int, str, str]:
    unit = draw(st.sampled_from(["\t", "  ", "    "]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    final_newline = draw(st.booleans())
    words = draw(
        st.lists(st.sampled_from(["😀", "中文", "é", "x", "tab\there"]), min_size=1, max_size=4)
    )
    odd = "".join(draw(st.lists(st.sampled_from([" ", "\t", "  x", "y"]), max_size=4)))
    code = (
        "def method(self, value):\n"
        f"    text = '''first\n{odd}middle {' '.join(words)}\n  last'''\n"
        "    if value:\n"
        "        return text\n"
        f"    return {''.join(words)!r}\n"
    )
    before = [
        "import os",
        "",
        "",
        "class Holder:",
        f"{unit}def keep(self):",
        f"{unit * 2}return 1",
        "",
    ]
    selected = [f"{unit}def method(self, value):", f"{unit * 2}return None"]
    after = ["", f"{unit}def other(self):", f"{unit * 2}return 2"]
    doc_lines = before + selected + after
    doc = eol.join(doc_lines) + (eol if final_newline else "")
    start = len(eol.join(before)) + len(eol)
    end = start + len(eol.join(selected)) + len(eol)
    return doc, start, end, code, eol


@settings(max_examples=60, deadline=None)
@given(_documents())
def test_shaped_method_always_fits(case: tuple[str, int, int, str, str]) -> None:
    doc, start, end, code, eol = case
    unit = doc.split("def keep")[0].rsplit("\n", 1)[-1]
    cand = build_candidate(doc, start, end, code)
    new = cand.new_text
    assert new.startswith(doc[:start]) and new.endswith(doc[end:])
    if eol == "\r\n":
        assert "\n" not in new.replace("\r\n", "")
    tree = ast.parse(new)
    holder = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    method = next(n for n in holder.body if isinstance(n, ast.FunctionDef) and n.name == "method")
    assign = method.body[0]
    assert isinstance(assign, ast.Assign)
    written = ast.parse(code).body[0].body[0].value.value  # type: ignore[attr-defined]
    # The reply is in the prompt's frame (the selection with its common indentation, one
    # ``unit``, taken off every line): string lines get that indentation back too, so a
    # string the model repeats from the prompt keeps the value it has in the file.
    first, *rest = written.split("\n")
    expected = "\n".join([first, *(unit + line for line in rest)])
    assert assign.value.value == expected  # type: ignore[attr-defined]
    _check_spans(doc, cand)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_document_and_code_keep_the_outside_intact(data: st.DataObject) -> None:
    """Whatever the text, the candidate only changes the selection (plus an import block
    before it), its spans point at what changed, and CRLF documents get no bare LF."""
    doc = data.draw(documents)
    start = data.draw(st.integers(0, len(doc)))
    end = data.draw(st.integers(start, len(doc)))
    # LSP and the CLI cannot name an offset between the halves of a CRLF.
    assume(doc[start - 1 : start + 1] != "\r\n" and doc[end - 1 : end + 1] != "\r\n")
    code = data.draw(documents)
    is_python = data.draw(st.booleans())
    cand = build_candidate(doc, start, end, code, is_python=is_python)
    new = cand.new_text
    # The replaced range starts at the selection, or at its line start when the reply
    # changes the indentation in front of it.
    assert cand.start == start or (cand.start < start and not doc[cand.start : start].strip())
    start = cand.start
    if not cand.hoisted_imports:
        assert new == doc[:start] + cand.replacement + doc[end:]
        assert cand.changed_spans == [(start, start + len(cand.replacement))]
    else:
        insert = cand.changed_spans[0]
        block = new[insert[0] : insert[1]]
        assert (
            new == doc[: insert[0]] + block + doc[insert[0] : start] + cand.replacement + doc[end:]
        )
    for s, e in cand.changed_spans:
        assert 0 <= s <= e <= len(new)
    if "\n" not in doc.replace("\r\n", "") and "\r\n" in doc:
        assert "\n" not in cand.replacement.replace("\r\n", "")


def test_hanging_indents_do_not_set_the_block_unit() -> None:
    doc = "class A:\n\tdef m(self):\n\t\treturn 1\n"
    code = (
        "def m(self):\n    x = call(a,\n      b)\n    if x:\n"
        "        return [\n          1,\n        ]\n    return 2\n"
    )
    cand = build_candidate(doc, doc.index("\tdef"), len(doc), code)
    assert cand.replacement == (
        "\tdef m(self):\n\t\tx = call(a,\n\t\t  b)\n\t\tif x:\n"
        "\t\t\treturn [\n\t\t\t  1,\n\t\t\t]\n\t\treturn 2\n"
    )
    ast.parse(cand.new_text)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_candidates_with_equal_keys_have_equal_texts(data: st.DataObject) -> None:
    """The pipeline skips a reading whose candidate key it has seen (instead of hashing
    the whole new document): that is only sound if equal keys mean equal documents."""
    doc = data.draw(documents)
    start = data.draw(st.integers(0, len(doc)))
    end = data.draw(st.integers(start, len(doc)))
    assume(doc[start - 1 : start + 1] != "\r\n" and doc[end - 1 : end + 1] != "\r\n")
    code = data.draw(documents | st.sampled_from(["import os\nx = os.sep\n"]))
    # The same code with one character changed: a same-length edit is what a key made of
    # positions and lengths alone would miss.
    at = data.draw(st.integers(0, max(len(code) - 1, 0)))
    twin = code[:at] + ("y" if code[at : at + 1] == "x" else "x") + code[at + 1 :]
    codes = [code, twin]
    built = [
        build_candidate(doc, start, end, code, force_reindent=force)
        for code in codes
        for force in (False, True)
    ]
    for a in built:
        for b in built:
            if a.key == b.key:
                assert a.new_text == b.new_text
