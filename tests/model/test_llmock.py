"""Our client against LLMock (PyPI ``llmock``), a third-party chaos server for LLM clients.

The scripted server is ours, so it shares our assumptions about what an endpoint does.
LLMock was written by others: it injects its own 429s, truncated and corrupted streams on
127.0.0.1, records every attempt with its timing, and then grades the client (retried
before Retry-After elapsed? used a stream with no finish reason? carried on after a
corrupted chunk?). ``assert_resilient(strict=True)`` fails on any such finding.

The ``llmock`` fixture comes from LLMock's pytest plugin. Waits here are real (LLMock
times them to grade the client), so they are kept short.
"""

from __future__ import annotations

import asyncio
from typing import Any

from m21_lsp.config import Settings
from m21_lsp.errors import RateLimitError
from m21_lsp.model.client import ModelClient
from m21_lsp.model.types import Progress

MESSAGES = [{"role": "user", "content": "refactor"}]
REPLY = "<think>sum() reads better</think>\n```python\ntotal = sum(items)\n```\n"
KEY = "llmock-test-key-not-secret"
WAIT = 30.0


def settings_for(llmock: Any, **changes: Any) -> Settings:
    return Settings(api_key=KEY, base_url=llmock.base_url("openai"), **changes)


async def test_retry_after_is_honoured_by_the_book(llmock: Any) -> None:
    # LLMock sends Retry-After in whole seconds, as HTTP defines it: 0.4 goes out as "1".
    llmock.rate_limit(times=1, retry_after=0.4).reply(REPLY, times=None)
    seen: list[Progress] = []
    async with ModelClient(settings_for(llmock)) as client:
        completion = await asyncio.wait_for(
            client.complete(MESSAGES, on_progress=seen.append), WAIT
        )
    assert "total = sum(items)" in completion.text and completion.attempts == 2
    notes = [p.describe() for p in seen if p.phase == "retrying"]
    assert notes == ["rate limited: retrying in 1 s (attempt 2 of 3)"]
    llmock.assert_resilient(strict=True)


async def test_a_retry_after_past_the_timeout_is_not_waited_for(llmock: Any) -> None:
    llmock.rate_limit(times=1, retry_after=90).reply(REPLY, times=None)
    async with ModelClient(settings_for(llmock, timeout=20.0)) as client:
        try:
            await asyncio.wait_for(client.complete(MESSAGES), WAIT)
        except RateLimitError as exc:
            message = exc.message
        else:
            raise AssertionError("a 90 s Retry-After within a 20 s timeout was not refused")
    assert "asked to wait 90 s" in message and "(20 s)" in message, message
    assert len(llmock.requests) == 1
    # No error finding (it did not retry early); its one warning, "gave up", is the point.
    llmock.assert_resilient()
    assert [f.code for f in llmock.verdict().findings] == ["gave_up"]


async def test_truncated_and_corrupted_streams_are_retried_never_used(llmock: Any) -> None:
    llmock.truncate(after_chunks=2).corrupt(after_chunks=2).reply(REPLY, times=None)
    # Our real backoff, scaled down (0.1-0.2 s, then 0.2-0.4 s): LLMock checks it grows.
    async with ModelClient(settings_for(llmock), backoff_base=0.2) as client:
        completion = await asyncio.wait_for(client.complete(MESSAGES), WAIT)
    assert completion.text.startswith("```python\ntotal = sum(items)")
    assert completion.attempts == 3
    llmock.assert_resilient(strict=True)
