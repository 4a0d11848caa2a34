"""Prompts: the rules the model gets, the dedented selection, bounded context."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from m21_lsp.pipeline import prompt
from m21_lsp.pipeline.extract import find_blocks
from pipeline_strategies import documents

SOURCES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"


def _grow(text: str) -> tuple[int, int]:
    start = text.index("    async def grow")
    end = text.index("        return self.radius\n") + len("        return self.radius\n")
    return start, end


def test_system_prompt_states_the_contract() -> None:
    text = (SOURCES / "shapes_classes.py").read_text()
    system, user = prompt.refactor_messages(text, *_grow(text))
    assert system["role"] == "system" and user["role"] == "user"
    rules = user["content"].split("Selected code", 1)[1]  # the rules follow the code
    assert "exactly one fenced code block" in rules
    assert "complete" in rules and "replacement" in rules
    assert "Preserve behaviour" in rules
    assert "signatures" in rules
    assert "`...`" in rules  # no placeholders
    assert "import" in rules  # where new imports go (Python)


def test_default_instruction_when_none_given() -> None:
    text = (SOURCES / "shapes_classes.py").read_text()
    _, user = prompt.refactor_messages(text, *_grow(text))
    assert prompt.DEFAULT_INSTRUCTION in user["content"]
    _, user = prompt.refactor_messages(text, *_grow(text), instruction="  ")
    assert prompt.DEFAULT_INSTRUCTION in user["content"]


def test_custom_instruction_replaces_default() -> None:
    text = (SOURCES / "shapes_classes.py").read_text()
    _, user = prompt.refactor_messages(text, *_grow(text), instruction="Add type hints")
    assert "Instruction: Add type hints" in user["content"]
    assert prompt.DEFAULT_INSTRUCTION not in user["content"]


def test_fix_variant_lists_diagnostics() -> None:
    text = (SOURCES / "shapes_classes.py").read_text()
    system, user = prompt.refactor_messages(
        text, *_grow(text), diagnostics=("F841 local variable 'x' is assigned but never used",)
    )
    assert "fix the problems" in user["content"]
    assert "exactly one fenced code block" in user["content"]
    assert system == prompt.refactor_messages(text, *_grow(text))[0]  # one system prompt
    assert "- F841 local variable 'x' is assigned but never used" in user["content"]
    assert prompt.DEFAULT_INSTRUCTION not in user["content"]


def test_selection_is_sent_dedented_and_last_block_round_trips() -> None:
    text = (SOURCES / "shapes_classes.py").read_text()
    start, end = _grow(text)
    _, user = prompt.refactor_messages(text, start, end)
    blocks = find_blocks(user["content"])
    selected = blocks[-1].code
    assert selected.startswith("async def grow(self")
    assert "\n    await asyncio.sleep(delay)\n" in selected
    assert "4 column(s)" in user["content"]


def test_context_has_imports_enclosing_class_and_nearby_lines() -> None:
    text = (SOURCES / "shapes_classes.py").read_text()
    _, user = prompt.refactor_messages(text, *_grow(text), path="/home/someone/shapes_classes.py")
    content = user["content"]
    assert "import asyncio\n" in content
    assert "from dataclasses import dataclass, field" in content
    assert "class Circle(Shape):" in content
    assert "def __init__(self, name: str, radius: float)" in content  # nearby, above
    assert "def total_area" in content  # nearby, below
    assert "shapes_classes.py" in content and "/home/someone" not in content


def test_context_lines_zero_sends_no_nearby_code() -> None:
    text = (SOURCES / "shapes_classes.py").read_text()
    _, user = prompt.refactor_messages(text, *_grow(text), context_lines=0)
    assert "just above" not in user["content"] and "just below" not in user["content"]


def test_fence_is_longer_than_backticks_inside() -> None:
    assert prompt.fence_for("x = 1\n") == "```"
    assert prompt.fence_for('"""\n```\ncode\n```\n"""') == "````"
    assert prompt.fence_for("a = '`````'") == "``````"


def test_selection_with_backtick_fence_inside_cannot_escape() -> None:
    text = 'def f():\n    """Example:\n\n    ```\n    f()\n    ```\n    """\n    return 1\n'
    _, user = prompt.refactor_messages(text, 0, len(text), context_lines=0)
    blocks = find_blocks(user["content"])
    assert blocks[-1].code == text
    assert "````python\n" in user["content"]


def test_crlf_document_prompt_has_no_carriage_returns() -> None:
    text = (SOURCES / "crlf_module.py").read_bytes().decode()
    assert "\r\n" in text
    start = text.index("def save")
    messages = prompt.refactor_messages(text, start, len(text))
    assert all("\r" not in m["content"] for m in messages)


def test_prompt_size_is_bounded_for_huge_files() -> None:
    imports = "".join(f"import module_{n}\n" for n in range(3000))
    body = "".join(
        f"def f{n}(x):\n    return x + {n}  # {'long comment ' * 40}\n\n" for n in range(20_000)
    )
    text = imports + body
    start = text.index("def f10000(")
    end = text.index("def f10001(")
    messages = prompt.refactor_messages(text, start, end, context_lines=200)
    small = "import os\n\ndef f(x):\n    return x\n"
    baseline = prompt.estimate_tokens(prompt.refactor_messages(small, 11, len(small)))
    size = prompt.estimate_tokens(messages)
    assert size < baseline + prompt.CONTEXT_BUDGET  # budget chars ≈ far fewer tokens
    assert len(messages[1]["content"]) < 3 * prompt.CONTEXT_BUDGET


def test_minified_long_lines_are_clipped() -> None:
    text = "x = [" + ", ".join(str(n) for n in range(50_000)) + "]\n" + "def f():\n    return x\n"
    start = text.index("def f")
    _, user = prompt.refactor_messages(text, start, len(text))
    assert len(user["content"]) < prompt.CONTEXT_BUDGET


def test_non_python_document_uses_its_language() -> None:
    text = "function add(a, b) {\n  return a + b;\n}\n"
    system, user = prompt.refactor_messages(text, 0, len(text), language_id="javascript")
    assert "(```javascript)" in user["content"]
    assert "import line at the very top" not in user["content"]
    assert "JavaScript engineer" in system["content"]
    assert "```javascript\nfunction add" in user["content"]


def test_explain_messages() -> None:
    text = (SOURCES / "shapes_classes.py").read_text()
    system, user = prompt.explain_messages(text, *_grow(text))
    assert "Markdown" in system["content"]
    assert "async def grow" in user["content"]
    assert "Explain the selected code." in user["content"]


def test_repair_keeps_conversation_and_raw_reply() -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    raw = "<think>\nI will write code\n</think>\n\n```python\ndef f(:\n```\n"
    repaired = prompt.repair_messages(messages, raw, "Syntax error at line 3: bad")
    assert repaired[:2] == messages
    assert len(messages) == 2  # not mutated
    assert repaired[2] == {"role": "assistant", "content": raw}
    assert repaired[3]["role"] == "user"
    assert "Syntax error at line 3: bad" in repaired[3]["content"]
    assert "one fenced code block" in repaired[3]["content"]


def test_estimate_tokens() -> None:
    assert prompt.estimate_tokens("") == 0
    assert prompt.estimate_tokens("abc" * 100) == 100
    assert prompt.estimate_tokens("中文" * 50) == 100  # one token per CJK character
    messages = [{"role": "user", "content": "abc" * 10}]
    assert prompt.estimate_tokens(messages) == 10 + 4 + 2


def test_dedent_selection_mid_line_keeps_first_line() -> None:
    text = "def f():\n    x = call(1,\n             2)\n"
    start = text.index("call")
    selected, indent = prompt.dedent_selection(text, start, len(text))
    assert selected.startswith("call(1,\n")
    assert indent == " " * 13


@settings(max_examples=150, deadline=None)
@given(documents, st.data())
def test_any_selection_round_trips_through_its_fence(text: str, data: st.DataObject) -> None:
    """Whatever the document, the selected code block in the prompt is exactly the
    dedented selection (fences never collide) and nothing crashes."""
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    language = data.draw(st.sampled_from(["python", "javascript", ""]))
    messages = prompt.refactor_messages(text, start, end, language_id=language)
    expected, _ = prompt.dedent_selection(text, start, end)
    block = find_blocks(messages[1]["content"])[-1]
    assert block.terminated
    assert block.code.rstrip("\n") == expected.rstrip("\n")
    assert prompt.explain_messages(text, start, end)[1]["content"]


def _stdlib_modules() -> list[Path]:
    """Standard-library modules (code nobody here wrote), a fixed sample of them."""
    root = Path(os.__file__).parent
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size < 400_000)
    return files[::4]


@pytest.mark.parametrize("path", _stdlib_modules(), ids=lambda p: p.name)
def test_module_imports_are_the_top_level_imports_python_sees(path: Path) -> None:
    """The prompt's import lines are exactly the whole lines of the top-level ``import``
    statements that start in the module's first lines, as ``ast`` finds them."""
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        pytest.skip("not parseable by this Python")
    lines = text.splitlines()
    expected: list[str] = []
    seen: set[int] = set()
    for node in tree.body:
        if not isinstance(node, ast.Import | ast.ImportFrom) or node.col_offset != 0:
            continue
        if node.lineno > prompt.IMPORT_SCAN_LINES or node.lineno in seen:
            continue  # two statements on one line are one line of context
        seen.add(node.lineno)
        whole = lines[node.lineno - 1 : node.end_lineno]
        expected.append("\n".join(line[: prompt.MAX_CONTEXT_LINE] for line in whole))
    got = prompt._module_imports(text, 10**9)
    assert [g.replace(" …", "") for g in got] == expected[: prompt.MAX_IMPORT_LINES]


