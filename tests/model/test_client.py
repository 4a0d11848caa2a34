"""The model client against the real loopback server: protocol quirks and every error path.

Backoff is checked through an injected ``sleep`` that records the delays the client asked
for, so no test waits for a retry. Every failure is also searched for the sentinel key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import logging
import random
import socket
import time
import traceback

import httpx
import pytest
from m21_lsp.config import Settings
from m21_lsp.errors import (
    AuthError,
    BadRequestError,
    ConfigError,
    CreditsError,
    M21Error,
    ModelError,
    ModelTimeout,
    RateLimitError,
    ReplyError,
    ServerError,
    TruncatedReply,
)
from m21_lsp.model.client import ModelClient, parse_retry_after, server_message
from m21_lsp.model.types import Progress
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step, load_reply

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "refactor"}]
BASIC_TEXT_START = "Here is a clearer version"


class Recorder:
    """An injectable sleep that only records the requested delays."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_settings(srv: ScriptedModelServer, key: str, **changes: object) -> Settings:
    return dataclasses.replace(Settings(api_key=key, base_url=srv.base_url), **changes)


def everything_about(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, M21Error):
        parts += [exc.message, exc.detail]
    return "\n".join(parts)


async def run_failing(
    srv: ScriptedModelServer,
    key: str,
    expected: type[BaseException],
    *,
    sleep: Recorder | None = None,
    stream: bool = True,
    **changes: object,
) -> BaseException:
    """Run one call that must fail with ``expected``; check that the key stayed secret."""
    async with ModelClient(
        make_settings(srv, key, **changes), sleep=sleep or Recorder(), rng=random.Random(7)
    ) as client:
        with pytest.raises(expected) as info:
            await client.complete(MESSAGES, stream=stream)
    assert key not in everything_about(info.value)
    return info.value


# ----------------------------------------------------------------------------- success


