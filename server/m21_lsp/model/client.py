"""The async model client: one chat-completions call with streaming, retries and typed errors.

Everything the rest of the program needs from the network happens here, so that the
pipeline can treat a model call as "messages in, :class:`Completion` or a typed
:class:`~m21_lsp.errors.M21Error` out". The rules that matter:

* The key goes only to endpoints :func:`~m21_lsp.config.check_endpoint` accepts, never
  follows a redirect, and never appears in a message: every error is built from scrubbed
  text and raised ``from None`` so no httpx request (which holds the header) rides along.
* Transient failures (429, 5xx, dropped connections, stalls, streams that end without a
  finish reason) are retried with exponential backoff and jitter within ``max_attempts``
  and the overall ``timeout``. A Retry-After is honoured exactly, however long, when it fits
  in the time left: retrying earlier than the server asked only earns another 429. When it
  does not fit, the call fails at once with that number instead of sleeping into a
  timeout. A cut-off stream's text is never used.
* Cancelling the calling task closes the HTTP stream at once (the response context exits).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import logging
import random
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from .. import __version__
from ..config import Settings, check_endpoint
from ..errors import (
    AuthError,
    BadRequestError,
    ConfigError,
    CreditsError,
    ModelError,
    ModelTimeout,
    RateLimitError,
    ReplyError,
    ServerError,
    TruncatedReply,
    clause,
    register_secret,
    scrub,
    sentence,
)
from .reasoning import ReasoningStripper, strip_reasoning
from .sse import DONE, ChunkAccumulator, SSEDecoder
from .types import Completion, Phase, Progress, ProgressCallback, Usage

__all__ = ["ModelClient", "parse_retry_after", "server_message"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

_ERROR_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 300
# MiniMax's own error codes, sent with HTTP 200 in ``base_resp``.
_MINIMAX_AUTH = {1004}
_MINIMAX_CREDITS = {1008}
_MINIMAX_RATE = {1002, 1039}
_MINIMAX_TRANSIENT = {1000, 1001, 1013}
_MINIMAX_BAD_REQUEST = {2013}
_RETRY_REASONS = {
    "rate_limit": "rate limited",
    "server": "the endpoint failed",
    "timeout": "no answer in time",
}


class ModelClient:
    """Talks to one OpenAI-compatible endpoint with the settings it was made with.

    ``sleep``, ``rng`` and ``clock`` (the monotonic clock the time left within ``timeout`` is
    measured on) exist so tests can check the backoff delays without waiting.
    At most ``settings.max_concurrent_requests`` calls run at once; others report "waiting".
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 20.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._clock = clock or time.monotonic
        self._http: httpx.AsyncClient | None = None
        self._semaphore = asyncio.Semaphore(settings.max_concurrent_requests)
        self._closed = False
        self.usage = Usage()
        """Usage summed over every successful call made with this client."""
        self.retry_delays: list[float] = []
        """Every backoff delay this client asked for, in order (for tests and soak figures)."""

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._closed:
            raise RuntimeError("ModelClient is closed")
        if self._http is None:
            s = self.settings
            timeout = httpx.Timeout(
                connect=s.connect_timeout,
                read=s.chunk_timeout,
                write=s.chunk_timeout,
                pool=s.connect_timeout,
            )
            self._http = httpx.AsyncClient(
                transport=self._transport,
                timeout=timeout,
                verify=self._verify(),
                follow_redirects=False,
                headers={"User-Agent": f"m21-lsp/{__version__}"},
            )
        return self._http

    def _verify(self) -> ssl.SSLContext:
        """TLS verification is always on; a configured CA bundle replaces the default roots."""
        bundle = self.settings.ca_bundle
        if not bundle:
            return _default_ssl_context()
        try:
            return ssl.create_default_context(cafile=bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"caBundle {bundle!r} cannot be used as a CA bundle ({exc.__class__.__name__}). "
                "Point caBundle (M21_CA_BUNDLE) at a PEM file of CA certificates."
            ) from None

    # ------------------------------------------------------------------ the call
    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        on_progress: ProgressCallback | None = None,
        stream: bool = True,
    ) -> Completion:
        """Run one model call (with its own retry budget) and return the finished reply.

        The overall ``timeout`` starts once a concurrency slot is free: time spent waiting
        behind other calls is reported as "waiting" and does not count against it.
        """
        key = self.settings.require_key()
        register_secret(key)
        problem = check_endpoint(self.settings.base_url)
        if problem:
            raise ConfigError(problem)
        report = _Reporter(on_progress)
        if self._semaphore.locked():
            report(
                "waiting",
                message="waiting for a free slot "
                f"(maxConcurrentRequests = {self.settings.max_concurrent_requests})",
            )
        async with self._semaphore:
            deadline = self._clock() + self.settings.timeout
            try:
                async with _timeout(self.settings.timeout):
                    completion = await self._with_retries(messages, key, report, stream, deadline)
            except TimeoutError:
                raise ModelTimeout(
                    f"The model did not finish within {self.settings.timeout:g} s. Raise the "
                    "timeout setting (M21_TIMEOUT) or select less code."
                ) from None
        self.usage.add(completion.usage)
        report("done")
        return completion

    async def _with_retries(
        self,
        messages: list[dict[str, str]],
        key: str,
        report: _Reporter,
        stream: bool,
        deadline: float,
    ) -> Completion:
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            report("connecting", attempt=attempt)
            try:
                completion = await self._attempt(messages, key, report, stream, attempt)
            except ModelError as exc:
                if not exc.retryable:
                    raise
                if attempt >= attempts:
                    if attempts > 1:
                        _amend(exc, f" m21-lsp gave up after {attempts} attempts (maxAttempts).")
                    raise
                delay = self._delay(attempt, exc, deadline)
                log.info(
                    "model call attempt %d failed (%s); retrying in %.2f s",
                    attempt,
                    exc.kind,
                    delay,
                )
                self.retry_delays.append(delay)
                why = _RETRY_REASONS.get(exc.kind, "the endpoint failed")
                report(
                    "retrying",
                    attempt=attempt + 1,
                    message=f"{why}: retrying in {_seconds(delay)} s "
                    f"(attempt {attempt + 1} of {attempts})",
                )
                await self._sleep(delay)
                continue
            completion.attempts = attempt
            return completion
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, exc: ModelError, deadline: float) -> float:
        """Backoff before the next attempt: Retry-After when given, else jittered exponential."""
        remaining = deadline - self._clock()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wanted = max(retry_after, 0.0)
            if wanted >= remaining:
                raise self._wait_refused(exc, wanted, remaining) from None
            return wanted
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        return max(0.0, min(delay, remaining))

    def _wait_refused(self, exc: ModelError, wanted: float, remaining: float) -> ModelError:
        """One sentence saying how long the server asked to wait and why we would not."""
        timeout = self.settings.timeout
        if timeout - remaining < 1:
            room = f"longer than the timeout setting allows ({timeout:g} s)"
        else:
            room = (
                f"longer than the {_seconds(max(remaining, 0.0))} s left within the timeout "
                f"setting ({timeout:g} s)"
            )
        what = clause(getattr(exc, "what", "") or exc.message)
        message = (
            f"{what} and asked to wait {_seconds(wanted)} s before retrying, {room}, so it "
            "was not retried. Try again later, or raise timeout (M21_TIMEOUT)."
        )
        if isinstance(exc, (RateLimitError, ServerError)):
            return type(exc)(message, detail=exc.detail, retry_after=wanted)
        return type(exc)(message, detail=exc.detail)

    async def _attempt(
        self,
        messages: list[dict[str, str]],
        key: str,
        report: _Reporter,
        stream: bool,
        attempt: int,
    ) -> Completion:
        s = self.settings
        payload: dict[str, Any] = {
            "model": s.model,
            "messages": messages,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "stream": stream,
        }
        if stream:
            payload["stream_options"] = {"include_usage": True}
        headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "text/event-stream, application/json" if stream else "application/json",
        }
        url = s.base_url.rstrip("/") + "/chat/completions"
        http = self._client()
        failure: ModelError | None = None
        try:
            async with http.stream("POST", url, json=payload, headers=headers) as response:
                if response.status_code != 200:
                    body = await _read_limited(response.aiter_bytes(), _ERROR_BODY_LIMIT)
                    raise _status_error(response.status_code, body, response.headers, s)
                acc = await self._read_reply(response, report)
        except httpx.TimeoutException as exc:
            failure = _timeout_error(exc, s)
        except httpx.TransportError as exc:
            failure = ServerError(
                f"The connection to the model endpoint failed ({_describe(exc)}).",
                detail=scrub(str(exc)),
            )
        except httpx.HTTPError as exc:
            failure = ModelError(
                f"The request to the model endpoint failed ({_describe(exc)}).",
                detail=scrub(str(exc)),
            )
        if failure is not None:
            # Raised outside the handler so that not even ``__context__`` keeps the httpx
            # exception, whose request still holds the Authorization header.
            raise failure
        return _completion(acc, s)

    async def _read_reply(self, response: httpx.Response, report: _Reporter) -> ChunkAccumulator:
        """Read an SSE stream or a JSON document, whichever the server chose to send."""
        ctype = response.headers.get("content-type", "").lower()
        chunks = response.aiter_bytes()
        if "text/event-stream" in ctype:
            return await self._read_sse(chunks, b"", report)
        if "json" in ctype:
            return await self._read_json(chunks, b"")
        if "text/html" in ctype:
            raise BadRequestError(
                f"{self.settings.base_url} answered with a web page, not a chat-completions "
                "reply. Check baseUrl (M21_BASE_URL): it should end in /v1 or similar."
            )
        # Unknown type: look at the first bytes. A JSON reply starts with "{".
        head = b""
        async for chunk in chunks:
            head += chunk
            if head.strip():
                break
        if head.lstrip().startswith(b"{"):
            return await self._read_json(chunks, head)
        return await self._read_sse(chunks, head, report)

    async def _read_json(self, chunks: AsyncIterator[bytes], head: bytes) -> ChunkAccumulator:
        limit = self.settings.max_reply_chars * 4 + _ERROR_BODY_LIMIT
        body = head + await _read_limited(chunks, limit - len(head) + 1)
        if len(body) > limit:
            raise _too_large(self.settings)
        try:
            obj = json.loads(body)
        except ValueError:
            raise ServerError(
                "The model endpoint sent a reply that is not valid JSON.",
                detail=scrub(body[:_MESSAGE_LIMIT].decode("utf-8", "replace")),
            ) from None
        acc = ChunkAccumulator()
        acc.feed(obj)
        if len(acc.content) + len(acc.reasoning) > self.settings.max_reply_chars:
            raise _too_large(self.settings)
        if acc.finish_reason is None and acc.content:
            # A whole JSON document cannot have been cut off; some servers omit the reason.
            acc.finish_reason = "stop"
        return acc

    async def _read_sse(
        self, chunks: AsyncIterator[bytes], head: bytes, report: _Reporter
    ) -> ChunkAccumulator:
        decoder = SSEDecoder()
        acc = ChunkAccumulator()
        state = _StreamState(report, self.settings.max_reply_chars)
        # JSON framing costs bytes too, but a stream this large is broken or hostile.
        byte_limit = self.settings.max_reply_chars * 16 + 1024 * 1024
        received = len(head)
        if head:
            for data in decoder.feed(head):
                state.event(data, acc)
        async for chunk in chunks:
            received += len(chunk)
            if received > byte_limit:
                raise _too_large(self.settings)
            for data in decoder.feed(chunk):
                state.event(data, acc)
        for data in decoder.finish():
            state.event(data, acc)
        if acc.finish_reason is None and state.done and acc.content:
            # [DONE] proves the stream ended normally; some gateways drop the reason.
            acc.finish_reason = "stop"
        return acc


