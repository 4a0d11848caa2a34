"""What an editor sees of a retried or usage-less model call: progress and the result."""

from __future__ import annotations

from lsprotocol import types
from m21_lsp.testing.scripted_server import Step
from support.lsp_client import find, refactor_action, refactored

URI = "file:///work/shop.py"


async def test_a_rate_limit_retry_is_shown_in_progress_and_missing_usage_is_not_zero(
    start_lsp, model_server, sample
):
    # The 429 comes back within milliseconds of the "waiting for the model" report: the
    # retry note must not be dropped by the same-phase throttle.
    model_server.enqueue(
        Step(status=429, headers={"Retry-After": "0"}, body={"message": "Slow down."}),
        Step(fixture="refactor_basic", include_usage=False),
    )
    client = await start_lsp()
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))

    result = await client.run(action)

    assert result["applied"] is True, result
    assert client.text(URI) == refactored(sample)
    (values,) = client.progress_values()
    messages = [v.message for v in values if isinstance(v, types.WorkDoneProgressReport)]
    assert "rate limited: retrying in 0 s (attempt 2 of 3)" in messages, messages
    assert result["usage"]["reported"] is False
    assert result["usage"]["promptTokens"] is None and result["usage"]["completionTokens"] is None
