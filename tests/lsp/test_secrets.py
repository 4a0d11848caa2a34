"""The API key never appears in anything the server sends, nor on its stderr."""

from __future__ import annotations

from lsprotocol import types
from m21_lsp.testing.scripted_server import Step
from support.lsp_client import find, refactor_action

URI = "file:///work/shop.py"


async def test_sentinel_key_never_leaves_the_server(
    start_lsp, model_server, sample, sentinel_key, capfd
):
    model_server.enqueue(
        Step(fixture="refactor_basic"),
        Step(fixture="explain_basic"),
        Step(
            status=401,
            body={"message": f"Invalid key {sentinel_key}", "statusCode": 401},
        ),
    )
    client = await start_lsp(
        key=None,
        init={"m21": {"apiKey": sentinel_key, "hover": "auto"}},
        config={
            "m21": {
                "apiKey": sentinel_key,
                "model": 42,
                "baseUrl": f"http://example.com/{sentinel_key}",
                "maxTokens": sentinel_key,
            }
        },
    )
    client.open(URI, sample)
    ok = await client.run(await refactor_action(client, URI, find(client.text(URI), "total = 0")))
    assert ok["applied"] is True
    text = client.text(URI)
    (explain,) = await client.actions(URI, find(text, 'return "<"'), only=["refactor.explain"])
    assert (await client.run(explain))["kind"] == "explained"
    failed = await client.run(await refactor_action(client, URI, find(text, "with open")))
    assert failed["kind"] == "auth"
    assert await client.hover_at(URI, find(text, 'return "<"')) is not None
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="nothing"))
    await client.sync()

    # The key was really used for every request...
    assert len(model_server.requests) == 3
    for request in model_server.requests:
        assert request.headers["authorization"] == f"Bearer {sentinel_key}"
    # ...and appears nowhere the user or a log could see it.
    assert client.shown(types.MessageType.Warning), "bad settings must be reported"
    assert client.errors_shown(), "the 401 must be reported"
    assert client.raw, "the client recorded the server's messages"
    for message in client.raw:
        assert sentinel_key not in message
    for log in client.log_messages:
        assert sentinel_key not in log.message
    await client.shutdown_session()
    captured = capfd.readouterr()
    assert sentinel_key not in captured.err
    assert sentinel_key not in captured.out
