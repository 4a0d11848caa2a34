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

What an answer *means* (a status, a ``base_resp`` code, an error mid-stream, a finish reason)
is decided in :mod:`.replies`; this module only moves bytes, waits and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    BadRequestError,
    ConfigError,
    ModelError,
    ModelTimeout,
    RateLimitError,
    ReplyError,
    ServerError,
    clause,
    register_secret,
    scrub,
)
from .reasoning import ReasoningStripper
from .replies import (
    MESSAGE_LIMIT,
    completion_of,
    describe,
    parse_retry_after,
    seconds,
    server_message,
    status_error,
    timeout_error,
    too_large,
)
from .sse import DONE, ChunkAccumulator, SSEDecoder
from .types import Completion, Phase, Progress, ProgressCallback, Usage, VisibleText

__all__ = ["ModelClient", "parse_retry_after", "server_message"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

_ERROR_BODY_LIMIT = 64 * 1024
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
                    message=f"{why}: retrying in {seconds(delay)} s "
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
                f"longer than the {seconds(max(remaining, 0.0))} s left within the timeout "
                f"setting ({timeout:g} s)"
            )
        what = clause(getattr(exc, "what", "") or exc.message)
        message = (
            f"{what} and asked to wait {seconds(wanted)} s before retrying, {room}, so it "
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
                    raise status_error(response.status_code, body, response.headers, s)
                acc = await self._read_reply(response, report)
        except httpx.TimeoutException as exc:
            failure = timeout_error(exc, s)
        except httpx.TransportError as exc:
            failure = ServerError(
                f"The connection to the model endpoint failed ({describe(exc)}).",
                detail=scrub(str(exc)),
            )
        except httpx.HTTPError as exc:
            failure = ModelError(
                f"The request to the model endpoint failed ({describe(exc)}).",
                detail=scrub(str(exc)),
            )
        if failure is not None:
            # Raised outside the handler so that not even ``__context__`` keeps the httpx
            # exception, whose request still holds the Authorization header.
            raise failure
        return completion_of(acc, s)

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
            raise too_large(self.settings)
        try:
            obj = json.loads(body)
        except ValueError:
            raise ServerError(
                "The model endpoint sent a reply that is not valid JSON.",
                detail=scrub(body[:MESSAGE_LIMIT].decode("utf-8", "replace")),
            ) from None
        acc = ChunkAccumulator()
        acc.feed(obj)
        if len(acc.content) + len(acc.reasoning) > self.settings.max_reply_chars:
            raise too_large(self.settings)
        if acc.finish_reason is None and (acc.content or acc.tool_parts):
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
                raise too_large(self.settings)
            for data in decoder.feed(chunk):
                state.event(data, acc)
        for data in decoder.finish():
            state.event(data, acc)
        if acc.finish_reason is None and state.done and (acc.content or acc.tool_parts):
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
        self.visible = VisibleText()
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
                detail=scrub(data[:MESSAGE_LIMIT]),
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
        if delta.reasoning:
            self.stripper.reasoning_elsewhere()
        visible = self.stripper.feed(delta.content) if delta.content else ""
        if visible:
            self.visible.append(visible)
            self.visible_chars += len(visible)
            self.visible_lines += visible.count("\n")
            self.open_line = not visible.endswith("\n")
        if self.stripper.phase == "writing" and self.visible_chars:
            self.report(
                "writing",
                tokens=self.tokens,
                chars=self.visible_chars,
                lines=self.visible_lines + self.open_line,
                visible=self.visible,
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
