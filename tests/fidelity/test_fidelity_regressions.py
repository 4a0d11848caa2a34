"""One test per fault the fidelity issue names, through the real pipeline.

The documents are shaped like the standard-library code where the faults were seen
(a method far below its class header, docstrings with continuation lines, three-space
indentation); every expected document is written out by hand.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from corpus import _OneReply
from m21_lsp.config import Settings
from m21_lsp.errors import ReplyError, StructureError
from m21_lsp.pipeline import outline
from m21_lsp.pipeline import run as pipeline

DOC = '''\
import os


class Scheduler:
    """Run events at given times."""

    def __init__(self, timefunc=os.times, delayfunc=None):
        """Initialize a new instance.

        The times are returned by timefunc.
        """
        self._queue = []
        self.timefunc = timefunc

    def enter(self, delay, action):
        """Add an event.

        A relative time is used.
        """
        time = self.timefunc() + delay
        return self.enterabs(time, action)

    def empty(self):
        return not self._queue

    def run(self, blocking=True):
        """Execute events until the queue is empty."""
        queue = self._queue
        while queue:
            event = queue.pop()
            event()
        return blocking
'''


def _refactor(text: str, first: str, last: str, reply_code: str, instruction: str | None = None):  # type: ignore[no-untyped-def]
    start = text.index(first)
    start = text.rfind("\n", 0, start) + 1
    end = text.index(last, start) + len(last)
    reply = f"<think>\nThe method is fine.\n</think>\n\nHere it is:\n\n```python\n{reply_code}```\n"
    req = pipeline.RefactorRequest(
        text=text, start=start, end=end, path="sched.py", instruction=instruction
    )
    return asyncio.run(pipeline.refactor(req, Settings(repair_turns=0), _OneReply(reply)))


RUN_SHOWN = '''\
def run(self, blocking=True):
    """Execute events until the queue is empty."""
    queue = self._queue
    while queue:
        event = queue.pop()
        event()
    return blocking
'''
RUN_NEW = RUN_SHOWN.replace("queue.pop()", "queue.pop(0)")
ENTER_SHOWN = '''\
def enter(self, delay, action):
    """Add an event.

    A relative time is used.
    """
    time = self.timefunc() + delay
    return self.enterabs(time, action)
'''


def _indent(code: str, prefix: str = "    ") -> str:
    return "".join(prefix + ln if ln.strip() else ln for ln in code.splitlines(keepends=True))


@pytest.mark.parametrize(
    "wrapper",
    [
        "class Scheduler:\n" + _indent(RUN_NEW),
        'class Scheduler:\n    """Run events at given times."""\n\n' + _indent(RUN_NEW),
        "class Scheduler:\n    # ... other methods unchanged ...\n\n" + _indent(RUN_NEW),
        "import os\n\n\nclass Scheduler:\n    def empty(self):\n        return not self._queue\n\n"
        + _indent(RUN_NEW),
    ],
    ids=["header", "docstring", "placeholder", "siblings"],
)
def test_a_repeated_class_header_far_above_the_method_is_taken_out(wrapper: str) -> None:
    result = _refactor(DOC, "    def run(", "return blocking\n", wrapper)
    assert result.new_text == DOC.replace("queue.pop()", "queue.pop(0)")


def test_a_dunder_method_in_its_class_header_stays_the_classes_init() -> None:
    init = DOC[DOC.index("    def __init__") : DOC.index("    def enter")].rstrip("\n") + "\n"
    new = init.replace("self._queue = []", "self._queue: list = []")
    reply = "class Scheduler:\n" + new
    result = _refactor(DOC, "    def __init__", "self.timefunc = timefunc\n", reply)
    assert result.new_text == DOC.replace("self._queue = []", "self._queue: list = []")


def test_a_reply_that_repeats_the_prompt_leaves_docstrings_unchanged() -> None:
    result = _refactor(DOC, "    def enter(", "return self.enterabs(time, action)\n", ENTER_SHOWN)
    assert not result.changed and result.edits == []


def test_a_changed_method_keeps_its_docstrings_value() -> None:
    result = _refactor(
        DOC,
        "    def enter(",
        "return self.enterabs(time, action)\n",
        ENTER_SHOWN.replace("time = self", "when = self").replace(
            "(time, action)", "(when, action)"
        ),
    )
    assert result.new_text == DOC.replace("        time = self", "        when = self").replace(
        "enterabs(time, action)", "enterabs(when, action)"
    )
    assert (
        '        """Add an event.\n\n        A relative time is used.\n        """'
        in result.new_text
    )


THREE = '''\
class Parser:
   def parse(self, text):
      """Parse text.

        Odd docstring indentation.
      """
      result = call(text,
                    1)
      if result:
         return result
      return None
'''


def test_an_odd_indent_width_is_read_from_code_lines_only() -> None:
    """Three-space code whose docstring and continuation lines sit at other widths: a
    four-space reply comes back in threes, and the string keeps its value."""
    reply = (
        'def parse(self, text):\n    """Parse text.\n\n      Odd docstring indentation.\n    """\n'
        "    result = call(text,\n                  1)\n    if result:\n        return result\n"
        "    return None  # nothing\n"
    )
    result = _refactor(THREE, "   def parse", "return None\n", reply)
    assert result.new_text == THREE.replace("return None\n", "return None  # nothing\n")


def test_a_reply_in_the_files_own_indentation_is_kept() -> None:
    shown = "\n".join(line[3:] for line in THREE.splitlines()[1:]) + "\n"
    result = _refactor(THREE, "   def parse", "return None\n", shown)
    assert not result.changed


def test_a_wrapper_that_cannot_be_placed_is_refused_with_what_it_did() -> None:
    """Statements of ``run`` answered inside ``class Scheduler:`` without ``def run``: no
    reading keeps ``run`` a method, so the edit is refused and says why."""
    reply = "class Scheduler:\n    queue = self._queue\n    while queue:\n        queue.pop()()\n"
    with pytest.raises(StructureError) as err:
        _refactor(DOC, "        queue = self._queue", "            event()\n", reply)
    assert "nests `class Scheduler`" in err.value.message
    assert "Nothing was changed" in err.value.message


def test_a_wrapper_that_adds_code_outside_the_selection_is_refused() -> None:
    reply = "def helper():\n    return 1\n\n\nclass Scheduler:\n" + _indent(RUN_NEW)
    with pytest.raises(ReplyError) as err:
        _refactor(DOC, "    def run(", "return blocking\n", reply)
    assert "`helper`" in err.value.message


def test_a_lost_dunder_method_is_a_warning() -> None:
    init_end = "self.timefunc = timefunc\n"
    result = _refactor(
        DOC, "    def __init__", init_end, "def setup(self):\n    self._queue = []\n"
    )
    assert any("`__init__`" in w for w in result.warnings)


def test_the_guard_names_a_method_nested_in_a_second_class() -> None:
    start = DOC.index("    def run(")
    nested = "    class Scheduler:\n" + _indent(_indent(RUN_SHOWN))
    new = DOC[:start] + nested
    problem = outline.check(DOC, (start, len(DOC)), new, (start, len(new)))
    assert problem == "the reply nests `class Scheduler` inside `Scheduler`"


def test_the_guard_sees_a_shifted_docstring() -> None:
    start = DOC.index("    def enter(")
    end = DOC.index("    def empty")
    shifted = DOC[start:end].replace("        A relative", "    A relative")
    new = DOC[:start] + shifted + DOC[end:]
    problem = outline.check(DOC, (start, end), new, (start, start + len(shifted)))
    assert problem is not None and "multi-line string" in problem


def test_the_guard_accepts_an_honest_edit() -> None:
    start = DOC.index("    def run(")
    new = DOC.replace("queue.pop()", "queue.pop(0)")
    assert outline.check(DOC, (start, len(DOC)), new, (start, len(new))) is None


def test_the_selection_in_an_else_branch_of_a_repeated_header_is_found() -> None:
    """importlib's bootstrap module opens two blocks with ``if _MS_WINDOWS:``; the second
    ``_path_isabs`` sits in the second one's ``else``. The whole file repeated must be
    "unchanged", not the first block's imports spliced over the function."""
    import importlib._bootstrap_external as module

    text = Path(module.__file__).read_text(encoding="utf-8")
    first = text.index("    def _path_isabs(path):", text.index("\nelse:\n    def _path_isabs"))
    start = first + 4  # an editor selection that starts at the code
    end = text.index("return path.startswith(path_separators)", start) + len(
        "return path.startswith(path_separators)"
    )
    reply = f"<think>\nSame.\n</think>\n\n```python\n{text}```\n"
    req = pipeline.RefactorRequest(text=text, start=start, end=end, path="boot.py")
    result = asyncio.run(pipeline.refactor(req, Settings(repair_turns=0), _OneReply(reply)))
    assert not result.changed


