"""Issue 19, section 3: edits that differed from the reply in whitespace, or were refused.

The rule: a line the reply did not change keeps its original bytes; a line added at the
selection's edge in a wrapped or whole-file reply belongs to the selection. Each document
and expected result is written out here by hand, and each runs through the real pipeline.
"""

from __future__ import annotations

import asyncio

import pytest
from corpus import _OneReply
from m21_lsp.config import Settings
from m21_lsp.pipeline import run as pipeline


def _refactor(text: str, start: int, end: int, code: str) -> str:
    reply = f"<think>\nReview it.\n</think>\n\n```python\n{code}```\n"
    request = pipeline.RefactorRequest(text=text, start=start, end=end, path="m.py")
    result = asyncio.run(pipeline.refactor(request, Settings(repair_turns=0), _OneReply(reply)))
    return result.new_text


def test_a_comment_above_module_statements_after_a_function_is_applied() -> None:
    """The issue's repro (found on uuid.py's namespace constants): it was refused with
    "the edit would put `f` outside the selection"."""
    text = "def f():\n    return 1\n\n\nA = 1\nB = 2\n"
    start = text.index("A = 1")
    new = _refactor(text, start, len(text), "# Reviewed.\nA = 1\nB = 2\n")
    assert new == "def f():\n    return 1\n\n\n# Reviewed.\nA = 1\nB = 2\n"


CLASS = "class K:\n    def a(self):\n        return 1\n\n    def g(self):\n        return 2\n"
CLASS_REVIEWED = CLASS.replace("    def g", "    # Reviewed.\n    def g")


@pytest.mark.parametrize(
    "reply",
    [CLASS_REVIEWED, "class K:\n    # Reviewed.\n    def g(self):\n        return 2\n"],
    ids=["whole-file", "wrapped"],
)
def test_a_line_added_just_above_the_selection_belongs_to_it(reply: str) -> None:
    """It was counted outside the selection and dropped: the result was "unchanged"."""
    start = CLASS.index("    def g")
    assert _refactor(CLASS, start, len(CLASS), reply) == CLASS_REVIEWED


def test_comments_the_reply_repeats_from_above_the_selection_stay_context() -> None:
    text = (
        "def run(cls):\n    # Make a new class.\n    #  (slots cannot be set later)\n"
        "    names = list(cls)\n    return names\n"
    )
    start = text.index("    names")
    end = text.index("    return")
    reply = "def run(cls):\n    # Make a new class.\n    #  (slots cannot be set later)\n    names = tuple(cls)\n"
    new = _refactor(text, start, end, reply)
    assert new == text.replace("list(cls)", "tuple(cls)")


def test_a_whole_file_reply_with_a_comment_above_a_module_function() -> None:
    text = "import os\n\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"
    start = text.index("def g")
    expected = text.replace("def g", "# Reviewed.\ndef g")
    assert _refactor(text, start, len(text), expected) == expected


TABS = (
    "class C:\n"
    "\tdef m(self, x):\n"
    '\t\tmessage = ("first part "\n'
    '\t\t\t   "second part")\n'
    "\t\treturn message\n"
)


@pytest.mark.parametrize("rename", [False, True])
def test_tab_and_space_continuation_lines_keep_their_bytes(rename: bool) -> None:
    """Aligned with a tab past the statement, then spaces: a reply written in spaces gave
    ``\\t\\t       "…"`` (two tabs, seven spaces) for ``\\t\\t\\t   "…"``."""
    reply = (
        "def m(self, x):\n"
        '    message = ("first part "\n'
        '           "second part")\n'
        "    return message\n"
    )
    expected = TABS
    if rename:
        reply, expected = reply.replace("message", "text"), TABS.replace("message", "text")
    assert _refactor(TABS, TABS.index("\tdef m"), len(TABS), reply) == expected


STRINGS = (
    "class C:\n"
    "\tdef m(self):\n"
    '\t\t"""Run it.\n'
    "\n"
    "\t\tMore words.\n"
    '\t\t"""\n'
    '\t\tsql = """\n'
    "\t\t\tSELECT *\n"
    "\t\tFROM t\n"
    '\t\t"""\n'
    "\t\treturn sql\n"
)


@pytest.mark.parametrize(
    "reply",
    [
        # The method written in spaces throughout, the strings' tabs as spaces too.
        STRINGS[STRINGS.index("\tdef m") :].replace("\n\t", "\n")[1:].replace("\t", "    "),
        # Repeating the class, in spaces throughout.
        STRINGS.replace("\t", "    "),
        # Repeating the class: statements in spaces, the strings copied from the file.
        "\n".join(
            line if k in (3, 4, 5, 7, 8, 9) else line.replace("\t", "    ")
            for k, line in enumerate(STRINGS.split("\n"))
        ),
    ],
    ids=["method-spaces", "wrapped-spaces", "wrapped-strings-as-in-file"],
)
def test_spaces_for_tabs_around_multiline_strings_are_not_refused(reply: str) -> None:
    """Refused with "would change the indentation inside the multi-line string" although
    the strings' content was what the file holds (the model wrote spaces for tabs)."""
    start = STRINGS.index("\tdef m")
    changed = reply.replace("return sql", "return sql.strip()")
    expected = STRINGS.replace("return sql", "return sql.strip()")
    assert _refactor(STRINGS, start, len(STRINGS), changed) == expected


def test_a_continuation_in_spaces_under_a_reply_with_no_nested_statement() -> None:
    """imaplib's ``pwd = (… if …\\n<11 tabs, a space>else self.password)`` in a tab file,
    given back in spaces: no nesting to read the reply's unit from, so the continuation
    stayed ``\\t\\t`` plus 37 spaces."""
    text = (
        "class C:\n"
        "\tdef auth(self):\n"
        "\t\tpwd = (self.password.encode('utf-8') if isinstance(self.password, str)\n"
        "\t\t\t\t\t\t\t\t\t\t\t else self.password)\n"
        "\t\treturn pwd\n"
    )
    start = text.index("\t\tpwd")
    end = text.index("\t\treturn")
    reply = (
        "pwd = (self.password.encode('utf-8') if isinstance(self.password, str)\n"
        + " " * 37
        + "else self.password)\n"
    )
    assert _refactor(text, start, end, reply) == text


def test_a_sibling_above_that_reads_alike_is_not_cut_as_context() -> None:
    """libcst's gen_matcher_classes.py: ``class Field`` repeats ``class Alias``'s decorator and
    fields; a reply that gave ``Field`` back had its head cut as context, leaving a bare
    ``aliases: List[Alias]`` (valid Python, so it was applied)."""
    text = (
        "_seen = set()\n\n\n"
        "@dataclass(frozen=True)\nclass Alias:\n\tname: str\n\ttype: str\n\n\n"
        "@dataclass(frozen=True)\nclass Field:\n\tname: str\n\ttype: str\n\taliases: List[Alias]\n\n\n"
        "def f():\n\treturn 1\n"
    )
    start = text.index("@dataclass(frozen=True)\nclass Field")
    end = text.index("\n\n\ndef f") + 1
    reply = (
        "@dataclass(frozen=True)\nclass Field:\n\tname: str\n\ttype: str\n\taliases: List[Alias]\n"
    )
    assert _refactor(text, start, end, reply) == text
