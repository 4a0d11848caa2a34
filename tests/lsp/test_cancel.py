"""Cancelling closes the model's HTTP stream; several refactors run while the server answers."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from m21_lsp.testing.scripted_server import Step
from pygls.exceptions import JsonRpcRequestCancelled
from support.lsp_client import NEW_TOTAL, find, refactor_action, refactored

URI = "file:///work/shop.py"


def _begun_token(client) -> types.ProgressToken | None:
    for token, values in client.progress_reports.items():
        if values and isinstance(values[0], types.WorkDoneProgressBegin):
            return token
    return None


async def test_progress_cancel_closes_the_stream_and_answers_cancelled(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="refactor_basic", hold=True))
    client = await start_lsp()
    client.open(URI, sample)
    command = asyncio.ensure_future(
        client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    )
    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    token = await client.wait_until(lambda: _begun_token(client), "progress begin")

    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await command

    assert result["applied"] is False
    assert result["cancelled"] is True
    assert result["kind"] == "cancelled"
    closed = await asyncio.to_thread(model_server.wait_for_disconnect)
    assert closed is not None and closed.client_closed_early
    assert client.applied_edits == []
    assert client.text(URI) == sample
    assert client.progress_reports[token][-1].message == "Cancelled; nothing was changed."
    assert client.errors_shown() == []


async def test_cancel_request_closes_the_stream_and_answers_request_cancelled(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="refactor_basic", stall_after_chunks=3))
    client = await start_lsp()
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(
                command=action.command.command, arguments=action.command.arguments
            ),
            msg_id="refactor-to-cancel",
        )
    )
    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    await client.wait_until(lambda: _begun_token(client), "progress begin")

    client.cancel_request(types.CancelParams(id="refactor-to-cancel"))

    with pytest.raises(JsonRpcRequestCancelled):
        await pending
    closed = await asyncio.to_thread(model_server.wait_for_disconnect)
    assert closed is not None and closed.client_closed_early
    token = _begun_token(client)
    await client.wait_until(
        lambda: isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd)
    )
    # The server is still healthy and nothing was applied.
    assert await client.actions(URI, find(sample, "total = 0"))
    assert client.applied_edits == []
    assert client.text(URI) == sample


async def test_refactors_run_concurrently_while_the_server_keeps_answering(
    start_lsp, model_server, sample
):
    replies = {
        "def total_price": "<think>sum</think>\n```python\n" + NEW_TOTAL + "```\n",
        "def format_tag": (
            "<think>f-string</think>\n```python\n"
            'def format_tag(name):\n    return f"<{name}>"\n```\n'
        ),
        "def load_items": (
            "<think>encoding</think>\n```python\n"
            "def load_items(path):\n"
            '    with open(path, encoding="utf-8") as fh:\n'
            "        return json.load(fh)\n```\n"
        ),
    }

    def responder(body: dict) -> Step:
        """Answer for the function in the prompt's "Selected code" block."""
        selected = body["messages"][-1]["content"].split("Selected code:", 1)[1]
        (name,) = [n for n in replies if n in selected]
        return Step(content=replies[name], hold=True)

    model_server.responder = responder
    client = await start_lsp()
    client.open(URI, sample)
    runs = []
    for marker in ("total = 0", 'return "<"', "with open(path)"):
        action = await refactor_action(client, URI, find(sample, marker))
        runs.append(asyncio.ensure_future(client.run(action)))

    assert await asyncio.to_thread(model_server.wait_for_requests, 3)
    # While three model calls wait, code actions, hover and document sync still work.
    client.edit(URI, 0, 0, "# edited meanwhile\n")
    moved = client.text(URI)
    actions = await client.actions(URI, find(moved, "total = 0"))
    assert [a.kind for a in actions] == ["refactor.rewrite", "refactor.explain"]
    assert actions[0].command.arguments[0]["version"] == 2
    assert await client.hover_at(URI, find(moved, "total = 0")) is None
    assert all(not run.done() for run in runs)
    model_server.release()
    results = await asyncio.gather(*runs)

    assert [r["applied"] for r in results] == [True, True, True], results
    expected = "# edited meanwhile\n" + (
        refactored(sample)
        .replace('return "<" + name + ">"', 'return f"<{name}>"')
        .replace("with open(path) as fh:", 'with open(path, encoding="utf-8") as fh:')
    )
    assert client.text(URI) == expected
