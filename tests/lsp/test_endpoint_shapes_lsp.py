"""The reply shapes of ``fixtures/endpoint_shapes`` through the language server over stdio.

The same files the CLI replays (tests/model/test_endpoint_shapes_cli.py): the answer lands in
the editor's document, never the draft from the reasoning; a refusal has the shape's kind
and message, touches nothing, and costs exactly the requests its retry decision allows.
"""

from __future__ import annotations

import pytest
from support import endpoint_shapes
from support.lsp_client import find, refactor_action

URI = "file:///work/shop.py"


@pytest.mark.parametrize("name", endpoint_shapes.names())
async def test_the_server_replays_the_shape(start_lsp, model_server, sample, sentinel_key, name):
    shape = endpoint_shapes.load(name)
    model_server.enqueue(*shape.scripted_steps())
    client = await start_lsp()
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, endpoint_shapes.FIRST_LINE))
    result = await client.run(action)

    endpoint_shapes.check_text(shape, sample, client.text(URI))
    assert len(model_server.requests) == shape.expect["requests"]
    if shape.expect["applied"]:
        assert result["applied"] is True, result
        assert result["kind"] == "applied"
    else:
        assert result["applied"] is False
        assert result["kind"] == shape.expect["kind"], result
        assert client.applied_edits == []
        endpoint_shapes.check_message(shape, result["message"])
        (shown,) = client.errors_shown()
        endpoint_shapes.check_message(shape, shown)
    assert sentinel_key not in str(result)
