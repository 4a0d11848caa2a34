"""Every failure: one showMessage that says what to do, details in the log, nothing applied."""

from __future__ import annotations

import pytest
from lsprotocol import types
from m21_lsp.testing.scripted_server import Step
from support.lsp_client import capabilities, find, refactor_action

URI = "file:///work/shop.py"

CASES = {
    "rejected key": (
        [Step(status=401, body={"message": "Invalid API key", "statusCode": 401})],
        {},
        "auth",
        ["rejected the API key", "M21_API_KEY"],
    ),
    "out of credits": (
        [Step(status=403, body={"message": "Insufficient balance", "statusCode": 403})],
        {},
        "credits",
        ["out of credits", "balance"],
    ),
    "rate limited after retries": (
        [
            Step(status=429, headers={"Retry-After": "0"}, body={"message": "slow down"})
            for _ in range(3)
        ],
        {},
        "rate_limit",
        ["rate limiting", "gave up after 3 attempts"],
    ),
    "timeout": (
        [Step(fixture="refactor_basic", hold=True)],
        {"chunkTimeout": 0.5, "maxAttempts": 1},
        "timeout",
        ["sent nothing for 0.5 s", "chunkTimeout"],
    ),
    "truncated": (
        [Step(fixture="refactor_truncated", finish_reason="length")],
        {},
        "truncated",
        ["maxTokens"],
    ),
    "no code": (
        [Step(fixture="no_fences")],
        {},
        "no_code",
        ["code"],
    ),
    "invalid python after repair": (
        [Step(fixture="invalid_python"), Step(fixture="invalid_python")],
        {"repairTurns": 1},
        "invalid_python",
        ["not valid Python", "after 1 repair turn"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_failure_shows_one_message_and_applies_nothing(start_lsp, model_server, sample, case):
    steps, init, kind, phrases = CASES[case]
    model_server.enqueue(*steps)
    client = await start_lsp(init=init)
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))

    assert result["applied"] is False
    assert result["cancelled"] is False
    assert result["kind"] == kind
    assert result["reason"] == kind
    (shown,) = client.errors_shown()
    assert shown.startswith("Refactor with m2-1: ")
    for phrase in phrases:
        assert phrase in shown, (phrase, shown)
        assert phrase in result["message"]
    assert len(model_server.requests) == len(steps)
    assert client.applied_edits == []
    assert client.text(URI) == sample
    (values,) = client.progress_values()
    assert isinstance(values[-1], types.WorkDoneProgressEnd)
    assert values[-1].message.startswith("Failed: ")
    logged = [m.message for m in client.log_messages if f"failed ({kind})" in m.message]
    assert len(logged) == 1


async def test_no_key_names_the_variables_and_sends_nothing(start_lsp, model_server, sample):
    client = await start_lsp(key=None)
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["kind"] == "config"
    (shown,) = client.errors_shown()
    assert "M21_API_KEY" in shown and "AIMLAPI_KEY" in shown
    assert model_server.requests == []
    assert client.applied_edits == []


async def test_failure_without_progress_support_is_one_start_and_one_error(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(status=401, body={"message": "Invalid API key"}))
    client = await start_lsp(caps=capabilities("emacs", window=None))
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["kind"] == "started"  # answered at once; the outcome is a message
    await client.wait_until(client.errors_shown)
    assert [(m.type, m.message.split(":")[0]) for m in client.messages] == [
        (types.MessageType.Info, "Refactor with m2-1"),
        (types.MessageType.Error, "Refactor with m2-1"),
    ]


async def test_bad_command_arguments_are_a_clear_error(start_lsp, model_server, sample):
    client = await start_lsp()
    client.open(URI, sample)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="m21.refactor", arguments=[{"uri": URI}])
    )
    assert result["kind"] == "usage"
    assert "range" in result["message"]
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="m21.explain",
            arguments=[
                {
                    "uri": "file:///work/not-open.py",
                    "range": {
                        "start": {"line": 0, "character": 0},
                        "end": {"line": 1, "character": 0},
                    },
                }
            ],
        )
    )
    assert result["kind"] == "usage"
    assert "not open" in result["message"]
    assert model_server.requests == []