class _StreamState:
    """Progress and size accounting while one stream is read."""

    def __init__(self, report: _Reporter, max_chars: int) -> None:
        self.report = report
        self.max_chars = max_chars
        self.stripper = ReasoningStripper()
        self.tokens = 0
        self.chars = 0
        self.visible_chars = 0
        self.visible_lines = 0
        self.total = 0
        self.done = False
        self.open_line = False

    def event(self, data: str, acc: ChunkAccumulator) -> None:
        if data.strip() == DONE:
            self.done = True
            return
        try:
            obj = json.loads(data)
        except ValueError:
            raise ServerError(
                "The model's stream contained invalid data (a broken JSON event).",
                detail=scrub(data[:_MESSAGE_LIMIT]),
            ) from None
        delta = acc.feed(obj)
        if not (delta.content or delta.reasoning):
            return
        self.tokens += 1
        self.total += len(delta.content) + len(delta.reasoning)
        if self.total > self.max_chars:
            raise ReplyError(
                f"The reply grew past {self.max_chars} characters and was stopped. Raise "
                "maxReplyChars (M21_MAX_REPLY_CHARS) if such replies are expected."
            )
        visible = self.stripper.feed(delta.content) if delta.content else ""
        if visible:
            self.visible_chars += len(visible)
            self.visible_lines += visible.count("\n")
            self.open_line = not visible.endswith("\n")
        if self.stripper.phase == "writing" and self.visible_chars:
            self.report(
                "writing",
                tokens=self.tokens,
                chars=self.visible_chars,
                lines=self.visible_lines + self.open_line,
            )
        else:
            self.report("thinking", tokens=self.tokens)


