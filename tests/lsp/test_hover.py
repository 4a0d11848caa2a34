"""m21.explain and hover: cached by code and model, `auto` mode, cancellation."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from m21_lsp.testing.scripted_server import Step, load_reply
from pygls.exceptions import JsonRpcRequestCancelled
from support.lsp_client import find
from support.positions import lsp_range

URI = "file:///work/shop.py"


def explanation() -> str:
    """The explain_basic reply without its reasoning block (as the user must see it)."""
    raw = load_reply("explain_basic")
    return raw.split("</think>", 1)[1].strip()


async def explain_action(client, uri: str, offset: int) -> types.CodeAction:
    (action,) = await client.actions(uri, offset, only=["refactor.explain"])
    return action


async def test_explain_returns_markdown_and_hover_serves_it_without_a_model_call(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="explain_basic"))
    client = await start_lsp()
    client.open(URI, sample)
    result = await client.run(await explain_action(client, URI, find(sample, "total = 0")))

    assert result["kind"] == "explained"
    assert result["markdown"] == explanation()
    assert "<think>" not in result["markdown"]
    assert client.shown(types.MessageType.Info) == [
        "Explanation ready: hover the selection to read it."
    ]
    (values,) = client.progress_values()
    assert values[0].title == "Explain with m2-1"
    assert values[-1].message == "Explanation ready."

    hover = await client.hover_at(URI, find(sample, "item = items[i]"))
    assert hover is not None
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert hover.contents.value == explanation()
    start = find(sample, "def total_price")
    end = find(sample, "return round(total, 2)") + len("return round(total, 2)")
    assert hover.range == lsp_range(sample, start, end)
    assert await client.hover_at(URI, find(sample, "def format_tag") + 5) is None
    assert len(model_server.requests) == 1


async def test_hover_survives_edits_elsewhere_and_drops_when_the_code_changes(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="explain_basic"))
    client = await start_lsp()
    client.open(URI, sample)
    await client.run(await explain_action(client, URI, find(sample, "total = 0")))

    client.edit(URI, 0, 0, "# a new first line\n")
    tag = find(client.text(URI), 'return "<"')
    client.edit(URI, tag, tag + 6, "return  ")
    moved = await client.hover_at(URI, find(client.text(URI), "item = items[i]"))
    assert moved is not None and moved.contents.value == explanation()
    assert moved.range.start.line == 6  # one line further down than before

    inside = find(client.text(URI), "total = 0")
    client.edit(URI, inside, inside + len("total = 0"), "total = 0.0")
    assert await client.hover_at(URI, find(client.text(URI), "item = items[i]")) is None
    assert len(model_server.requests) == 1


async def test_explanation_is_cached_per_model(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="explain_basic"))
    client = await start_lsp(config={"m21": {"model": "minimax/m2-1"}})
    client.open(URI, sample)
    await client.run(await explain_action(client, URI, find(sample, "total = 0")))
    assert await client.hover_at(URI, find(sample, "item = items[i]")) is not None

    client.set_configuration({"m21": {"model": "other/model"}})
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await client.sync()
    assert await client.hover_at(URI, find(sample, "item = items[i]")) is None


async def test_hover_off_never_answers(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="explain_basic"))
    client = await start_lsp(init={"hover": "off"})
    client.open(URI, sample)
    result = await client.run(await explain_action(client, URI, find(sample, "total = 0")))
    assert result["markdown"] == explanation()
    assert "hover is off" in result["message"]
    assert await client.hover_at(URI, find(sample, "item = items[i]")) is None


async def test_auto_hover_explains_the_enclosing_function_once(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="explain_basic"))
    client = await start_lsp(init={"hover": "auto"})
    client.open(URI, sample)

    hover = await client.hover_at(URI, find(sample, "item = items[i]"))

    assert hover is not None and hover.contents.value == explanation()
    (request,) = model_server.requests
    selected = request.json["messages"][-1]["content"].split("Selected code:", 1)[1]
    assert "def total_price" in selected and "def format_tag" not in selected
    (values,) = client.progress_values()
    assert values[0].title == "Explain with m2-1"
    assert isinstance(values[-1], types.WorkDoneProgressEnd)
    again = await client.hover_at(URI, find(sample, "total = total + total"))
    assert again is not None and again.contents.value == explanation()
    assert len(model_server.requests) == 1
    # Outside any function or statement there is nothing to explain and no model call.
    assert await client.hover_at(URI, find(sample, "\n\n\ndef format_tag") + 1) is None
    assert len(model_server.requests) == 1


async def test_auto_hover_honours_cancel_request(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="explain_basic", hold=True))
    client = await start_lsp(init={"hover": "auto"})
    client.open(URI, sample)
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(
            types.TEXT_DOCUMENT_HOVER,
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=lsp_range(sample, find(sample, "total = 0"), 0).start,
            ),
            msg_id="hover-to-cancel",
        )
    )
    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    client.cancel_request(types.CancelParams(id="hover-to-cancel"))
    with pytest.raises(JsonRpcRequestCancelled):
        await pending
    closed = await asyncio.to_thread(model_server.wait_for_disconnect)
    assert closed is not None and closed.client_closed_early
    # Nothing was cached: the next hover asks again.
    model_server.enqueue(Step(fixture="explain_basic"))
    hover = await client.hover_at(URI, find(sample, "total = 0"))
    assert hover is not None and len(model_server.requests) == 2


async def test_hover_range_after_emoji_and_cjk(start_lsp, model_server):
    """The hover range of a snippet that starts mid-line after non-BMP text is in UTF-16."""
    text = 'LABEL = "😀 世界"; y = compute(1) + compute(2)\n'
    model_server.enqueue(Step(content="<think>x</think>\nCalls `compute` twice."))
    client = await start_lsp()
    client.open(URI, text)
    start = find(text, "compute(1)")
    end = len(text) - 1
    (action,) = await client.actions(URI, start, end, only=["refactor.explain"])
    assert action.command.arguments[0]["range"]["start"] == {"line": 0, "character": 21}
    result = await client.run(action)
    assert result["markdown"] == "Calls `compute` twice."
    hover = await client.hover_at(URI, find(text, "compute(2)"))
    assert hover is not None
    assert hover.range == types.Range(
        start=types.Position(line=0, character=21), end=types.Position(line=0, character=44)
    )
    assert await client.hover_at(URI, find(text, "世")) is None


async def test_auto_hover_reports_on_the_clients_token_and_can_be_cancelled_there(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="explain_basic", hold=True))
    client = await start_lsp(init={"hover": "auto"})
    client.open(URI, sample)
    client.progress_reports["hover-token"] = []
    pending = asyncio.ensure_future(
        client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=lsp_range(sample, find(sample, "total = 0"), 0).start,
                work_done_token="hover-token",
            )
        )
    )
    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    await client.wait_until(lambda: client.progress_reports["hover-token"])
    assert client.progress_reports["hover-token"][0].title == "Explain with m2-1"

    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="hover-token"))

    assert await pending is None
    closed = await asyncio.to_thread(model_server.wait_for_disconnect)
    assert closed is not None and closed.client_closed_early
    assert isinstance(client.progress_reports["hover-token"][-1], types.WorkDoneProgressEnd)
    assert client.progress_values() == [client.progress_reports["hover-token"]]
