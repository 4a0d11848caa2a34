"""Picking the replacement out of model replies."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from m21_lsp.errors import NoCodeInReply, ReplyError
from m21_lsp.model.reasoning import strip_reasoning
from m21_lsp.pipeline.extract import extract_code, find_blocks

ROOT = Path(__file__).resolve().parents[2] / "fixtures"
DOCUMENT = (ROOT / "sources" / "sample_basic.py").read_text()
START = DOCUMENT.index("def total_price")
END = DOCUMENT.index("\n\n\ndef format_tag") + 1
SELECTION = DOCUMENT[START:END]
EXPECTED = '''def total_price(items, tax_rate):
    """Sum price * qty over items with a positive quantity, then add tax."""
    subtotal = sum(item["price"] * item["qty"] for item in items if item["qty"] > 0)
    return round(subtotal * (1 + tax_rate), 2)
'''


def _reply(name: str) -> str:
    return strip_reasoning((ROOT / "replies" / name).read_text()).text


@pytest.mark.parametrize(
    "name",
    [
        "refactor_basic.md",
        "refactor_no_open_tag.md",
        "refactor_prose_around.md",
        "refactor_thinking_tag.md",
        "refactor_tilde_fence.md",
        "refactor_with_example.md",
        "refactor_whole_file.md",
    ],
)
def test_fixture_replies_give_the_replacement(name: str) -> None:
    assert extract_code(_reply(name), SELECTION, document=DOCUMENT, start=START) == EXPECTED


def test_outer_fence_keeps_inner_fences() -> None:
    code = extract_code(_reply("refactor_outer_fence.md"), SELECTION, document=DOCUMENT)
    assert code.startswith("def total_price(items, tax_rate):\n")
    assert "    ```\n    >>> total_price" in code
    assert code.endswith("return round(subtotal * (1 + tax_rate), 2)\n")


def test_no_code_block_is_a_clear_error() -> None:
    with pytest.raises(NoCodeInReply) as info:
        extract_code(_reply("no_fences.md"), SELECTION, document=DOCUMENT)
    assert "no code block" in info.value.message
    assert "nothing was changed" in info.value.message


def test_truncated_reasoning_only_is_no_code() -> None:
    with pytest.raises(NoCodeInReply):
        extract_code(_reply("refactor_truncated.md"), SELECTION)


def test_unterminated_block_is_never_used() -> None:
    with pytest.raises(NoCodeInReply) as info:
        extract_code(_reply("refactor_truncated_code.md"), SELECTION)
    assert "cut off" in info.value.message
    assert "maxTokens" in info.value.message


def test_empty_block_is_an_error() -> None:
    with pytest.raises(NoCodeInReply):
        extract_code("Here:\n\n```python\n\n```\n", SELECTION)


def test_example_block_first_then_replacement() -> None:
    reply = (
        "Example usage of the new version:\n\n```python\nprint(total_price(items, 0.2))\n```\n\n"
        "And here is the refactored function:\n\n```python\n" + EXPECTED + "```\n"
    )
    assert extract_code(reply, SELECTION) == EXPECTED


@pytest.mark.parametrize("info", ["python", "py", "python3", "", "Python", "{.python}"])
def test_info_strings(info: str) -> None:
    assert extract_code(f"```{info}\n{EXPECTED}```\n", SELECTION) == EXPECTED


def test_shell_block_is_not_the_replacement() -> None:
    reply = f"Run:\n\n```bash\npip install foo\n```\n\n```\n{EXPECTED}```\n"
    assert extract_code(reply, SELECTION) == EXPECTED


def test_non_python_blocks_still_work_for_other_languages() -> None:
    selection = "function add(a, b) {\n  return a + b;\n}\n"
    reply = "```javascript\nconst add = (a, b) => a + b;\n```\n"
    assert extract_code(reply, selection) == "const add = (a, b) => a + b;\n"


def test_fence_inside_list_item_is_unindented() -> None:
    reply = "1. Replace it with:\n\n   ```python\n   def f():\n       return 1\n   ```\n"
    assert extract_code(reply, "def f():\n    return 2\n") == "def f():\n    return 1\n"


def test_crlf_reply() -> None:
    reply = "```python\r\ndef f():\r\n    return 1\r\n```\r\n"
    assert extract_code(reply, "def f():\n    return 2\n") == "def f():\n    return 1\n"


def test_tilde_and_backtick_fences_do_not_close_each_other() -> None:
    reply = "~~~python\ns = '''\n```\n'''\n~~~\n"
    assert find_blocks(reply)[0].code == "s = '''\n```\n'''\n"


def test_selection_with_enclosing_class_is_cut_to_the_method() -> None:
    document = (ROOT / "sources" / "shapes_classes.py").read_text()
    start = document.index("    async def grow")
    end = document.index("        return self.radius\n") + len("        return self.radius\n")
    new_method = (
        "    async def grow(self, factor: float, delay: float = 0.0) -> float:\n"
        "        await asyncio.sleep(delay)\n"
        "        self.radius = self.radius * factor\n"
        "        return self.radius\n"
    )
    reply = (
        "```python\nclass Circle(Shape):\n"
        "    def __init__(self, name: str, radius: float) -> None:\n"
        "        super().__init__(name)\n        self.radius = radius\n\n"
        '    @logged("circle")\n    def area(self) -> float:\n'
        "        return math.pi * self.radius**2\n\n" + new_method + "```\n"
    )
    assert extract_code(reply, document[start:end], document=document, start=start) == new_method


def test_repeated_header_is_dropped_when_only_the_body_was_selected() -> None:
    document = (
        "def f(items):\n    total = 0\n    for x in items:\n        total += x\n    return total\n"
    )
    start = document.index("    total = 0")
    reply = "```python\ndef f(items):\n    return sum(items)\n```\n"
    code = extract_code(reply, document[start:], document=document, start=start)
    assert code == "    return sum(items)\n"


def test_whole_file_with_new_import_keeps_the_import() -> None:
    reply = _reply("refactor_whole_file.md").replace(
        "import json\n", "import json\nfrom decimal import Decimal\n"
    )
    code = extract_code(reply, SELECTION, document=DOCUMENT, start=START)
    first, rest = code.split("\n", 1)
    assert first == "from decimal import Decimal"
    assert rest.lstrip("\n") == EXPECTED


def test_reply_without_context_is_left_alone() -> None:
    # The replacement's last line equals nothing around it; nothing may be cut.
    reply = f"```python\n{EXPECTED}```\n"
    assert extract_code(reply, SELECTION, document=DOCUMENT, start=START) == EXPECTED


def test_placeholder_is_refused() -> None:
    reply = (
        "```python\ndef total_price(items, tax_rate):\n    # ... rest of the code unchanged\n```\n"
    )
    with pytest.raises(ReplyError) as info:
        extract_code(reply, SELECTION)
    assert "placeholder" in info.value.message


markdown_pieces = st.sampled_from(
    ["```", "```python", "~~~", "````", "text", "def f():", "    return 1", "", "```py", "x = 1"]
)


@given(st.lists(markdown_pieces, max_size=14).map("\n".join))
def test_never_returns_an_empty_replacement(reply: str) -> None:
    try:
        code = extract_code(reply, "def f():\n    return 2\n", document="def f():\n    return 2\n")
    except (NoCodeInReply, ReplyError):
        return
    assert code.strip()


def test_repeated_line_context_of_a_mid_line_selection_is_dropped() -> None:
    document = "def f():\n    value = compute(1, 2)\n    return value\n"
    start = document.index("compute")
    selection = "compute(1, 2)"
    reply = "```python\nvalue = compute(\n    1,\n    2,\n)\n```\n"
    code = extract_code(reply, selection, document=document, start=start)
    assert code == "compute(\n    1,\n    2,\n)\n"


def test_mid_line_arguments_with_repeated_call_are_cut_both_sides() -> None:
    document = "result = total(a + b, c)\n"
    start = document.index("a + b")
    reply = "```python\nresult = total(b + a, c)\n```\n"
    assert extract_code(reply, "a + b", document=document, start=start) == "b + a\n"


def test_replacement_ending_like_the_line_is_kept_whole() -> None:
    document = "x = f(a + b)\n"
    start = document.index("a + b")
    reply = "```python\nsum((a, b))\n```\n"
    assert extract_code(reply, "a + b", document=document, start=start) == "sum((a, b))\n"


def test_line_context_is_only_cut_at_word_boundaries() -> None:
    document = "def f():\n    return foo\n"
    start = document.index("foo")
    reply = "```python\nreturn_value\n```\n"
    assert extract_code(reply, "foo", document=document, start=start) == "return_value\n"


def test_short_rest_reads_the_lines_after_as_a_full_split_would() -> None:
    """The bounded scan for a reply's repeated tail sees exactly the lines a split of the
    whole rest gives (CRLF, lone CR and LF mixed), or None when they are too many."""
    import random

    from m21_lsp.pipeline import extract

    rng = random.Random(1)
    for _ in range(5000):
        doc = "".join(rng.choice(["a", "  b", "\n", "\r\n", "\r", "}", " "]) for _ in range(30))
        end = rng.randint(0, len(doc))
        limit = rng.randint(1, 8)
        full = [
            line.strip() for line in doc[end:].replace("\r\n", "\n").replace("\r", "\n").split("\n")
        ]
        expected = full if sum(1 for line in full if line) < limit else None
        assert extract._short_rest(doc, end, limit) == expected, (doc, end, limit)


def test_an_indented_fence_inside_the_code_does_not_close_the_block() -> None:
    """httpcore's _models.py shows examples in backticks inside docstrings; sent back whole,
    the file's indented fences are content (CommonMark: a closing fence is indented at
    most three columns more than the opening one)."""
    file_text = (
        "class Request:\n"
        '    """\n'
        "    An HTTP request.\n"
        "\n"
        "    ```python\n"
        "    request = Request(b'GET', 'https://example.com/')\n"
        "    ```\n"
        '    """\n'
        "\n"
        "    def __repr__(self) -> str:\n"
        "        return '<Request>'\n"
    )
    reply = f"Here is the file:\n\n```python\n{file_text}```\n\nDone.\n"
    (block,) = [b for b in find_blocks(reply) if b.terminated and b.code.strip() != "Done."]
    assert block.code == file_text
    # Up to three columns of indentation still close it, as CommonMark says.
    assert find_blocks("```python\nx = 1\n   ```\n")[0].terminated
    assert not find_blocks("```python\nx = 1\n    ```\n")[0].terminated