class _Reporter:
    """Calls the progress callback, never letting a broken callback break the call."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback

    def __call__(self, phase: Phase, **fields: Any) -> None:
        if self.callback is None:
            return
        try:
            self.callback(Progress(phase, **fields))
        except Exception:
            log.exception("progress callback failed")


# ---------------------------------------------------------------------- helpers
if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    @contextlib.asynccontextmanager
    async def _timeout(delay: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def _expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(delay, _expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError from None
            raise
        finally:
            handle.cancel()


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """httpx's verifying context, built once: loading the CA roots costs ~0.1-0.5 s a time."""
    return httpx.create_ssl_context()


async def _read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    out = bytearray()
    async for chunk in chunks:
        out += chunk
        if len(out) >= limit:
            break
    return bytes(out)


def _amend(exc: ModelError, suffix: str) -> None:
    exc.message = scrub(exc.message + suffix)
    exc.args = (exc.message,)


def _seconds(value: float) -> str:
    """Seconds for a message: whole above 1 s ("70"), one figure below ("0.5")."""
    return f"{value:.0f}" if value >= 1 or value == 0 else f"{value:.1g}"


def _describe(exc: BaseException) -> str:
    text = clause(scrub(str(exc)))
    name = type(exc).__name__
    return f"{name}: {text[:_MESSAGE_LIMIT]}" if text else name


