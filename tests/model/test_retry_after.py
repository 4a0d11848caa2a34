"""Retry-After: honoured in full when it fits in the timeout, refused at once when not.

The client's ``sleep`` is injected. :class:`GatedSleep` records each delay and then blocks
until the test opens the gate, so a test can look at the server while the client is in
its wait (proving the retry has not gone out early) without waiting 70 real seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pytest
from m21_lsp.config import Settings
from m21_lsp.errors import ModelError, RateLimitError, ServerError
from m21_lsp.model.client import ModelClient
from m21_lsp.model.types import Progress
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

MESSAGES = [{"role": "user", "content": "refactor"}]
WAIT = 10.0  # bound on every wait for an event; a hang fails with a message


class GatedSleep:
    """An injected sleep: records the delay, signals, and returns when the gate opens."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.called = asyncio.Event()
        self.gate = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.called.set()
        await self.gate.wait()


def settings_for(srv: ScriptedModelServer, key: str, **changes: object) -> Settings:
    return dataclasses.replace(Settings(api_key=key, base_url=srv.base_url), **changes)


async def wait_for(event: asyncio.Event, what: str) -> None:
    try:
        await asyncio.wait_for(event.wait(), WAIT)
    except TimeoutError:
        pytest.fail(f"{what} did not happen within {WAIT} s")


@pytest.mark.parametrize(
    ("status", "retry_after", "note"),
    [
        (429, "70", "rate limited: retrying in 70 s (attempt 2 of 3)"),
        (503, "3600", "the endpoint failed: retrying in 3600 s (attempt 2 of 3)"),
    ],
    ids=["429-70s", "503-an-hour"],
)
async def test_a_retry_after_above_a_minute_is_waited_out_in_full(
    model_server: ScriptedModelServer, sentinel_key: str, status: int, retry_after: str, note: str
) -> None:
    model_server.enqueue(
        Step(status=status, headers={"Retry-After": retry_after}), Step(content="ok")
    )
    sleep = GatedSleep()
    seen: list[Progress] = []
    settings = settings_for(model_server, sentinel_key, timeout=4000.0)
    async with ModelClient(settings, sleep=sleep) as client:
        call = asyncio.create_task(client.complete(MESSAGES, on_progress=seen.append))
        await wait_for(sleep.called, "the client's retry wait")
        # In the wait: the full delay was asked for, said in progress, and nothing was sent.
        assert sleep.delays == [float(retry_after)]
        assert [(p.phase, p.describe()) for p in seen if p.message] == [("retrying", note)]
        assert len(model_server.requests) == 1
        sleep.gate.set()
        completion = await asyncio.wait_for(call, WAIT)
    assert completion.text == "ok" and completion.attempts == 2
    assert len(model_server.requests) == 2


@pytest.mark.parametrize(
    ("step", "error_type"),
    [
        (
            Step(
                status=429,
                headers={"Retry-After": "70"},
                body={"error": {"message": "Rate limit exceeded."}},
            ),
            RateLimitError,
        ),
        (Step(status=503, headers={"Retry-After": "70"}), ServerError),
    ],
    ids=["429", "503"],
)
async def test_a_retry_after_longer_than_the_timeout_is_refused_at_once_with_its_number(
    model_server: ScriptedModelServer,
    sentinel_key: str,
    step: Step,
    error_type: type[ModelError],
) -> None:
    model_server.enqueue(step, Step(content="never sent"))
    sleep = GatedSleep()
    settings = settings_for(model_server, sentinel_key, timeout=60.0)
    async with ModelClient(settings, sleep=sleep) as client:
        with pytest.raises(error_type) as info:
            await asyncio.wait_for(client.complete(MESSAGES), WAIT)
    message = info.value.message
    assert sleep.delays == [] and len(model_server.requests) == 1
    assert message.count("70 s") == 1, message
    assert "timeout" in message and "60 s" in message and "M21_TIMEOUT" in message
    assert "It asked to wait" not in message  # said once, not as a second sentence
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", message) if s.strip()]
    assert len(sentences) == len(set(sentences)), message
    assert sentinel_key not in message


async def test_the_time_already_spent_counts_against_the_timeout(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    """A first wait that fits leaves less room: a second one that no longer fits is refused."""
    model_server.enqueue(
        Step(status=429, headers={"Retry-After": "30"}),
        Step(status=429, headers={"Retry-After": "30"}),
        Step(content="never sent"),
    )
    delays: list[float] = []
    clock = {"now": 0.0}

    async def fake_sleep(seconds: float) -> None:
        # The wait "happens" on the client's deadline clock without real time passing.
        delays.append(seconds)
        clock["now"] += seconds

    settings = settings_for(model_server, sentinel_key, timeout=50.0)
    client = ModelClient(settings, sleep=fake_sleep, clock=lambda: clock["now"])
    async with client:
        with pytest.raises(RateLimitError) as info:
            await asyncio.wait_for(client.complete(MESSAGES), WAIT)
    assert delays == [30.0]
    assert len(model_server.requests) == 2
    message = info.value.message
    assert "30 s" in message and "20 s left" in message and "50 s" in message, message