PROXY = """\
class Proxy:
    def __getattr__(self, key):
        hook = getattr(self._inner, key)
        if key not in self.wrapped:
            return hook
        else:

            def fixed(**kw):
                kw.pop("path", None)
                return hook(**kw)

            return fixed
"""


def test_a_wrapper_that_leaves_out_an_if_between_its_headers_is_taken_out() -> None:
    """Models repeat ``class`` and ``def`` headers but skip the ``else:`` the selection
    sits in (seen in pytest's compat module)."""
    reply = (
        "class Proxy:\n    def __getattr__(self, key):\n        def fixed(**kw):\n"
        '            kw.pop("path")\n            return hook(**kw)\n'
    )
    result = _refactor(PROXY, "            def fixed", "return hook(**kw)\n", reply)
    assert result.new_text == PROXY.replace('kw.pop("path", None)', 'kw.pop("path")')


NAMED = '''\
class Worker:
    """A thread of control."""

    def __init__(self, name):
        self._name = name

    @property
    def name(self):
        """A string used for identification purposes only."""
        return self._name

    @name.setter
    def name(self, name):
        self._name = str(name)

    def is_alive(self):
        return True
'''


@pytest.mark.parametrize("change", ["none", "comment"])
def test_a_property_getter_is_told_from_its_setter_in_a_whole_class_reply(change: str) -> None:
    """threading.py's ``Thread.name``: the reply repeats the whole class, and the selected
    getter shares its name with the setter below it. The setter, written as the document
    has it, is a sibling, so the edit covers the getter alone (before: the getter's lines
    were replaced by getter and setter, and the file had the setter twice)."""
    getter = (
        "    @property\n    def name(self):\n"
        '        """A string used for identification purposes only."""\n'
        "        return self._name\n"
    )
    new_getter = getter
    if change == "comment":
        new_getter = getter.replace("        return", "        # Reviewed.\n        return")
    reply = NAMED.replace(getter, new_getter)
    result = _refactor(NAMED, "    @property", "        return self._name\n", reply)
    assert result.new_text == NAMED.replace(getter, new_getter)


