"""The reasoning stripper: one leading block, whole or streamed, the same either way."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from m21_lsp.model.reasoning import (
    CLOSE_TAGS,
    OPEN_TAGS,
    ReasoningStripper,
    Split,
    strip_reasoning,
)
from m21_lsp.testing.scripted_server import load_reply


def stream(text: str, cuts: list[int]) -> tuple[str, Split, list[str]]:
    """Feed ``text`` cut at ``cuts``; return the visible text, final split and phases seen."""
    stripper = ReasoningStripper()
    out: list[str] = []
    phases: list[str] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(text)]:
        out.append(stripper.feed(text[last:cut]))
        phases.append(stripper.phase)
        last = cut
    out.append(stripper.finish())
    return "".join(out), stripper.result(), phases


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>plan</think>\n\nHello", Split("plan", "Hello", True)),
        ("  \n<think>\nplan\n</think>answer", Split("plan", "answer", True)),
        ("<thinking>plan</thinking>\nanswer", Split("plan", "answer", True)),
        ("plan without opening\n</think>\n\nanswer", Split("plan without opening", "answer", True)),
        ("<think>never closed, cut off", Split("never closed, cut off", "", False)),
        ("<think>", Split("", "", False)),
        ("no reasoning at all", Split("", "no reasoning at all", True)),
        ("", Split("", "", True)),
        # Only the first block goes; a second one is the answer's business.
        ("<think>a</think>b<think>c</think>d", Split("a", "b<think>c</think>d", True)),
        # A fence before </think> means the tag belongs to the answer (e.g. inside code).
        ("```python\nx = '</think>'\n```", Split("", "```python\nx = '</think>'\n```", True)),
        ("text\n~~~\n</think>\n~~~", Split("", "text\n~~~\n</think>\n~~~", True)),
        # A fence inside an opened think block does not matter: the block is closed by the tag.
        (
            "<think>draft\n```\ncode\n```\n</think>final",
            Split("draft\n```\ncode\n```", "final", True),
        ),
        # Later <think> strings are never stripped.
        ("Answer: use `<think>` tags", Split("", "Answer: use `<think>` tags", True)),
        ("x <think>y</think>", Split("", "x <think>y</think>", True)),
        # Inline (not line-start) backticks are not fences.
        ("plan with ``` inline </think>ok", Split("plan with ``` inline", "ok", True)),
    ],
)
def test_strip_reasoning_cases(text: str, expected: Split) -> None:
    assert strip_reasoning(text) == expected
    visible, split, _ = stream(text, list(range(len(text))))
    assert split == expected
    assert visible == expected.text


def test_seed_style_reply_keeps_the_answer() -> None:
    raw = (
        '<think>\nThe user has simply said "Hello". This is a greeting.\n</think>\n\n'
        "Hello! 👋\n\nI'm MiniMax-M2.1."
    )
    split = strip_reasoning(raw)
    assert split.text == "Hello! 👋\n\nI'm MiniMax-M2.1."
    assert split.reasoning.startswith("The user has simply said")


def test_think_string_inside_code_survives() -> None:
    split = strip_reasoning(load_reply("refactor_think_in_code"))
    assert split.closed
    assert 'format_tag("think") == "<think>"' in split.text
    assert '"</think>"' in split.text
    assert "f-string is clearer" in split.reasoning


def test_truncated_fixture_is_all_reasoning() -> None:
    split = strip_reasoning(load_reply("refactor_truncated"))
    assert split == Split(split.reasoning, "", False)
    assert split.reasoning.startswith("The user wants total_price refactored")


def test_missing_open_tag_fixture() -> None:
    split = strip_reasoning(load_reply("refactor_no_open_tag"))
    assert split.text.startswith("```python\ndef total_price(")
    assert "</think>" not in split.text


def test_phase_switches_to_writing_after_the_block() -> None:
    stripper = ReasoningStripper()
    assert stripper.phase == "thinking"
    assert stripper.feed("<thi") == ""
    assert stripper.feed("nk>working") == ""
    assert stripper.phase == "thinking"
    assert stripper.reasoning == "working"
    assert stripper.feed(" hard</th") == ""
    assert stripper.feed("ink>\n\n") == ""
    assert stripper.phase == "writing"
    assert stripper.feed("Here") == "Here"
    assert stripper.finish() == ""
    assert stripper.result() == Split("working hard", "Here", True)


def test_text_without_opening_tag_is_held_until_the_closing_tag_or_the_end() -> None:
    stripper = ReasoningStripper()
    assert stripper.feed("Sure, here it is:\n") == ""
    assert stripper.phase == "thinking"
    # A fence no longer ends the search: M2's thinking drafts code in fences.
    assert stripper.feed("```py\nx = 1\n```\n") == ""
    assert stripper.phase == "thinking"
    assert stripper.finish() == "Sure, here it is:\n```py\nx = 1\n```\n"
    assert stripper.result() == Split("", "Sure, here it is:\n```py\nx = 1\n```\n", True)


def test_an_orphan_closing_tag_after_a_fenced_draft_ends_the_reasoning() -> None:
    """The issue's shape: the chat template put <think> in the prompt, the thinking holds a
    draft in a fence, and the answer follows the orphan </think>. The draft is reasoning."""
    reply = (
        "Let me draft it.\n```python\ndef f():\n    return 'draft'\n```\n"
        "That works but is clumsy.\n</think>\n\n```python\ndef f():\n    return 'final'\n```\n"
    )
    split = strip_reasoning(reply)
    assert "'draft'" in split.reasoning and "'draft'" not in split.text
    assert split.text == "```python\ndef f():\n    return 'final'\n```\n"
    stripper = ReasoningStripper()
    assert stripper.feed(reply[: reply.index("</think>") + 3]) == ""
    assert stripper.phase == "thinking"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<mm:think>plan</mm:think>\nanswer", Split("plan", "answer", True)),
        ("plan\n</mm:think>\nanswer", Split("plan", "answer", True)),
        ("<think>plan</mm:think>\nanswer", Split("plan", "answer", True)),
        ("<minimax:think>plan</minimax:think>answer", Split("plan", "answer", True)),
        # The degraded close seen in production ends at its last tag.
        ("plan\n</mm></minimax:think>\nanswer", Split("plan\n</mm>", "answer", True)),
        # Code that holds the string is in a fence or a code span: never a close.
        (
            "use `</think>` here\n```\n</think>\n```\n",
            Split("", "use `</think>` here\n```\n</think>\n```\n", True),
        ),
        (
            "x\n```python\ny = '</mm:think>'\n```\n</think>\nz",
            Split("x\n```python\ny = '</mm:think>'\n```", "z", True),
        ),
        # A prose line that starts with backticks and goes on is not a fence.
        (
            "I could write ```x``` or\n``` but that is only a thought.\n</think>\nok",
            Split("I could write ```x``` or\n``` but that is only a thought.", "ok", True),
        ),
        # An opened block whose thinking left a fence open still ends at its closing tag.
        ("<think>draft\n```\ncode\n</think>final", Split("draft\n```\ncode", "final", True)),
        (
            "a\r\n```\r\n</think>\r\n```\r\n</think>\r\nb",
            Split("a\r\n```\r\n</think>\r\n```", "b", True),
        ),
    ],
)
def test_closing_tag_variants_fences_and_code_spans(text: str, expected: Split) -> None:
    assert strip_reasoning(text) == expected
    visible, split, _ = stream(text, list(range(len(text))))
    assert split == expected
    assert visible == expected.text


def test_feed_after_finish_is_a_bug() -> None:
    stripper = ReasoningStripper()
    stripper.finish()
    with pytest.raises(RuntimeError):
        stripper.feed("x")


# Text made of the pieces that matter, so hypothesis finds the tricky interleavings.
_PIECES = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<thinking>",
        "</thinking>",
        "<mm:think>",
        "</mm:think>",
        "```py\n",
        "``` no\n",
        "a `",
        "<th",
        "ink>",
        "</",
        "```",
        "~~~",
        "```python\n",
        "\n",
        "\r\n",
        " ",
        "\t",
        "a",
        "é",
        "👋",
        "<",
        ">",
        "/",
        "`",
    ]
)
_TEXT = st.lists(_PIECES | st.text(max_size=4), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=_TEXT, data=st.data())
def test_streamed_and_whole_agree(text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=12))
    whole = strip_reasoning(text)
    visible, split, _ = stream(text, cuts)
    assert split == whole
    assert visible == whole.text


@settings(max_examples=200, deadline=None)
@given(text=_TEXT)
def test_only_one_block_is_removed(text: str) -> None:
    split = strip_reasoning(text)
    # Whatever was removed is a prefix: the visible text is always a suffix of the input.
    assert text.endswith(split.text)
    if not text.lstrip().startswith(OPEN_TAGS) and not any(t in text for t in CLOSE_TAGS):
        assert split.text == text
