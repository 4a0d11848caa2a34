"""What the client says when an endpoint fails: readable sentences, the right diagnosis.

Servers end their own messages with a full stop; ours wrap them in parentheses and
sentences, so every message here is checked for doubled punctuation ("exceeded.).").
"""

from __future__ import annotations

import dataclasses
import random
import re

import pytest
from m21_lsp.config import Settings
from m21_lsp.errors import M21Error, TruncatedReply
from m21_lsp.model.client import ModelClient
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

MESSAGES = [{"role": "user", "content": "refactor"}]
DOUBLED = re.compile(r"[.!?;:,]\)?[.!?;:,]")


async def no_sleep(_seconds: float) -> None:
    return None


def settings_for(srv: ScriptedModelServer, key: str, **changes: object) -> Settings:
    return dataclasses.replace(Settings(api_key=key, base_url=srv.base_url), **changes)


async def failure(srv: ScriptedModelServer, key: str, **changes: object) -> M21Error:
    settings = settings_for(srv, key, **changes)
    async with ModelClient(settings, sleep=no_sleep, rng=random.Random(3)) as client:
        with pytest.raises(M21Error) as info:
            await client.complete(MESSAGES)
    assert key not in info.value.message
    return info.value


@pytest.mark.parametrize(
    ("steps", "said", "changes"),
    [
        (
            [Step(status=429, body={"error": {"message": "Rate limit exceeded."}})] * 3,
            "(HTTP 429: Rate limit exceeded)",
            {},
        ),
        (
            [
                Step(
                    status=429,
                    headers={"Retry-After": "2"},
                    body={"message": "Slow down!", "statusCode": 429},
                )
            ],
            "(HTTP 429: Slow down)",
            {"max_attempts": 1},
        ),
        (
            [Step(status=429, headers={"Retry-After": "900"}, body="Too many requests.")],
            "(HTTP 429: Too many requests)",
            {},
        ),
        ([Step(status=500, body={"message": "Internal error."})] * 2, "Internal error", {}),
        ([Step(status=400, body={"error": {"message": "Bad model."}})], "Bad model", {}),
        ([Step(status=404, body={"message": "Not found."})], "Not found", {}),
        (
            [Step(base_resp={"status_code": 1002, "status_msg": "rate limit exceeded."})] * 3,
            "rate limit exceeded",
            {},
        ),
    ],
    ids=["429-x3", "429-once", "429-retry-after-past-timeout", "500", "400", "404", "base_resp"],
)
async def test_no_doubled_punctuation(
    model_server: ScriptedModelServer,
    sentinel_key: str,
    steps: list[Step],
    said: str,
    changes: dict[str, object],
) -> None:
    model_server.enqueue(*steps)
    error = await failure(model_server, sentinel_key, **({"max_attempts": len(steps)} | changes))
    assert said in error.message, error.message
    assert not DOUBLED.search(error.message), error.message
    assert error.message.endswith("."), error.message


async def test_giving_up_is_its_own_sentence(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(*[Step(status=503)] * 3)
    error = await failure(model_server, sentinel_key)
    assert error.message.endswith(" m21-lsp gave up after 3 attempts (maxAttempts)."), error.message


SPENT = {"prompt_tokens": 900, "completion_tokens": 777}


@pytest.mark.parametrize(
    "step",
    [
        Step(content="<think>Let me weigh the loop", finish_reason="length"),
        Step(content="", reasoning_content="Let me weigh the loop", finish_reason="length"),
        # Some gateways say "stop" for a cut-off reply: the usage shows the budget was spent.
        Step(content="<think>Let me weigh the loop and", finish_reason="stop", usage=SPENT),
        Step(content="", reasoning_content="Let me weigh", finish_reason="stop", usage=SPENT),
    ],
    ids=[
        "unclosed-think-length",
        "reasoning-only-length",
        "unclosed-stop-spent",
        "only-stop-spent",
    ],
)
async def test_a_reply_that_ends_while_thinking_says_so(
    model_server: ScriptedModelServer, sentinel_key: str, step: Step
) -> None:
    model_server.enqueue(step)
    error = await failure(model_server, sentinel_key, max_tokens=777)
    assert isinstance(error, TruncatedReply)
    assert error.message.startswith(
        "The reply ended while the model was still thinking: raise maxTokens"
    ), error.message
    assert "M21_MAX_TOKENS" in error.message and "777" in error.message
    assert len(model_server.requests) == 1  # not retried: the same budget would end the same


@pytest.mark.parametrize(
    "step",
    [
        Step(content="", reasoning_content="Let me weigh the loop", finish_reason="stop"),
        Step(content="<think>Let me weigh the loop against sum() and", finish_reason="stop"),
    ],
    ids=["reasoning-only-stop", "unclosed-think-stop"],
)
async def test_a_complete_reply_with_only_reasoning_is_not_blamed_on_max_tokens(
    model_server: ScriptedModelServer, sentinel_key: str, step: Step
) -> None:
    """finish_reason "stop" and a usage far below the budget: raising maxTokens would not
    help, so the message does not lead with it (issue 19); the draft is never applied."""
    model_server.enqueue(step)
    error = await failure(model_server, sentinel_key, max_tokens=777)
    assert not isinstance(error, TruncatedReply)
    assert error.kind == "reply"
    assert error.message.startswith(
        "The model endpoint sent only reasoning and no answer, although it reported the reply "
        "as complete (finish reason 'stop')."
    ), error.message
    assert "--reasoning-parser" in error.message
    assert len(model_server.requests) == 1


async def test_missing_usage_is_unknown_not_zero(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(
        Step(fixture="refactor_basic", include_usage=False),
        Step(fixture="refactor_basic", usage={"prompt_tokens": 1200, "completion_tokens": 34}),
    )
    async with ModelClient(settings_for(model_server, sentinel_key)) as client:
        missing = await client.complete(MESSAGES)
        assert missing.usage.reported is False
        assert missing.usage.describe() == "usage not reported"
        assert missing.usage.as_dict() == {
            "promptTokens": None,
            "completionTokens": None,
            "reasoningTokens": None,
            "cachedTokens": None,
            "creditsUsed": None,
            "reported": False,
        }
        given = await client.complete(MESSAGES)
    assert given.usage.reported is True
    assert given.usage.describe() == "1,200 prompt + 34 completion tokens, 3 credits"
    assert given.usage.as_dict()["promptTokens"] == 1200


async def test_cached_prompt_tokens_are_read_summed_and_shown(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 34,
        "prompt_tokens_details": {"cached_tokens": 1024},
    }
    model_server.enqueue(
        Step(fixture="refactor_basic", usage=usage),
        Step(fixture="refactor_basic", usage=usage, stream=False),
    )
    async with ModelClient(settings_for(model_server, sentinel_key)) as client:
        streamed = await client.complete(MESSAGES)
        whole = await client.complete(MESSAGES)
    assert streamed.usage.cached_tokens == whole.usage.cached_tokens == 1024
    assert streamed.usage.describe() == (
        "1,200 prompt (1,024 cached) + 34 completion tokens, 3 credits"
    )
    assert streamed.usage.as_dict()["cachedTokens"] == 1024
    assert client.usage.cached_tokens == 2048  # summed over calls, like a repair turn's