TABBED = (
    "def assert_outcomes(outcomes, passed=0, failed=0):\n"
    "\trealpassed, realfailed = outcomes\n"
    "\tobtained = {\n"
    '\t\t"passed": len(realpassed),\n'
    '\t\t"failed": len(realfailed),\n'
    "\t}\n"
    '\texpected = {"passed": passed, "failed": failed}\n'
    "\tassert obtained == expected, outcomes\n"
)


def test_a_reply_in_four_spaces_gets_the_tab_files_hanging_indents_back() -> None:
    """pytest's pytester_assertions.py, tab-indented: the reply repeats the statements in
    four-space indentation, and its only indented lines are a dict's items. Their indent
    is the reply's unit, so they get the file's tab back (before: ``\\t    "passed"``)."""
    reply = (
        "obtained = {\n"
        '    "passed": len(realpassed),\n'
        '    "failed": len(realfailed),\n'
        "}\n"
        'expected = {"passed": passed, "failed": failed}\n'
        "assert obtained == expected, outcomes\n"
    )
    result = _refactor(TABBED, "\tobtained = {", "outcomes\n", reply)
    assert result.new_text == TABBED
    assert not result.changed


REPORT = """\
import linecache


def text(einfo, context=5):
    # Return a plain text document describing a given traceback.
    head = "%s\\n%s\\n%s\\n" % (str(etype), pyver, date) + '''
A problem occurred in a Python script.  Here is the sequence of
function calls leading up to the error, in the order they occurred.
'''

    frames = []
    for file, lnum in einfo:
        highlight = {}
        def reader(lnum=[lnum]):
            highlight[lnum[0]] = 1
            try: return linecache.getline(file, lnum[0])
            finally: lnum[0] += 1
        frames.append(reader())
    return head + ''.join(frames) + '''

The above is a description of an error in a Python program.
'''
"""


def test_a_string_written_at_column_0_inside_the_function_is_not_its_end() -> None:
    """cgitb.py (seed 19): lines of a string literal at column 0 inside ``text`` looked
    like top-level statements, so the blocks around a nested ``def reader`` were not found,
    and a reply repeating it under ``def text`` (without the ``for``) was refused as a
    nested ``text``. The enclosing blocks are now found from a proven boundary."""
    reply = (
        "def text(einfo, context=5):\n"
        "    def reader(lnum=[lnum]):\n"
        "        highlight[lnum[0]] = 1\n"
        "        try: return linecache.getline(file, lnum[0])\n"
        "        finally: lnum[0] += 1\n"
    )
    result = _refactor(REPORT, "        def reader", "finally: lnum[0] += 1\n", reply)
    assert result.new_text == REPORT
