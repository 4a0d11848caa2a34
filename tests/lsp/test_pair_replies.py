"""m21.refactor over stdio with replies that carry only the change (docs/edit-format.md).

The same edit as refactor_basic's whole rewrite, reached from replacement pairs in the XML
form, from structured ``tool_calls`` streamed in pieces and sent whole, after a repair turn;
and refused, with the user's text untouched, when the pairs still do not apply.
"""

from __future__ import annotations

from m21_lsp.testing.scripted_server import Step
from support.lsp_client import find, refactor_action, refactored

URI = "file:///work/shop.py"
DECOY = (
    '<minimax:tool_call>\n<invoke name="replace">\n<parameter name="old_text">'
    '    return round(total, 2)</parameter>\n<parameter name="new_text">    return total'
    "</parameter>\n</invoke>\n</minimax:tool_call>\n"
)


async def _refactor(start_lsp, sample, **start):
    client = await start_lsp(**start)
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))
    return client, await client.run(action)


async def test_xml_pairs_in_content_give_the_whole_rewrite_edit(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="refactor_pairs_total"))
    client, result = await _refactor(start_lsp, sample)
    assert result["kind"] == "applied", result
    assert client.text(URI) == refactored(sample)
    assert result["modelCalls"] == 1
    assert len(model_server.requests) == 1


async def test_streamed_structured_tool_calls_give_the_same_edit(start_lsp, model_server, sample):
    # Arguments arrive 5 characters at a time; the reasoning holds a pair that is not the answer.
    model_server.enqueue(
        Step(
            content="",
            reasoning_content="Maybe drop the rounding:\n" + DECOY,
            tool_calls_fixture="refactor_pairs_total_calls",
            finish_reason="tool_calls",
            chunk_chars=5,
        )
    )
    client, result = await _refactor(start_lsp, sample)
    assert result["kind"] == "applied", result
    assert client.text(URI) == refactored(sample)
    assert "round(subtotal" in client.text(URI)


async def test_whole_json_structured_tool_calls_give_the_same_edit(start_lsp, model_server, sample):
    model_server.enqueue(
        Step(
            content="<think>\nTwo pairs.\n</think>\n\n",
            tool_calls_fixture="refactor_pairs_total_calls",
            finish_reason="tool_calls",
            stream=False,
        )
    )
    client, result = await _refactor(start_lsp, sample)
    assert result["kind"] == "applied", result
    assert client.text(URI) == refactored(sample)


async def test_a_pair_that_matches_nothing_gets_one_repair_turn(start_lsp, model_server, sample):
    model_server.enqueue(
        Step(fixture="refactor_pairs_nomatch"), Step(fixture="refactor_pairs_total")
    )
    client, result = await _refactor(start_lsp, sample)
    assert result["kind"] == "applied", result
    assert result["modelCalls"] == 2
    assert client.text(URI) == refactored(sample)
    repair = model_server.requests[1].json["messages"]
    assert repair[-2]["role"] == "assistant" and "for idx in range" in repair[-2]["content"]
    complaint = repair[-1]["content"]
    assert "Replacement pair 1 does not match any lines of the selection" in complaint
    # The closest lines of the selection are quoted (difflib), as the prompt showed them.
    assert "    for i in range(len(items)):\n        item = items[i]" in complaint


async def test_pairs_still_wrong_after_the_repair_are_refused(start_lsp, model_server, sample):
    model_server.enqueue(
        Step(fixture="refactor_pairs_outside"), Step(fixture="refactor_pairs_outside")
    )
    client, result = await _refactor(start_lsp, sample)
    assert result["applied"] is False
    assert result["kind"] == result["reason"] == "pairs"
    assert "Replacement pair 1 quotes code outside the selection" in result["message"]
    assert "Nothing was changed" in result["message"]
    assert client.text(URI) == sample
    assert client.applied_edits == []
    assert len(model_server.requests) == 2
    complaint = model_server.requests[1].json["messages"][-1]["content"]
    assert "outside the selection" in complaint


async def test_edit_format_decides_what_is_asked_not_what_is_accepted(
    start_lsp, model_server, sample
):
    # "whole" never offers pairs, yet a pair reply is still applied.
    model_server.enqueue(Step(fixture="refactor_pairs_total"))
    client, result = await _refactor(start_lsp, sample, init={"editFormat": "whole"})
    assert result["kind"] == "applied", result
    asked = model_server.requests[0].json["messages"][-1]["content"]
    assert "<minimax:tool_call>" not in asked
    assert client.text(URI) == refactored(sample)


async def test_edit_format_replace_asks_for_pairs_and_takes_a_whole_reply(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client, result = await _refactor(start_lsp, sample, init={"editFormat": "replace"})
    assert result["kind"] == "applied", result
    asked = model_server.requests[0].json["messages"][-1]["content"]
    assert '<invoke name="replace">' in asked and "old_text" in asked
    assert "tools" not in model_server.requests[0].json  # the form is asked in text only
    assert client.text(URI) == refactored(sample)