async def test_streamed_reply_request_shape_and_result(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic"))
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        completion = await client.complete(MESSAGES)
    assert completion.raw == load_reply("refactor_basic")
    assert completion.text.startswith(BASIC_TEXT_START)
    assert "<think>" not in completion.text
    assert completion.reasoning.startswith("The user wants `total_price` to be clearer.")
    assert completion.finish_reason == "stop"
    assert completion.attempts == 1
    assert completion.model == "MiniMax-M2.1"
    assert completion.usage.prompt_tokens == 120
    assert completion.usage.completion_tokens > 0
    assert completion.usage.credits_used == 3
    assert client.usage.credits_used == 3

    (request,) = model_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {sentinel_key}"
    assert request.completed and not request.client_closed_early
    assert request.json == {
        "model": "minimax/m2-1",
        "messages": MESSAGES,
        "temperature": 1.0,
        "top_p": 0.95,
        "max_tokens": 8192,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_progress_goes_connecting_thinking_writing_done(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic", chunk_chars=5))
    seen: list[Progress] = []
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        await client.complete(MESSAGES, on_progress=seen.append)
    phases = [p.phase for p in seen]
    assert phases[0] == "connecting" and seen[0].attempt == 1
    assert phases[-1] == "done"
    first_writing = phases.index("writing")
    assert "thinking" in phases[:first_writing]
    assert set(phases[first_writing:-1]) == {"writing"}
    tokens = [p.tokens for p in seen if p.phase in ("thinking", "writing")]
    assert tokens == sorted(tokens) and tokens[-1] > 10
    writing = [p for p in seen if p.phase == "writing"]
    assert writing[-1].chars == len(load_reply("refactor_basic").split("</think>", 1)[1].lstrip())
    visible = load_reply("refactor_basic").split("</think>", 1)[1].lstrip()
    assert writing[-1].lines == len(visible.splitlines())
    assert writing[0].lines <= writing[-1].lines


async def test_a_broken_progress_callback_does_not_break_the_call(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic"))

    def explode(_: Progress) -> None:
        raise ValueError("callback bug")

    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        completion = await client.complete(MESSAGES, on_progress=explode)
    assert completion.text.startswith(BASIC_TEXT_START)


@pytest.mark.parametrize(
    "step",
    [
        Step(fixture="refactor_basic", stream=False),  # server ignores stream: true
        Step(fixture="refactor_basic", headers={"Content-Type": "text/plain"}),  # sniffed SSE
        Step(fixture="refactor_basic", stream=False, headers={"Content-Type": "text/plain"}),
        Step(fixture="refactor_basic", repeat_message_at_end=True),
        Step(fixture="refactor_basic", done_marker=False),
        Step(fixture="refactor_basic", sse_crlf=True, sse_compact=True),
        Step(fixture="refactor_basic", write_bytes=3, chunk_chars=2),
        Step(fixture="refactor_basic", malformed_line=True),
        Step(fixture="refactor_basic", include_usage=False),
    ],
    ids=[
        "json-when-stream-asked",
        "sse-unknown-type",
        "json-unknown-type",
        "repeated-message",
        "no-done",
        "crlf-compact",
        "bytes-split",
        "comments-and-junk",
        "no-usage",
    ],
)
async def test_reply_shapes_all_give_the_same_text(
    model_server: ScriptedModelServer, sentinel_key: str, step: Step
) -> None:
    model_server.enqueue(step)
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        completion = await client.complete(MESSAGES)
    assert completion.raw == load_reply("refactor_basic")
    assert completion.text.startswith(BASIC_TEXT_START)


async def test_non_streaming_request(model_server: ScriptedModelServer, sentinel_key: str) -> None:
    model_server.enqueue(Step(fixture="explain_basic"))
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        completion = await client.complete(MESSAGES, stream=False)
    assert model_server.requests[0].json["stream"] is False
    assert "stream_options" not in model_server.requests[0].json
    assert completion.text.startswith("### What `total_price` does")
    assert completion.usage.credits_used == 3


async def test_multibyte_text_split_between_bytes(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    text = "<think>é</think>\n```python\ns = '👋 中文 naïve'\n```\n"
    model_server.enqueue(Step(content=text, write_bytes=1, chunk_chars=3))
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        completion = await client.complete(MESSAGES)
    assert completion.raw == text
    assert completion.text == "```python\ns = '👋 中文 naïve'\n```\n"


async def test_reasoning_sent_separately_is_not_content(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(content="Answer.", reasoning_content="I thought hard. " * 5))
    seen: list[Progress] = []
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        completion = await client.complete(MESSAGES, on_progress=seen.append)
    assert completion.text == "Answer."
    assert completion.raw == "Answer."
    assert completion.reasoning == ("I thought hard. " * 5).strip()
    assert "thinking" in [p.phase for p in seen]


@pytest.mark.parametrize(
    ("fixture", "text_start"),
    [
        ("refactor_no_open_tag", "```python\ndef total_price"),
        ("refactor_thinking_tag", "Sure. Same behaviour"),
        ("refactor_think_in_code", "```python\ndef format_tag"),
    ],
)
async def test_reasoning_variants(
    model_server: ScriptedModelServer, sentinel_key: str, fixture: str, text_start: str
) -> None:
    model_server.enqueue(Step(fixture=fixture, chunk_chars=3))
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        completion = await client.complete(MESSAGES)
    assert completion.text.startswith(text_start)
    assert completion.reasoning
    assert completion.raw == load_reply(fixture)


async def test_transport_can_be_injected(sentinel_key: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "ok"}}]}
        return httpx.Response(200, json=body)

    settings = Settings(api_key=sentinel_key, base_url="https://models.example/v1")
    async with ModelClient(settings, transport=httpx.MockTransport(handler)) as client:
        completion = await client.complete(MESSAGES)
    assert completion.text == "ok"
    assert str(seen[0].url) == "https://models.example/v1/chat/completions"


async def test_usage_is_summed_over_calls(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(
        Step(content="a", usage={"prompt_tokens": 10, "completion_tokens": 4}),
        Step(
            content="b",
            credits_used=None,
            usage={
                "prompt_tokens": 1,
                "completion_tokens": 2,
                "completion_tokens_details": {"reasoning_tokens": 1},
            },
        ),
    )
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        first = await client.complete(MESSAGES)
        second = await client.complete(MESSAGES)
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (10, 4)
    assert second.usage.reasoning_tokens == 1 and second.usage.credits_used is None
    assert client.usage.prompt_tokens == 11 and client.usage.credits_used == 3


def sse_transport(*frames: bytes, content_type: str = "text/event-stream") -> httpx.MockTransport:
    """A transport answering every request with these raw body pieces."""

    async def body():
        for frame in frames:
            yield frame

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": content_type}, content=body())

    return httpx.MockTransport(handler)


def remote_settings(key: str, **changes: object) -> Settings:
    return dataclasses.replace(
        Settings(api_key=key, base_url="https://models.example/v1"), **changes
    )


async def test_done_marker_completes_a_stream_without_finish_reason(sentinel_key: str) -> None:
    transport = sse_transport(
        b'data: {"choices": [{"delta": {"content": "ok"}}]}\n\n', b"data: [DONE]\n\n"
    )
    async with ModelClient(remote_settings(sentinel_key), transport=transport) as client:
        completion = await client.complete(MESSAGES)
    assert (completion.text, completion.finish_reason) == ("ok", "stop")


async def test_json_without_finish_reason_is_complete(sentinel_key: str) -> None:
    transport = sse_transport(
        b'{"choices": [{"message": {"content": "ok"}}]}', content_type="application/json"
    )
    async with ModelClient(remote_settings(sentinel_key), transport=transport) as client:
        completion = await client.complete(MESSAGES)
    assert completion.text == "ok"


async def test_an_endless_line_is_cut_off_by_the_reply_cap(sentinel_key: str) -> None:
    transport = sse_transport(b"data: ", *([b"x" * 65536] * 40))
    settings = remote_settings(sentinel_key, max_reply_chars=1000, max_attempts=1)
    async with ModelClient(settings, transport=transport) as client:
        with pytest.raises(ReplyError) as info:
            await client.complete(MESSAGES)
    assert "maxReplyChars" in info.value.message


# ----------------------------------------------------------------------- config errors


async def test_no_key_is_a_config_error_naming_the_variables(
    model_server: ScriptedModelServer,
) -> None:
    async with ModelClient(Settings(api_key=None, base_url=model_server.base_url)) as client:
        with pytest.raises(ConfigError) as info:
            await client.complete(MESSAGES)
    assert "M21_API_KEY" in info.value.message and "AIMLAPI_KEY" in info.value.message
    assert model_server.requests == []


async def test_the_key_is_never_sent_over_plain_http_to_another_host(sentinel_key: str) -> None:
    settings = Settings(api_key=sentinel_key, base_url="http://models.example/v1")

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    async with ModelClient(settings, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ConfigError) as info:
            await client.complete(MESSAGES)
    assert "https" in info.value.message
    assert sentinel_key not in everything_about(info.value)


async def test_an_unreadable_ca_bundle_is_a_config_error(
    model_server: ScriptedModelServer, sentinel_key: str, tmp_path
) -> None:
    error = await run_failing(
        model_server, sentinel_key, ConfigError, ca_bundle=str(tmp_path / "missing.pem")
    )
    assert "caBundle" in error.message
    assert model_server.requests == []


# ----------------------------------------------------------------------- HTTP errors


async def test_401_names_the_key_variables_and_is_not_retried(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    body = {"message": f"Invalid API key {sentinel_key}", "statusCode": 401}
    model_server.enqueue(Step(status=401, body=body))
    error = await run_failing(model_server, sentinel_key, AuthError)
    assert "M21_API_KEY" in error.message and "AIMLAPI_KEY" in error.message
    assert "401" in error.message
    assert len(model_server.requests) == 1


async def test_403_is_out_of_credits(model_server: ScriptedModelServer, sentinel_key: str) -> None:
    model_server.enqueue(
        Step(status=403, body={"message": "Insufficient credits", "statusCode": 403})
    )
    error = await run_failing(model_server, sentinel_key, CreditsError)
    assert "Insufficient credits" in error.message and "credits" in error.message
    assert len(model_server.requests) == 1


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ({"message": "temperature must be in (0, 1]", "statusCode": 400}, "temperature must be"),
        (
            {
                "title": "Bad Request",
                "status": 400,
                "error": {"message": "messages[0].content is required", "path": ["messages"]},
            },
            "messages[0].content is required",
        ),
        ({"error": {"message": "model not supported", "type": "invalid_request"}}, "not supported"),
        ("plain text complaint", "plain text complaint"),
    ],
    ids=["message-statusCode", "problem+json", "openai", "text"],
)
async def test_400_shows_the_server_message(
    model_server: ScriptedModelServer, sentinel_key: str, body: object, shown: str
) -> None:
    model_server.enqueue(Step(status=400, body=body))  # type: ignore[arg-type]
    error = await run_failing(model_server, sentinel_key, BadRequestError)
    assert shown in error.message
    assert len(model_server.requests) == 1


async def test_404_points_at_base_url_and_model(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(status=404))
    error = await run_failing(model_server, sentinel_key, BadRequestError)
    assert model_server.base_url in error.message and "minimax/m2-1" in error.message


async def test_an_html_page_points_at_base_url(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(
        Step(content="<html>welcome</html>", headers={"Content-Type": "text/html"})
    )
    error = await run_failing(model_server, sentinel_key, BadRequestError)
    assert "baseUrl" in error.message and "M21_BASE_URL" in error.message
    assert len(model_server.requests) == 1


async def test_redirects_are_not_followed(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(status=307, headers={"Location": "https://elsewhere.example/v1"}))
    error = await run_failing(model_server, sentinel_key, ModelError)
    assert "redirect" in error.message
    assert len(model_server.requests) == 1


async def test_429_honours_retry_after_seconds(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(
        Step(status=429, headers={"Retry-After": "7"}),
        Step(status=429, headers={"Retry-After": "0.5"}),
        Step(fixture="refactor_basic"),
    )
    sleep = Recorder()
    seen: list[Progress] = []
    async with ModelClient(make_settings(model_server, sentinel_key), sleep=sleep) as client:
        completion = await client.complete(MESSAGES, on_progress=seen.append)
    assert sleep.delays == [7.0, 0.5]
    assert client.retry_delays == [7.0, 0.5]
    retry_notes = [(p.phase, p.describe()) for p in seen if p.message]
    assert retry_notes == [
        ("retrying", "rate limited: retrying in 7 s (attempt 2 of 3)"),
        ("retrying", "rate limited: retrying in 0.5 s (attempt 3 of 3)"),
    ]
    assert completion.attempts == 3
    assert len(model_server.requests) == 3


async def test_retry_after_as_an_http_date(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    model_server.enqueue(Step(status=503, headers={"Retry-After": when}), Step(content="ok"))
    sleep = Recorder()
    async with ModelClient(make_settings(model_server, sentinel_key), sleep=sleep) as client:
        await client.complete(MESSAGES)
    (delay,) = sleep.delays
    assert 25 <= delay <= 31


async def test_5xx_backs_off_exponentially_with_jitter_then_gives_up(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(
        Step(status=408),
        Step(status=502, body="<html>bad gateway</html>"),
        Step(status=503, body={"message": "overloaded", "statusCode": 503}),
        Step(content="never reached"),
    )
    sleep = Recorder()
    error = await run_failing(model_server, sentinel_key, ServerError, sleep=sleep, max_attempts=3)
    assert len(model_server.requests) == 3
    assert "overloaded" in error.message and "3 attempts" in error.message
    first, second = sleep.delays
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 2.0


async def test_jitter_differs_between_seeds(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    delays = []
    for seed in (1, 2):
        model_server.enqueue(Step(status=500), Step(content="ok"))
        sleep = Recorder()
        async with ModelClient(
            make_settings(model_server, sentinel_key), sleep=sleep, rng=random.Random(seed)
        ) as client:
            await client.complete(MESSAGES)
        delays.append(sleep.delays[0])
    assert delays[0] != delays[1]


async def test_one_attempt_means_no_retry(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(status=500), Step(content="ok"))
    sleep = Recorder()
    await run_failing(model_server, sentinel_key, ServerError, sleep=sleep, max_attempts=1)
    assert sleep.delays == [] and len(model_server.requests) == 1


async def test_each_call_has_its_own_attempt_budget(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(
        Step(status=500), Step(content="one"), Step(status=503), Step(content="two")
    )
    async with ModelClient(
        make_settings(model_server, sentinel_key, max_attempts=2), sleep=Recorder()
    ) as client:
        first = await client.complete(MESSAGES)
        second = await client.complete(MESSAGES)
    assert (first.text, first.attempts, second.text, second.attempts) == ("one", 2, "two", 2)


async def test_connection_refused_is_retried_then_reported(sentinel_key: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(api_key=sentinel_key, base_url=f"http://127.0.0.1:{port}/v1")
    sleep = Recorder()
    async with ModelClient(settings, sleep=sleep) as client:
        with pytest.raises(ServerError) as info:
            await client.complete(MESSAGES)
    assert "connection" in info.value.message and "3 attempts" in info.value.message
    assert len(sleep.delays) == 2
    assert sentinel_key not in everything_about(info.value)
    assert_no_httpx_in_chain(info.value)


def assert_no_httpx_in_chain(exc: BaseException) -> None:
    """httpx exceptions hold the request, Authorization header included: none may ride along."""
    seen: BaseException | None = exc
    while seen is not None:
        assert not isinstance(seen, httpx.HTTPError), repr(seen)
        seen = seen.__cause__ or seen.__context__


# ---------------------------------------------------------------- broken 200 replies


@pytest.mark.parametrize(
    ("fault", "first"),
    [
        ("drop", Step(fixture="refactor_basic", drop_after_chunks=6)),
        ("no-finish", Step(content="half a reply", finish_reason=None)),
        ("invalid-json", Step(fixture="refactor_basic", invalid_json=True)),
        ("empty-choices", Step(empty_choices=True)),
        ("drop-json", Step(fixture="refactor_basic", stream=False, drop_after_chunks=1)),
        ("empty-choices-json", Step(empty_choices=True, stream=False)),
        ("mid-stream-error", Step(status=200, base_resp={"status_code": 1013, "status_msg": "x"})),
    ],
)
async def test_incomplete_replies_are_retried_and_never_used(
    model_server: ScriptedModelServer, sentinel_key: str, fault: str, first: Step
) -> None:
    model_server.enqueue(first, Step(fixture="refactor_basic"))
    sleep = Recorder()
    async with ModelClient(make_settings(model_server, sentinel_key), sleep=sleep) as client:
        completion = await client.complete(MESSAGES)
    assert completion.raw == load_reply("refactor_basic")
    assert completion.attempts == 2
    assert len(sleep.delays) == 1


async def test_a_stream_that_never_finishes_fails_after_all_attempts(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.default = Step(content="<think>x</think>partial", finish_reason=None)
    error = await run_failing(model_server, sentinel_key, ServerError)
    assert "no finish reason" in error.message and "discarded" in error.message
    assert len(model_server.requests) == 3


async def test_finish_reason_length_suggests_max_tokens(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(fixture="refactor_truncated", finish_reason="length"))
    error = await run_failing(model_server, sentinel_key, TruncatedReply, max_tokens=512)
    assert "maxTokens" in error.message and "512" in error.message
    assert "still thinking" in error.message
    assert len(model_server.requests) == 1


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1004, AuthError),
        (1008, CreditsError),
        (2049, AuthError),  # "invalid api key"
        (9999, ModelError),  # a code m21-lsp does not know: reported, not retried
    ],
)
async def test_base_resp_errors_on_http_200(
    model_server: ScriptedModelServer, sentinel_key: str, code: int, expected: type[ModelError]
) -> None:
    status_msg = f"status message {code}"
    model_server.enqueue(Step(base_resp={"status_code": code, "status_msg": status_msg}))
    error = await run_failing(model_server, sentinel_key, expected)
    assert type(error) is expected
    assert str(code) in error.message and status_msg in error.message
    assert len(model_server.requests) == 1


@pytest.mark.parametrize("code", [1002, 1039])
async def test_base_resp_rate_limits_are_retried(
    model_server: ScriptedModelServer, sentinel_key: str, code: int
) -> None:
    model_server.default = Step(
        stream=False, base_resp={"status_code": code, "status_msg": "rate limit exceeded"}
    )
    sleep = Recorder()
    error = await run_failing(model_server, sentinel_key, RateLimitError, sleep=sleep)
    assert "rate limit exceeded" in error.message
    assert len(model_server.requests) == 3 and len(sleep.delays) == 2


async def test_base_resp_error_echoing_the_key(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(
        Step(base_resp={"status_code": 1004, "status_msg": f"bad key {sentinel_key}"})
    )
    await run_failing(model_server, sentinel_key, AuthError)


async def test_reply_larger_than_the_cap_names_the_setting(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    # The server stalls well after the cap is passed, so only the client can end the reply.
    model_server.enqueue(Step(content="a" * 1000, chunk_chars=10, stall_after_chunks=60))
    error = await run_failing(model_server, sentinel_key, ReplyError, max_reply_chars=200)
    assert "maxReplyChars" in error.message
    assert len(model_server.requests) == 1
    # The client stopped reading mid-way: the server saw it go.
    assert model_server.wait_for_disconnect(timeout=10) is model_server.requests[0]


async def test_json_reply_larger_than_the_cap(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic", stream=False))
    error = await run_failing(model_server, sentinel_key, ReplyError, max_reply_chars=200)
    assert "maxReplyChars" in error.message


async def test_empty_reply_is_a_reply_error(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(content=""))
    await run_failing(model_server, sentinel_key, ReplyError)


# ------------------------------------------------------------- timeouts and cancelling


async def test_a_stall_longer_than_the_chunk_timeout_is_retried(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic", stall_after_chunks=3))
    # A busy CI machine may pause a healthy reply too: later attempts get healthy replies.
    model_server.default = Step(fixture="refactor_basic", chunk_chars=10_000)
    sleep = Recorder()
    async with ModelClient(
        make_settings(model_server, sentinel_key, chunk_timeout=0.5), sleep=sleep
    ) as client:
        completion = await client.complete(MESSAGES)
    assert completion.attempts >= 2
    assert completion.raw == load_reply("refactor_basic")
    assert model_server.requests[0].client_closed_early
    assert model_server.requests[-1].completed


async def test_chunk_timeout_message_names_the_setting(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(hold=True))
    error = await run_failing(
        model_server, sentinel_key, ModelTimeout, chunk_timeout=0.2, max_attempts=1
    )
    assert "chunkTimeout" in error.message
    assert_no_httpx_in_chain(error)
    assert model_server.wait_for_disconnect(timeout=10) is model_server.requests[0]


async def test_overall_timeout_covers_the_whole_call(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.default = Step(fixture="refactor_basic", stall_after_chunks=2)
    error = await run_failing(model_server, sentinel_key, ModelTimeout, timeout=0.3)
    assert "M21_TIMEOUT" in error.message and "0.3" in error.message
    assert model_server.wait_for_disconnect(timeout=10) is model_server.requests[0]


@pytest.mark.parametrize("where", ["before-first-byte", "mid-stream"])
async def test_cancelling_closes_the_stream_at_once(
    model_server: ScriptedModelServer, sentinel_key: str, where: str
) -> None:
    if where == "before-first-byte":
        model_server.enqueue(Step(fixture="refactor_basic", hold=True))
    else:
        model_server.enqueue(Step(fixture="refactor_basic", stall_after_chunks=20))
    streaming = asyncio.Event()

    def progress(p: Progress) -> None:
        if p.phase in ("thinking", "writing"):
            streaming.set()

    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        task = asyncio.create_task(client.complete(MESSAGES, on_progress=progress))
        if where == "mid-stream":
            await streaming.wait()
        else:
            assert await model_server.wait_for_requests_async(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Still inside the client: the connection was closed by the cancel, not by aclose().
        closed = await model_server.wait_for_disconnect_async(10)
    assert closed is model_server.requests[0]
    assert not closed.completed
    assert len(model_server.requests) == 1


async def test_concurrency_cap_makes_calls_wait(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.enqueue(Step(content="first", hold=True), Step(content="second"))
    waiting = asyncio.Event()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.phase == "waiting":
            waiting.set()

    async with ModelClient(
        make_settings(model_server, sentinel_key, max_concurrent_requests=1)
    ) as client:
        first = asyncio.create_task(client.complete(MESSAGES))
        assert await asyncio.to_thread(model_server.wait_for_requests, 1)
        second = asyncio.create_task(client.complete(MESSAGES, on_progress=progress))
        await waiting.wait()
        assert len(model_server.requests) == 1  # the second call has not been sent
        model_server.release()
        results = await asyncio.gather(first, second)
    assert [r.text for r in results] == ["first", "second"]
    assert "maxConcurrentRequests" in seen[0].describe()
    assert [p.phase for p in seen][:2] == ["waiting", "connecting"]


# --------------------------------------------------------------------- key hygiene


async def test_logs_never_contain_the_key(
    model_server: ScriptedModelServer, sentinel_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    model_server.enqueue(
        Step(status=500, body={"message": f"echo {sentinel_key}"}),
        Step(status=401, body=f"Bearer {sentinel_key} rejected"),
    )
    await run_failing(model_server, sentinel_key, AuthError)
    assert caplog.records
    assert all(sentinel_key not in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------- pure helpers


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(90, abs=1)
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_server_message_shapes() -> None:
    assert server_message(b'{"message": "m", "statusCode": 400}') == "m"
    assert server_message(json.dumps({"message": ["a", "b"], "statusCode": 400})) == "a; b"
    problem = {"title": "Forbidden", "status": 403, "error": {"message": "no credits left"}}
    assert server_message(json.dumps(problem)) == "no credits left"
    assert server_message(json.dumps({"title": "Forbidden", "status": 403})) == "Forbidden"
    assert server_message(b"  plain\n text ") == "plain text"
    assert len(server_message("x" * 5000)) <= 300


# ------------------------------------------------------------------------ mixed faults


async def test_mixed_faults_under_concurrency_end_cleanly(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    """Many calls at once against random faults: each ends in a reply or one typed error,
    and no connection is left open afterwards."""
    rng = random.Random(2126)
    faults = {
        "ok": lambda: Step(fixture="refactor_basic", chunk_chars=rng.randint(1, 40)),
        "drop": lambda: Step(fixture="refactor_basic", drop_after_chunks=rng.randint(0, 30)),
        "stall": lambda: Step(fixture="refactor_basic", stall_after_chunks=rng.randint(0, 9)),
        "429": lambda: Step(status=429, headers={"Retry-After": "0"}),
        "5xx": lambda: Step(status=rng.choice([500, 502, 503, 504])),
        "junk": lambda: Step(fixture="refactor_basic", malformed_line=True),
        "bad-json": lambda: Step(fixture="refactor_basic", invalid_json=True),
        "empty": lambda: Step(empty_choices=True),
        "minimax": lambda: Step(base_resp={"status_code": 1008, "status_msg": "balance"}),
        "length": lambda: Step(fixture="refactor_truncated", finish_reason="length"),
        "no-finish": lambda: Step(content="partial", finish_reason=None),
    }
    injected: dict[str, int] = {}

    def responder(_body: dict) -> Step:
        kind = rng.choice(list(faults))
        injected[kind] = injected.get(kind, 0) + 1
        return faults[kind]()

    model_server.responder = responder
    settings = make_settings(
        model_server, sentinel_key, chunk_timeout=0.3, max_concurrent_requests=8
    )
    outcomes: dict[str, int] = {}
    async with ModelClient(settings, sleep=Recorder(), rng=random.Random(1)) as client:

        async def one() -> None:
            try:
                completion = await client.complete(MESSAGES)
            except M21Error as exc:
                assert sentinel_key not in everything_about(exc)
                outcomes[exc.kind] = outcomes.get(exc.kind, 0) + 1
            else:
                assert completion.raw == load_reply("refactor_basic")
                outcomes["ok"] = outcomes.get("ok", 0) + 1

        await asyncio.gather(*(one() for _ in range(60)))
    print("faults injected:", injected, "outcomes:", outcomes)
    assert sum(outcomes.values()) == 60
    assert outcomes["ok"] > 0 and len(outcomes) > 2
    assert set(outcomes) <= {"ok", "credits", "truncated", "server", "timeout", "rate_limit"}
    model_server.release()  # let stalled replies end so their connections close
    assert model_server.wait_for_connections(0)


@pytest.mark.parametrize("chunk_chars", [1, 5, 64])
async def test_writing_progress_carries_the_visible_text_so_far_without_reasoning(
    model_server: ScriptedModelServer, sentinel_key: str, chunk_chars: int
) -> None:
    """The live view reads ``Progress.text``: each "writing" report is a full snapshot (a
    prefix of the final visible text, growing), the last one is all of it, and no report at
    any phase carries a word of the reasoning block."""
    raw = load_reply("refactor_basic")
    reasoning, visible = raw.split("</think>", 1)
    visible = visible.lstrip()
    model_server.enqueue(Step(fixture="refactor_basic", chunk_chars=chunk_chars))
    seen: list[tuple[str, str]] = []
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        completion = await client.complete(
            MESSAGES, on_progress=lambda p: seen.append((p.phase, p.text))
        )
    writing = [text for phase, text in seen if phase == "writing"]
    assert writing and writing[-1] == visible == completion.text
    assert all(visible.startswith(text) for text in writing)
    assert [len(t) for t in writing] == sorted(len(t) for t in writing)
    assert all(text == "" for phase, text in seen if phase != "writing")
    thought = "It loops with an index, skips items whose quantity"
    assert thought in reasoning
    assert not any(thought in text or "<think>" in text for _, text in seen)


async def test_reasoning_content_never_reaches_the_progress_text(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    """Reasoning in its own field never shows, and the content after it streams as the
    answer: with the reasoning sent apart, content without a think tag is not held back as
    a possible orphan block (it would leave the live view empty until the last token)."""
    answer = "```python\nx = 1\n```\nThe answer, visible."
    model_server.enqueue(Step(content=answer, reasoning_content="secret musing " * 20))
    texts: list[str] = []
    async with ModelClient(make_settings(model_server, sentinel_key)) as client:
        await client.complete(MESSAGES, on_progress=lambda p: texts.append(p.text))
    assert texts[-2] == answer  # the last report is "done"
    assert not any("musing" in t for t in texts)


def test_a_report_read_late_still_shows_its_own_snapshot() -> None:
    """The text is joined lazily; a report kept and read after more text arrived must not
    show the later text (the live view may read the latest of several reports)."""
    from m21_lsp.model.types import VisibleText

    buf = VisibleText()
    buf.append("abc")
    early = Progress("writing", chars=3, visible=buf)
    buf.append("def")
    late = Progress("writing", chars=6, visible=buf)
    assert late.text == "abcdef"
    assert early.text == "abc"
    buf.append("g")
    assert Progress("writing", chars=7, visible=buf).text == "abcdefg"
    assert Progress("thinking", chars=7, visible=buf).text == ""
