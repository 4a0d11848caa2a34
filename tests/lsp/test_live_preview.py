"""``m21/preview`` over stdio (docs/preview.md): the work as it arrives, for clients that ask.

The scripted model server stalls its stream at a chosen chunk and is released by the test,
so "before the command's answer" is proven by waiting on events, never by sleeping. The
throttle is checked by counts: fewer snapshots than chunks, and no more than the elapsed
time between the first and the last snapshot allows at ~10 per second.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from lsprotocol import types
from m21_lsp.lsp.preview import INTERVAL
from m21_lsp.testing.scripted_server import Step, load_reply
from support.lsp_client import NEW_TOTAL, capabilities, find, refactor_action, refactored

URI = "file:///work/shop.py"
THOUGHT_REFACTOR = "It loops with an index, skips items whose quantity"
THOUGHT_EXPLAIN = "Mention the index loop and the rounding"


def opted_in() -> types.ClientCapabilities:
    caps = capabilities()
    caps.experimental = {"m21Preview": True}
    return caps


def previews(client: Any) -> list[dict[str, Any]]:
    return [
        m["params"]
        for m in (json.loads(raw) for raw in client.raw)
        if m.get("method") == "m21/preview"
    ]


def order(client: Any) -> list[str]:
    """Previews and command answers, in the order the client received them."""
    out = []
    for raw in client.raw:
        m = json.loads(raw)
        if m.get("method") == "m21/preview":
            out.append(m["params"]["state"])
        elif isinstance(m.get("result"), dict) and "kind" in m["result"]:
            out.append("answer")
    return out


def stall_in(fixture: str, needle: str, chunk_chars: int = 7) -> int:
    """A chunk index just after ``needle`` has been streamed."""
    raw = load_reply(fixture)
    return (raw.index(needle) + len(needle)) // chunk_chars + 3


async def explain_action(client: Any, offset: int) -> types.CodeAction:
    (action,) = await client.actions(URI, offset, only=["refactor.explain"])
    return action


async def test_refactor_code_arrives_as_snapshots_before_the_answer(
    start_lsp, model_server, sample
):
    model_server.enqueue(
        Step(fixture="refactor_basic", stall_after_chunks=stall_in("refactor_basic", "subtotal"))
    )
    client = await start_lsp(caps=opted_in())
    client.open(URI, sample)
    command = asyncio.ensure_future(
        client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    )
    seen = await client.wait_until(
        lambda: [p for p in previews(client) if "subtotal" in p["text"]], "code in a preview"
    )
    assert not command.done()  # the model is still writing: the stream is stalled
    assert client.applied_edits == [] and client.text(URI) == sample
    first = seen[0]
    assert first["kind"] == "refactor" and first["uri"] == URI and first["state"] == "streaming"
    assert first["text"].startswith("def total_price(items, tax_rate):")
    # The cursor's range, expanded to the enclosing function as the command did.
    def_line = sample.count("\n", 0, find(sample, "def total_price"))
    assert first["range"]["start"] == {"line": def_line, "character": 0}
    assert first["range"]["end"]["line"] > def_line + 3
    model_server.release()
    result = await command
    assert result["applied"] is True and client.text(URI) == refactored(sample)

    sent = previews(client)
    assert len({p["id"] for p in sent}) == 1
    assert {json.dumps(p["range"], sort_keys=True) for p in sent} == {
        json.dumps(first["range"], sort_keys=True)
    }
    streaming = [p["text"] for p in sent if p["state"] == "streaming"]
    # Full snapshots, never deltas: each one holds the one before it.
    assert all(b.startswith(a) for a, b in itertools.pairwise(streaming))
    assert all(t.startswith("def") for t in streaming)  # never the prose before the code
    assert streaming[-1].startswith("def total_price(items, tax_rate):")
    assert sent[-1]["state"] == "done" and sent[-1]["text"] == NEW_TOTAL
    assert order(client)[-2:] == ["done", "answer"]
    assert not any(THOUGHT_REFACTOR in p["text"] or "<think>" in p["text"] for p in sent)


async def test_explain_markdown_streams_and_ends_with_the_whole_explanation(
    start_lsp, model_server, sample
):
    model_server.enqueue(
        Step(fixture="explain_basic", stall_after_chunks=stall_in("explain_basic", "running total"))
    )
    client = await start_lsp(caps=opted_in())
    client.open(URI, sample)
    command = asyncio.ensure_future(
        client.run(await explain_action(client, find(sample, "total = 0")))
    )
    seen = await client.wait_until(
        lambda: [p for p in previews(client) if "running total" in p["text"]], "explanation"
    )
    assert not command.done()
    assert seen[0]["kind"] == "explain"
    assert seen[0]["text"].startswith("### What `total_price` does")
    model_server.release()
    result = await command
    sent = previews(client)
    assert sent[-1]["state"] == "done" and sent[-1]["text"] == result["markdown"]
    assert order(client)[-2:] == ["done", "answer"]
    streaming = [p["text"] for p in sent if p["state"] == "streaming"]
    assert all(b.startswith(a) for a, b in itertools.pairwise(streaming))
    assert not any(THOUGHT_EXPLAIN in p["text"] for p in sent)


async def test_snapshots_are_throttled(start_lsp, model_server, sample):
    """One character per chunk: hundreds of "writing" reports, a handful of snapshots."""
    model_server.enqueue(Step(fixture="explain_basic", chunk_chars=1))
    client = await start_lsp(caps=opted_in())
    client.open(URI, sample)
    received: list[float] = []
    loop = asyncio.get_running_loop()
    client.protocol.fm.feature("m21/preview")(lambda params: received.append(loop.time()))
    result = await client.run(await explain_action(client, find(sample, "total = 0")))
    sent = previews(client)
    streaming = [p for p in sent if p["state"] == "streaming"]
    chunks = len(result["markdown"])
    assert streaming and len(streaming) < chunks / 10
    if len(received) >= 2:  # the rate: one per INTERVAL, plus the first and the final flush
        assert len(streaming) <= 2 + (received[-1] - received[0]) / INTERVAL
    assert sent[-1]["state"] == "done"


async def test_cancel_clears_the_live_view(start_lsp, model_server, sample):
    model_server.enqueue(
        Step(fixture="refactor_basic", stall_after_chunks=stall_in("refactor_basic", "subtotal"))
    )
    client = await start_lsp(caps=opted_in())
    client.open(URI, sample)
    command = asyncio.ensure_future(
        client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    )
    await client.wait_until(lambda: previews(client), "a preview")
    (token,) = [t for t, v in client.progress_reports.items() if v]
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await command
    assert result["cancelled"] is True
    sent = previews(client)
    assert sent[-1] == {**sent[0], "text": "", "state": "cleared"}
    assert order(client)[-2:] == ["cleared", "answer"]
    assert "done" not in order(client)
    assert client.text(URI) == sample


async def test_failure_clears_the_live_view(start_lsp, model_server, sample):
    """A reply cut off inside its code block: code was shown, the command fails, and the
    view is told to go before the answer arrives."""
    fixture = "refactor_truncated_code"
    model_server.enqueue(
        Step(
            fixture=fixture,
            finish_reason="length",
            stall_after_chunks=stall_in(fixture, "Sum price"),
        )
    )
    client = await start_lsp(caps=opted_in())
    client.open(URI, sample)
    command = asyncio.ensure_future(
        client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    )
    await client.wait_until(lambda: [p for p in previews(client) if "Sum price" in p["text"]])
    model_server.release()
    result = await command
    assert result["applied"] is False and result["reason"]
    sent = previews(client)
    assert sent[-1]["state"] == "cleared" and sent[-1]["text"] == ""
    assert order(client)[-2:] == ["cleared", "answer"]
    assert client.text(URI) == sample


async def test_clients_that_did_not_opt_in_never_see_it(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="refactor_basic", chunk_chars=3))
    model_server.enqueue(Step(fixture="explain_basic", chunk_chars=3))
    client = await start_lsp()
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["applied"] is True
    result = await client.run(await explain_action(client, find(sample, "return round")))
    assert result["kind"] == "explained"
    assert not any("m21/preview" in raw for raw in client.raw)


async def test_initialization_options_opt_in_without_a_settings_warning(
    start_lsp, model_server, sample
):
    """For plugins that cannot extend the capabilities (``initializationOptions.preview``);
    it is not a setting, so it must not be reported as an unknown one."""
    model_server.enqueue(Step(fixture="explain_basic", chunk_chars=3))
    client = await start_lsp(init={"preview": True})
    client.open(URI, sample)
    await client.run(await explain_action(client, find(sample, "total = 0")))
    assert previews(client)[-1]["state"] == "done"
    assert not any("preview" in m for m in client.shown())