def _shared_prefix(a: list[dict[str, str]], b: list[dict[str, str]]) -> str:
    """The text two requests share from their first byte, as an endpoint's prompt cache
    sees them (messages in order)."""
    x = "".join(m["role"] + "\n" + m["content"] + "\n" for m in a)
    y = "".join(m["role"] + "\n" + m["content"] + "\n" for m in b)
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    return x[:n]


def test_actions_on_the_same_file_share_a_long_identical_prefix() -> None:
    """MiniMax caches prompt prefixes of 512+ tokens: the system prompt and what depends
    only on the file come first, byte-stable, whatever the action asks."""
    text = (SOURCES / "shapes_classes.py").read_text()
    start, end = _grow(text)
    refactor = prompt.refactor_messages(text, start, end, instruction="Add type hints")
    fix = prompt.refactor_messages(text, start, end, diagnostics=("F841 unused x",))
    pairs = prompt.refactor_messages(text, start, end, edit_format="replace")
    selected = text[start:end].strip().split("\n")[-1].strip()
    for other in (fix, pairs):
        shared = _shared_prefix(refactor, other)
        # The whole context and the selection itself are shared, not only the system prompt.
        assert selected in shared and "Imports of the module" in shared
        assert len(shared) >= 0.8 * len(refactor[1]["content"]) - 2000
    # Another selection in the same file still shares the system prompt and the imports.
    other_start = text.index("class ")
    elsewhere = prompt.refactor_messages(text, other_start, text.index("\n", other_start) + 1)
    shared = _shared_prefix(refactor, elsewhere)
    assert "Imports of the module" in shared and shared.count("import") >= 1
    assert "lines " not in refactor[1]["content"].split("Selected code", 1)[0]
