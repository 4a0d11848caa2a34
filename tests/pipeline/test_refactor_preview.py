"""What the live view shows of a refactor while the reply streams (``pipeline/preview.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from m21_lsp.model.reasoning import strip_reasoning
from m21_lsp.pipeline.preview import refactor_preview

ROOT = Path(__file__).resolve().parents[2] / "fixtures"
DOCUMENT = (ROOT / "sources" / "sample_basic.py").read_text()
SELECTION = DOCUMENT[DOCUMENT.index("def total_price") : DOCUMENT.index("\n\n\ndef format_tag") + 1]
CODE = '''def total_price(items, tax_rate):
    """Sum price * qty over items with a positive quantity, then add tax."""
    subtotal = sum(item["price"] * item["qty"] for item in items if item["qty"] > 0)
    return round(subtotal * (1 + tax_rate), 2)
'''


def _visible(name: str) -> str:
    return strip_reasoning((ROOT / "replies" / name).read_text()).text


@pytest.mark.parametrize(
    "visible",
    [
        "",
        "Here is",
        "Here is a clearer version:\n\n",
        "Sure.\n```",
        "Sure.\n```python",
        "Sure.\n```python\n",
    ],
    ids=["nothing", "prose", "prose-lines", "fence-opening", "info-string", "fence-no-code"],
)
def test_nothing_to_show_before_code_arrives(visible: str) -> None:
    assert refactor_preview(visible, SELECTION) is None


def test_an_open_fence_shows_the_code_written_so_far() -> None:
    visible = "Here is a clearer version:\n\n```python\ndef total_price(items, tax_rate):\n    subtotal = su"
    assert refactor_preview(visible, SELECTION) == (
        "def total_price(items, tax_rate):\n    subtotal = su"
    )


@pytest.mark.parametrize("tail", ["`", "``", "```", "  ~~"])
def test_a_last_line_that_may_become_the_closing_fence_is_not_shown(tail: str) -> None:
    fence = "~~~" if "~" in tail else "```"
    visible = f"{fence}python\ndef f():\n    return 1\n{tail}"
    assert refactor_preview(visible, "def f():\n    return 2\n") == "def f():\n    return 1\n"


@pytest.mark.parametrize(
    "name", ["refactor_basic.md", "refactor_with_example.md", "refactor_tilde_fence.md"]
)
def test_every_prefix_of_a_reply_shows_a_prefix_of_the_answer(name: str) -> None:
    """Streamed character by character, the view only ever grows towards the block that is
    the answer: it never shows prose, the closing fence, or a later example block."""
    visible = _visible(name)
    final = refactor_preview(visible, SELECTION)
    assert final is not None and final.startswith("def total_price(items, tax_rate):")
    shown = [refactor_preview(visible[:n], SELECTION) for n in range(len(visible) + 1)]
    code = [s for s in shown if s is not None]
    assert code, "the view never showed anything"
    assert all(final.startswith(s) for s in code)
    first = shown.index(code[0])
    assert all(s is not None for s in shown[first:])  # once shown, it stays shown


def test_an_example_block_after_the_answer_never_replaces_it() -> None:
    visible = _visible("refactor_with_example.md")
    assert refactor_preview(visible, SELECTION) == CODE
    half = visible[: visible.index("print(total_price")]
    assert refactor_preview(half, SELECTION) == CODE


def test_the_selection_indentation_is_put_back() -> None:
    selection = "    def total(self):\n        return sum(self.items)\n"
    visible = "```python\ndef total(self):\n    return sum(\n        self.items\n"
    assert refactor_preview(visible, selection) == (
        "    def total(self):\n        return sum(\n            self.items\n"
    )
    # A reply that kept the indentation itself is shown as written.
    kept = "```python\n    def total(self):\n        return 0\n```\n"
    assert refactor_preview(kept, selection) == "    def total(self):\n        return 0\n"


def test_tabs_and_crlf_selections() -> None:
    selection = "\tif x:\r\n\t\treturn 1\r\n"
    assert refactor_preview("```\nif x:\n\treturn 2\n", selection) == "\tif x:\n\t\treturn 2\n"


def _pair(old: str, new: str) -> str:
    return (
        '<minimax:tool_call>\n<invoke name="replace">\n'
        f'<parameter name="old_text">{old}</parameter>\n'
        f'<parameter name="new_text">{new}</parameter>\n'
        "</invoke>\n</minimax:tool_call>\n"
    )


def test_a_pair_reply_shows_nothing_until_a_new_text_begins_then_the_selection_with_it() -> None:
    old = "    total = 0\n"
    assert old in SELECTION
    reply = "Only one line changes.\n" + _pair(old.strip(), "total = 0.0")
    cut = reply.index('<parameter name="new_text">')
    for end in range(0, cut, 7):  # every prefix before the new text begins
        assert refactor_preview(reply[:end], SELECTION) is None
    shown = refactor_preview(reply, SELECTION)
    assert shown == SELECTION.replace(old, "    total = 0.0\n", 1)


def test_a_pair_whose_new_text_is_streaming_shows_it_in_place_of_its_old_text() -> None:
    old = "    total = 0\n"
    reply = _pair(old.strip(), "total = 0.0  # running sum")
    partial = reply[: reply.index("# running")]  # old text done, new text half written
    shown = refactor_preview(partial, SELECTION)
    assert shown is not None and "    total = 0.0  \n" in shown
    assert shown.replace("    total = 0.0  \n", old, 1) == SELECTION
    # A closing tag half written is never shown as code.
    half_tag = reply[: reply.index("</parameter>\n</invoke>") + 5]
    shown = refactor_preview(half_tag, SELECTION)
    assert shown == SELECTION.replace(old, "    total = 0.0  # running sum\n", 1)
