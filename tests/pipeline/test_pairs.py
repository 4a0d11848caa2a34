"""Replacement pairs: every wire shape, partial pieces, matching and its failures
(pipeline/pairs.py), and the pipeline turning pairs into a checked whole-selection edit."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from m21_lsp.config import Settings
from m21_lsp.model.reasoning import strip_reasoning
from m21_lsp.model.sse import ChunkAccumulator
from m21_lsp.model.types import Completion, ToolCall
from m21_lsp.pipeline import pairs as P
from m21_lsp.pipeline import prompt, run
from m21_lsp.pipeline.types import RefactorRequest


def xml(*pairs: tuple[str, str], names: tuple[str, str] = ("old_text", "new_text")) -> str:
    invokes = "".join(
        f'<invoke name="replace">\n<parameter name="{names[0]}">{old}</parameter>\n'
        f'<parameter name="{names[1]}">{new}</parameter>\n</invoke>\n'
        for old, new in pairs
    )
    return f"<minimax:tool_call>\n{invokes}</minimax:tool_call>"


SEL = "def f(x):\n    y = x + 1\n    return y\n"


# ---------------------------------------------------------------- reading replies
def test_xml_pairs_are_read_in_order_with_layout_newlines_dropped() -> None:
    reply = "Here:\n" + xml(("\n    y = x + 1\n", "\n    y = x + 2\n"), ("a", "b")) + "\nDone."
    assert P.parse_pairs(reply) == [
        P.Pair(1, "    y = x + 1", "    y = x + 2"),
        P.Pair(2, "a", "b"),
    ]


def test_a_whole_rewrite_is_not_pair_form() -> None:
    assert P.parse_pairs("```python\nx = 1\n```") is None
    # Code that itself mentions the tool-call form, inside the fenced rewrite, is code.
    fenced = "```python\nDOC = '''\n" + xml(("a", "b")) + "\n'''\n```"
    assert P.parse_pairs(fenced) is None


def test_a_block_wrapped_in_its_own_fence_is_still_pairs() -> None:
    assert P.parse_pairs("```xml\n" + xml(("a", "b")) + "\n```") == [P.Pair(1, "a", "b")]


def test_claude_style_parameter_names_are_accepted() -> None:
    got = P.parse_pairs(xml(("a", "b"), names=("old_string", "new_string")))
    assert got == [P.Pair(1, "a", "b")]


def test_code_that_quotes_parameter_tags_keeps_them() -> None:
    old = 'tag = "</parameter>"'
    got = P.parse_pairs(xml((old, 'tag = "</invoke>"')))
    assert got == [P.Pair(1, old, 'tag = "</invoke>"')]


def test_an_invoke_without_new_text_is_never_a_deletion() -> None:
    reply = (
        '<minimax:tool_call>\n<invoke name="replace">\n<parameter name="old_text">    y = x + 1'
        "</parameter>\n</invoke>\n</minimax:tool_call>"
    )
    (pair,) = P.parse_pairs(reply) or []
    assert pair.new is None
    problems = P.apply_pairs([pair], SEL)
    assert isinstance(problems, list) and "no new text" in problems[0].what


def test_pair_form_without_pairs_is_an_empty_list_and_refused() -> None:
    assert P.parse_pairs("<minimax:tool_call>\n</minimax:tool_call>") == []
    problems = P.apply_pairs([], SEL)
    assert isinstance(problems, list) and "contains no pair" in problems[0].describe()


def test_structured_calls_are_read_from_their_json_arguments() -> None:
    calls = [ToolCall("replace", json.dumps({"old_text": "a", "new_text": "b"}))]
    assert P.parse_pairs("", calls) == [P.Pair(1, "a", "b")]
    broken = P.parse_pairs("", [ToolCall("replace", '{"old_text": "a"')])
    assert broken == [P.Pair(1, "", None)]


def test_a_pair_inside_the_reasoning_is_not_the_answer() -> None:
    raw = "<think>\n" + xml(("    y = x + 1", "    y = 0")) + "\n</think>\n\n```python\nz = 1\n```"
    assert P.parse_pairs(strip_reasoning(raw).text) is None
    raw_pairs = "<think>\n" + xml(("a", "WRONG")) + "\n</think>\n" + xml(("b", "RIGHT"))
    assert P.parse_pairs(strip_reasoning(raw_pairs).text) == [P.Pair(1, "b", "RIGHT")]


def test_streamed_tool_call_pieces_accumulate_into_one_call() -> None:
    args = json.dumps({"old_text": "    y = x + 1", "new_text": "    y = x + 2"})
    acc = ChunkAccumulator()
    acc.feed({"choices": [{"index": 0, "delta": {"reasoning_content": xml(("a", "b"))}}]})
    head = {"index": 0, "id": "c0", "type": "function", "function": {"name": "replace"}}
    acc.feed({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
    for k in range(0, len(args), 4):
        piece = {"index": 0, "function": {"arguments": args[k : k + 4]}}
        acc.feed({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
    # A closing frame that repeats the whole message adds nothing twice.
    message = {
        "role": "assistant",
        "tool_calls": [{"id": "c0", "function": {"name": "replace", "arguments": args}}],
    }
    acc.feed({"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]})
    assert acc.tool_calls == [("replace", args)]
    calls = [ToolCall(n, a) for n, a in acc.tool_calls]
    assert P.parse_pairs(acc.content, calls) == [P.Pair(1, "    y = x + 1", "    y = x + 2")]


def test_a_whole_json_reply_with_object_arguments() -> None:
    acc = ChunkAccumulator()
    call = {"function": {"name": "replace", "arguments": {"old_text": "a", "new_text": "b"}}}
    acc.feed({"choices": [{"index": 0, "message": {"content": None, "tool_calls": [call]}}]})
    ((name, arguments),) = acc.tool_calls
    assert name == "replace" and json.loads(arguments) == {"old_text": "a", "new_text": "b"}


# ---------------------------------------------------------------- matching
def test_exact_pairs_apply_in_order_against_the_original_text() -> None:
    pairs = [P.Pair(1, "    return y", "    return y * 2"), P.Pair(2, "y = x + 1", "y = x - 1")]
    assert P.apply_pairs(pairs, SEL) == "def f(x):\n    y = x - 1\n    return y * 2\n"


def test_indentation_and_trailing_whitespace_are_ignored_then_reindented() -> None:
    old = "y = x + 1   \nreturn y"
    new = "if x:\n    y = x + 1\nreturn y"
    assert P.apply_pairs([P.Pair(1, old, new)], SEL) == (
        "def f(x):\n    if x:\n        y = x + 1\n    return y\n"
    )


def test_tabs_stay_tabs_when_the_model_writes_spaces() -> None:
    sel = "def f(x):\n\ty = x + 1\n\treturn y\n"
    new = "    if y:\n        return y\n    return 0"
    got = P.apply_pairs([P.Pair(1, "    return y", new)], sel)
    assert got == "def f(x):\n\ty = x + 1\n\tif y:\n\t\treturn y\n\treturn 0\n"


def test_crlf_in_the_pair_matches_the_lf_frame() -> None:
    pairs = P.parse_pairs(xml(("    y = x + 1\r\n    return y", "    return x + 1")))
    assert P.apply_pairs(pairs or [], SEL) == "def f(x):\n    return x + 1\n"


def test_deleting_whole_lines_leaves_no_blank_line() -> None:
    assert P.apply_pairs([P.Pair(1, "  y = x + 1", "")], SEL) == "def f(x):\n    return y\n"


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([P.Pair(1, "nothing like this", "x")], "does not match any lines"),
        ([P.Pair(1, "y", "z")], "matches 2 places"),
        ([P.Pair(1, "", "x")], "empty old text"),
        ([P.Pair(1, "   \n", "x")], "empty old text"),
        (
            [P.Pair(1, "y = x + 1\n    return y", "a"), P.Pair(2, "return y", "b")],
            "overlaps replacement pair 1",
        ),
        ([P.Pair(1, "return y", "a"), P.Pair(2, "return y", "b")], "overlaps"),
    ],
)
def test_each_failure_kind_is_a_problem_naming_the_pair(pairs: list[P.Pair], expected: str) -> None:
    problems = P.apply_pairs(pairs, SEL)
    assert isinstance(problems, list), problems
    assert any(expected in p.describe() for p in problems), problems


def test_a_line_twice_ignoring_indentation_is_ambiguous() -> None:
    sel = "if a:\n    x = 1\nelse:\n        x = 1\n"
    problems = P.apply_pairs([P.Pair(1, "  x = 1", "x = 2")], sel)
    assert isinstance(problems, list) and "2 places" in problems[0].what


def test_a_pair_quoting_code_around_the_selection_is_named_outside() -> None:
    doc = "a = 1\n" + SEL + "b = 2\n"
    (problem,) = P.outside_problems(P.apply_pairs([P.Pair(1, "b = 2", "b = 3")], SEL), doc, SEL)
    assert "outside the selection" in problem.what


def test_the_repair_message_quotes_the_closest_lines() -> None:
    problems = P.apply_pairs([P.Pair(1, "    y = x + 10\n    return y", "z")], SEL)
    assert isinstance(problems, list)
    message = P.repair_message(problems, SEL)
    assert "Replacement pair 1 does not match" in message
    assert "    y = x + 1\n    return y" in message


# ---------------------------------------------------------------- live preview
def test_preview_applies_pairs_in_the_document_frame_and_streams_the_last_new_text() -> None:
    selection = "    def f(x):\r\n        y = x + 1\r\n        return y\r\n"
    reply = xml(("    y = x + 1", "    y = x + 2"), ("    return y", "    return -y"))
    cut = reply.index("    return -y")  # the second pair's old text is not complete yet
    cut = reply.rindex("<parameter", 0, cut)
    assert P.preview_pairs(reply[:cut], selection) == selection.replace("x + 1", "x + 2")
    cut = reply.index("-y")  # its new text is being written: shown as far as it goes
    assert P.preview_pairs(reply[:cut], selection) == (
        selection.replace("x + 1", "x + 2").replace("return y", "return ")
    )
    assert P.preview_pairs(reply, selection) == (
        selection.replace("x + 1", "x + 2").replace("return y", "return -y")
    )
    assert P.preview_pairs("```python\nx", selection) is None
    no_match = xml(("zzz", "q"))
    assert P.preview_pairs(no_match, selection) == selection


# ---------------------------------------------------------------- through the pipeline
@dataclasses.dataclass
class Scripted:
    replies: list[Completion]
    seen: list[list[dict[str, str]]] = dataclasses.field(default_factory=list)

    async def complete(self, messages, *, on_progress=None) -> Completion:
        self.seen.append(messages)
        return self.replies.pop(0)


def completion(text: str, calls: tuple[ToolCall, ...] = ()) -> Completion:
    return Completion(
        raw=text, text=text, reasoning="", finish_reason="stop", tool_calls=list(calls)
    )


SETTINGS = Settings(api_key="sk-test-key-0000", base_url="http://127.0.0.1:9/v1")


def _run(doc: str, needle_start: str, needle_end: str, *replies: Completion):
    start = doc.index(needle_start)
    end = doc.index(needle_end) + len(needle_end)
    client = Scripted(list(replies))
    req = RefactorRequest(doc, start, end, path="m.py")
    return asyncio.run(run.refactor(req, SETTINGS, client)), client


def test_pairs_on_an_indented_crlf_method_keep_crlf_and_indent() -> None:
    doc = "class A:\r\n    def f(self, x):\r\n        y = x + 1\r\n        return y\r\n"
    reply = xml(("    y = x + 1", "    y = x + 2\n    y *= 3"))
    result, _ = _run(doc, "    def f", "return y\r\n", completion(reply))
    assert result.new_text == (
        "class A:\r\n    def f(self, x):\r\n        y = x + 2\r\n        y *= 3\r\n"
        "        return y\r\n"
    )


def test_pairs_on_a_tab_indented_file() -> None:
    doc = "class A:\n\tdef f(self, x):\n\t\ty = x + 1\n\t\treturn y\n"
    reply = xml(("return y", "if y:\n    return y\nreturn 0"))
    result, _ = _run(doc, "\tdef f", "return y\n", completion(reply))
    assert result.new_text == (
        "class A:\n\tdef f(self, x):\n\t\ty = x + 1\n\t\tif y:\n\t\t\treturn y\n\t\treturn 0\n"
    )


def test_a_pair_result_still_goes_through_the_python_check() -> None:
    doc = "def f(x):\n    y = x + 1\n    return y\n"
    broken = xml(("    y = x + 1", "    y = (x + 1"))
    fixed = xml(("    y = x + 1", "    y = x + 3"))
    result, client = _run(doc, "def f", "return y\n", completion(broken), completion(fixed))
    assert "x + 3" in result.new_text and result.model_calls == 2
    assert "does not parse" in client.seen[1][-1]["content"]


def test_refusal_after_one_pair_repair_changes_nothing() -> None:
    doc = "def f(x):\n    y = x + 1\n    return y\n"
    bad = completion(xml(("    y = x + 100", "    y = 0")))
    with pytest.raises(P.PairError) as caught:
        _run(doc, "def f", "return y\n", bad, bad)
    assert "Replacement pair 1 does not match" in caught.value.message
    assert "Nothing was changed" in caught.value.message


def test_a_structured_call_through_the_pipeline_and_its_repair_copy() -> None:
    doc = "def f(x):\n    y = x + 1\n    return y\n"
    wrong = ToolCall("replace", json.dumps({"old_text": "q = 1", "new_text": "q = 2"}))
    right = ToolCall("replace", json.dumps({"old_text": "y = x + 1", "new_text": "y = x + 5"}))
    result, client = _run(
        doc, "def f", "return y\n", completion("", (wrong,)), completion("", (right,))
    )
    assert result.new_text == doc.replace("x + 1", "x + 5")
    assistant = client.seen[1][-2]
    assert assistant["role"] == "assistant" and "q = 1" in assistant["content"]


# ---------------------------------------------------------------- what is asked
def test_auto_offers_pairs_from_the_threshold_up() -> None:
    small = "x = 1\n" * (prompt.PAIRS_MIN_LINES - 1)
    large = "x = 1\n" * prompt.PAIRS_MIN_LINES
    assert not prompt.asks_for_pairs("auto", small)
    assert prompt.asks_for_pairs("auto", large)
    assert prompt.asks_for_pairs("replace", "x = 1\n")
    assert not prompt.asks_for_pairs("whole", large)
    asked = prompt.refactor_messages(large, 0, len(large), edit_format="auto")
    assert "<minimax:tool_call>" in asked[1]["content"]
    assert "Reply with replacement pairs" in asked[1]["content"]
    whole = prompt.refactor_messages(large, 0, len(large), edit_format="whole")
    assert "<minimax:tool_call>" not in whole[1]["content"]


def test_layout_newlines_are_trimmed_per_invoke_and_real_ones_kept() -> None:
    # Written on lines of their own: the newlines after ">" and before "</parameter>" go.
    laid_out = xml(("\n    y = x + 1\n", "\n    y = x + 2\n"))
    assert P.parse_pairs(laid_out) == [P.Pair(1, "    y = x + 1", "    y = x + 2")]
    # Written inline: an old text that ends with a line break (a blank line quoted after
    # the code) keeps it, so the new text's added line does not leave a blank line behind.
    inline = xml(("    return y\n", "    return y\n    # done"))
    (pair,) = P.parse_pairs(inline) or []
    assert pair.old == "    return y\n"
    sel = "def f(x):\n    y = x + 1\n    return y\n\nz = 1\n"
    assert (
        P.apply_pairs([pair], sel) == "def f(x):\n    y = x + 1\n    return y\n    # done\nz = 1\n"
    )


def test_whole_lines_replaced_by_nothing_take_their_line_break() -> None:
    (pair,) = P.parse_pairs(xml(("\n    y = x + 1\n", ""))) or []
    assert pair == P.Pair(1, "    y = x + 1", "")
    assert P.apply_pairs([pair], SEL) == "def f(x):\n    return y\n"
    # Part of a line replaced by nothing is only that part.
    assert P.apply_pairs([P.Pair(1, " + 1", "")], SEL) == "def f(x):\n    y = x\n    return y\n"


def test_a_quoted_blank_line_is_replaced_even_with_whitespace_mangled() -> None:
    sel = "def f(x):\n    return y\n\nz = 1\n"
    pair = P.Pair(1, "  return y  \n   ", "  return y\n  # done")
    assert P.apply_pairs([pair], sel) == "def f(x):\n    return y\n    # done\nz = 1\n"