def _too_large(settings: Settings) -> ReplyError:
    return ReplyError(
        f"The reply is larger than {settings.max_reply_chars} characters. Raise maxReplyChars "
        "(M21_MAX_REPLY_CHARS) if such replies are expected."
    )


def _timeout_error(exc: httpx.TimeoutException, s: Settings) -> ModelTimeout:
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        text = (
            f"Could not connect to {s.base_url} within {s.connect_timeout:g} s "
            "(connectTimeout). Check the network and baseUrl."
        )
    else:
        text = (
            f"The model sent nothing for {s.chunk_timeout:g} s (chunkTimeout) and the stream "
            "was abandoned."
        )
    return ModelTimeout(text, detail=_describe(exc))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        current = time.time() if now is None else now
        seconds = when.timestamp() - current
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def server_message(body: bytes | str) -> str:
    """The human message in an error body, whatever shape the endpoint uses.

    Understands ``{message, statusCode}``, problem+json ``{title, status, detail,
    error{…}}``, OpenAI's ``{error: {message}}``, MiniMax's ``base_resp`` and plain text.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    message = _message_of(obj) if obj is not None else text.strip()
    message = " ".join(message.split())
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return scrub(message)


def _message_of(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, list):
        return "; ".join(filter(None, (_message_of(item) for item in obj)))
    if not isinstance(obj, dict):
        return ""
    parts: list[str] = []
    for key in ("message", "detail", "error_description", "msg"):
        if obj.get(key):
            parts.append(_message_of(obj[key]))
            break
    error = obj.get("error")
    if isinstance(error, (dict, list)):
        inner = _message_of(error)
        if inner and inner not in parts:
            parts.append(inner)
    elif isinstance(error, str) and error and not parts:
        parts.append(error)
    base = obj.get("base_resp")
    if isinstance(base, dict) and base.get("status_msg"):
        parts.append(str(base["status_msg"]))
    if not parts and obj.get("title"):
        parts.append(str(obj["title"]))
    return ": ".join(p for p in parts if p)


def _status_error(
    status: int, body: bytes, headers: httpx.Headers | dict[str, str], s: Settings
) -> ModelError:
    message = clause(server_message(body)) or f"HTTP {status}"
    shown = f"HTTP {status}: {message}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status == 401:
        return AuthError(
            f"The model endpoint rejected the API key ({shown}). Check M21_API_KEY "
            "(or AIMLAPI_KEY), or your editor's key setting (VS Code: 'm2-1: Set API Key')."
        )
    if status == 402 or status == 403:
        return CreditsError(
            f"The model endpoint refused the request ({shown}). The account is probably out "
            "of credits, or the key may not use this model: check your balance and the key "
            "(M21_API_KEY / AIMLAPI_KEY)."
        )
    if status == 404:
        return BadRequestError(
            f"The model endpoint answered 404 ({message}). Check baseUrl ({s.base_url}) and "
            f"model ({s.model})."
        )
    if status in (400, 413, 422):
        return BadRequestError(f"The model endpoint rejected the request ({shown}).")
    wait = f" It asked to wait {_seconds(retry_after)} s." if retry_after else ""
    if status == 429:
        what = f"The model endpoint is rate limiting requests ({shown})"
        return RateLimitError(f"{what}.{wait} Try again later.", retry_after=retry_after, what=what)
    if status >= 500 or status == 408:
        what = f"The model endpoint had a server error ({shown})"
        return ServerError(f"{what}.{wait} Try again later.", retry_after=retry_after, what=what)
    if 300 <= status < 400:
        location = headers.get("location", "")
        return ModelError(
            f"The model endpoint redirected the request (HTTP {status} to {location or '?'}); "
            "the key is never sent to a redirect target. Set baseUrl to the final URL."
        )
    return ModelError(f"The model endpoint answered with an unexpected status ({shown}).")


def _base_resp_error(base: dict[str, Any]) -> ModelError | None:
    code = base.get("status_code")
    if code in (None, 0, "0"):
        return None
    try:
        code = int(code)
    except (TypeError, ValueError):
        return ModelError(f"The model endpoint reported an error: {base!r:.200}")
    msg = clause(scrub(str(base.get("status_msg") or ""))) or "no message"
    shown = f"MiniMax error {code}: {msg}"
    if code in _MINIMAX_AUTH:
        return AuthError(
            f"The model endpoint rejected the API key ({shown}). Check M21_API_KEY "
            "(or AIMLAPI_KEY), or your editor's key setting (VS Code: 'm2-1: Set API Key')."
        )
    if code in _MINIMAX_CREDITS:
        return CreditsError(
            f"The account is out of credits ({shown}). Top up the balance, then try again."
        )
    if code in _MINIMAX_RATE:
        return RateLimitError(f"The model endpoint is rate limiting requests ({shown}).")
    if code in _MINIMAX_TRANSIENT:
        return ServerError(f"The model endpoint had a temporary failure ({shown}).")
    if code in _MINIMAX_BAD_REQUEST:
        return BadRequestError(f"The model endpoint rejected the request ({shown}).")
    return ModelError(f"The model endpoint reported an error ({shown}).")


def _stream_error(error: Any) -> ModelError:
    """An ``{"error": …}`` object sent inside a 200 reply or stream."""
    message = server_message(json.dumps({"error": error})) or "unknown error"
    code = error.get("code") if isinstance(error, dict) else None
    status = error.get("status") if isinstance(error, dict) else None
    for candidate in (code, status):
        if isinstance(candidate, int) and 400 <= candidate < 600:
            return _status_error(
                candidate, json.dumps({"message": message}).encode(), {}, _NO_SETTINGS
            )
    return ServerError(f"The model endpoint reported an error mid-reply: {sentence(message)}")


_NO_SETTINGS = Settings()


def _usage(acc: ChunkAccumulator) -> Usage:
    raw = acc.usage or {}
    details = raw.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None

    def known(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def count(value: Any) -> int:
        return value if known(value) else 0

    return Usage(
        prompt_tokens=count(raw.get("prompt_tokens")),
        completion_tokens=count(raw.get("completion_tokens")),
        reasoning_tokens=count(reasoning),
        credits_used=acc.credits_used,
        reported=known(raw.get("prompt_tokens")) or known(raw.get("completion_tokens")),
    )


def _still_thinking(s: Settings) -> TruncatedReply:
    """The reply stopped inside the reasoning block: there is no answer to look for code in,
    and the usual cause is a token budget that the thinking used up."""
    return TruncatedReply(
        "The reply ended while the model was still thinking: raise maxTokens "
        f"(M21_MAX_TOKENS, now {s.max_tokens}), which the thinking counts against, or select "
        "less code."
    )


def _completion(acc: ChunkAccumulator, s: Settings) -> Completion:
    """Turn a finished reply into a Completion, or the error it really is."""
    if acc.base_resp is not None:
        error = _base_resp_error(acc.base_resp)
        if error is not None:
            raise error
    if acc.error:
        raise _stream_error(acc.error)
    if len(acc.content) + len(acc.reasoning) > s.max_reply_chars:
        raise _too_large(s)
    reason = acc.finish_reason
    if reason is None:
        what = "an empty reply" if not acc.content else "a reply that stopped mid-way"
        raise ServerError(f"The model endpoint sent {what} (no finish reason); it was discarded.")
    raw = acc.content
    split = strip_reasoning(raw)
    if reason == "length":
        if not split.closed:
            raise _still_thinking(s)
        raise TruncatedReply(
            f"The reply was cut off at maxTokens ({s.max_tokens}); the model's thinking "
            "counts against it. Raise maxTokens (M21_MAX_TOKENS) or select less code."
        )
    if reason in ("content_filter", "sensitive"):
        raise ModelError(f"The provider filtered the reply (finish reason {reason!r}).")
    if not split.closed or (acc.reasoning.strip() and not raw.strip()):
        # Some gateways say "stop" for a reply cut off by max_tokens.
        raise _still_thinking(s)
    if not split.text.strip() and split.closed and not raw.strip():
        raise ReplyError("The model returned an empty reply. Try again.")
    reasoning = "\n\n".join(p for p in (acc.reasoning.strip(), split.reasoning) if p)
    return Completion(
        raw=raw,
        text=split.text,
        reasoning=reasoning,
        finish_reason=reason,
        usage=_usage(acc),
        model=acc.model,
    )
