"""How an endpoint's answer becomes a :class:`Completion` or the typed error it really is.

:mod:`.client` owns the request lifecycle (connect, stream, retry, cancel); this module owns
the meaning of what came back: HTTP statuses, MiniMax's ``base_resp`` codes (sent with HTTP
200), ``{"error": …}`` objects inside a stream, Retry-After headers, and a finish reason that
says the reply was cut off. Every message is built from scrubbed text and says what to do.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

import httpx

from ..config import Settings
from ..errors import (
    AuthError,
    BadRequestError,
    CreditsError,
    ModelError,
    ModelTimeout,
    RateLimitError,
    ReplyError,
    ServerError,
    TruncatedReply,
    UsageLimitError,
    clause,
    scrub,
    sentence,
)
from .reasoning import Split, strip_reasoning
from .sse import ChunkAccumulator
from .types import Completion, ToolCall, Usage

MESSAGE_LIMIT = 300
_KEY_ADVICE = (
    "Check M21_API_KEY (or AIMLAPI_KEY), or your editor's key setting "
    "(VS Code: 'm2-1: Set API Key')."
)
# MiniMax's own error codes (its error-code page), sent in ``base_resp`` with HTTP 200, or in
# an error body with 429/5xx. Each: the error class (which decides the retry) and the advice.
_MINIMAX: dict[int, tuple[type[ModelError], str, str]] = {
    1000: (ServerError, "had an unknown failure", "Try again later."),
    1001: (ServerError, "timed out on its side", "Try again later."),
    1002: (
        RateLimitError,
        "is rate limiting requests (requests per minute)",
        "Try again in a minute.",
    ),
    1004: (AuthError, "rejected the API key", _KEY_ADVICE),
    1008: (
        CreditsError,
        "says the account is out of credits",
        "Top up the balance, then try again.",
    ),
    1013: (ServerError, "had an internal failure", "Try again later."),
    1024: (ServerError, "had an internal failure", "Try again later."),
    1026: (
        ModelError,
        "refused the request: its content filter flagged the input",
        "Select different code or change the instruction.",
    ),
    1027: (
        ModelError,
        "refused the reply: its content filter flagged the output",
        "Try again, or change the instruction.",
    ),
    1033: (ServerError, "had a system failure", "Try again later."),
    1039: (
        RateLimitError,
        "is limiting tokens per minute",
        "Try again in a minute, or select less code.",
    ),
    1041: (
        RateLimitError,
        "has too many open connections for the account",
        "Try again in a minute, or lower maxConcurrentRequests (M21_MAX_CONCURRENT_REQUESTS).",
    ),
    1042: (
        BadRequestError,
        "refused the input: too many invisible characters",
        "Select code without control characters.",
    ),
    2013: (
        BadRequestError,
        "rejected the request's parameters",
        "Check model (M21_MODEL), maxTokens (M21_MAX_TOKENS) and temperature (M21_TEMPERATURE): MiniMax takes temperature in (0, 1].",
    ),
    2045: (RateLimitError, "is limiting how fast the request rate grows", "Try again in a minute."),
    2049: (AuthError, "rejected the API key", _KEY_ADVICE),
    2056: (
        UsageLimitError,
        "says the plan's usage limit for its 5-hour window is used up",
        "Wait until the window resets (the endpoint's message says when), or use a pay-as-you-go key; retrying now cannot help.",
    ),
}
# "…, resets at 2026-05-15T15:00:00Z (2056)": the code as some gateways put it in the text.
_CODE_IN_TEXT = re.compile(r"\((\d{4,5})\)\s*$")


def seconds(value: float) -> str:
    """Seconds for a message: whole above 1 s ("70"), one figure below ("0.5")."""
    return f"{value:.0f}" if value >= 1 or value == 0 else f"{value:.1g}"


def describe(exc: BaseException) -> str:
    text = clause(scrub(str(exc)))
    name = type(exc).__name__
    return f"{name}: {text[:MESSAGE_LIMIT]}" if text else name


def too_large(settings: Settings) -> ReplyError:
    return ReplyError(
        f"The reply is larger than {settings.max_reply_chars} characters. Raise maxReplyChars "
        "(M21_MAX_REPLY_CHARS) if such replies are expected."
    )


def timeout_error(exc: httpx.TimeoutException, s: Settings) -> ModelTimeout:
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
    return ModelTimeout(text, detail=describe(exc))


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
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
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


def status_error(
    status: int, body: bytes, headers: httpx.Headers | dict[str, str], s: Settings
) -> ModelError:
    message = clause(server_message(body)) or f"HTTP {status}"
    shown = f"HTTP {status}: {message}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    code = _minimax_code(body, message)
    if code in _MINIMAX and status not in (401, 404):
        return _minimax_error(code, shown, retry_after)
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
    wait = f" It asked to wait {seconds(retry_after)} s." if retry_after else ""
    if status == 429:
        what = f"The model endpoint is rate limiting requests ({shown})"
        return RateLimitError(f"{what}.{wait} Try again later.", retry_after=retry_after, what=what)
    if status == 529:
        what = f"The model endpoint is overloaded ({shown})"
        return ServerError(
            f"{what}.{wait} Try again in a few minutes.", retry_after=retry_after, what=what
        )
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


def _minimax_code(body: bytes, message: str) -> int | None:
    """MiniMax's error code in an error body: ``base_resp.status_code``, or the number some
    gateways append to the message ("… (2056)")."""
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    base = obj.get("base_resp") if isinstance(obj, dict) else None
    if isinstance(base, dict):
        try:
            code = int(base.get("status_code") or 0)
        except (TypeError, ValueError):
            code = 0
        if code:
            return code
    found = _CODE_IN_TEXT.search(message)
    return int(found.group(1)) if found else None


def _minimax_error(code: int, shown: str, retry_after: float | None = None) -> ModelError:
    """The error for a known MiniMax code: its class decides the retry (rate limits and
    server failures are retried, a used-up plan window or balance is not)."""
    cls, what_happened, advice = _MINIMAX[code]
    what = f"The model endpoint {what_happened} ({shown})"
    wait = f" It asked to wait {seconds(retry_after)} s." if retry_after else ""
    if cls in (RateLimitError, ServerError):
        return cls(f"{what}.{wait} {advice}", retry_after=retry_after, what=what)
    return cls(f"{what}. {advice}", what=what)


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
    if code in _MINIMAX:
        return _minimax_error(code, shown)
    return ModelError(
        f"The model endpoint reported an error ({shown}). Look the code up on MiniMax's "
        "error-code page; m21-lsp does not retry codes it does not know."
    )


def _stream_error(error: Any) -> ModelError:
    """An ``{"error": …}`` object sent inside a 200 reply or stream."""
    message = server_message(json.dumps({"error": error})) or "unknown error"
    code = error.get("code") if isinstance(error, dict) else None
    status = error.get("status") if isinstance(error, dict) else None
    for candidate in (code, status):
        if isinstance(candidate, int) and 400 <= candidate < 600:
            return status_error(
                candidate, json.dumps({"message": message}).encode(), {}, _NO_SETTINGS
            )
    return ServerError(f"The model endpoint reported an error mid-reply: {sentence(message)}")


_NO_SETTINGS = Settings()


def _usage(acc: ChunkAccumulator) -> Usage:
    raw = acc.usage or {}
    details = raw.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    prompt_details = raw.get("prompt_tokens_details")
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None

    def known(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def count(value: Any) -> int:
        return value if known(value) else 0

    return Usage(
        prompt_tokens=count(raw.get("prompt_tokens")),
        completion_tokens=count(raw.get("completion_tokens")),
        reasoning_tokens=count(reasoning),
        cached_tokens=count(cached),
        credits_used=acc.credits_used,
        reported=known(raw.get("prompt_tokens")) or known(raw.get("completion_tokens")),
    )


def _still_thinking(s: Settings) -> TruncatedReply:
    """The reply stopped inside the reasoning block because the token budget, which the
    thinking counts against, ran out: there is no answer to look for code in."""
    return TruncatedReply(
        "The reply ended while the model was still thinking: raise maxTokens "
        f"(M21_MAX_TOKENS, now {s.max_tokens}), which the thinking counts against, or select "
        "less code."
    )


def _no_answer(s: Settings) -> ReplyError:
    """The endpoint said the reply was complete, but all of it was reasoning.

    Decision (issue 19): code is never taken from reasoning alone. M2's thinking drafts code
    in fences, and a draft applied as the answer is the worst outcome, so a reply whose only
    text is reasoning (``reasoning_content`` with an empty ``content``, or a ``<think>`` block
    that never closed) is refused unless the reasoning itself holds a closing tag outside any
    fence, which shows where the answer starts (a server whose reasoning parser missed the end
    of the thinking). Raising maxTokens would not help when the budget was not used up, so
    this message does not say so.
    """
    return ReplyError(
        "The model endpoint sent only reasoning and no answer, although it reported the reply "
        "as complete (finish reason 'stop'). Code in the reasoning is a draft, so nothing was "
        "applied. Try again; if it keeps happening, the endpoint's reasoning split is "
        "misconfigured (self-hosted vLLM or SGLang: check --reasoning-parser)."
        + (
            f" If the endpoint stopped at maxTokens ({s.max_tokens}) without saying so, raise "
            "maxTokens (M21_MAX_TOKENS)."
            if s.max_tokens
            else ""
        )
    )


def _budget_used(acc: ChunkAccumulator, s: Settings) -> bool | None:
    """Whether the reported completion tokens reached maxTokens (``None``: not reported)."""
    tokens = (acc.usage or {}).get("completion_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool):
        return None
    return tokens >= s.max_tokens


def _answer_in_reasoning(reasoning: str) -> Split | None:
    """The answer after a closing tag inside the reasoning text, when there is one."""
    if not reasoning.strip():
        return None
    split = strip_reasoning(reasoning)
    return split if split.reasoning != "" or split.text != reasoning else None


def completion_of(acc: ChunkAccumulator, s: Settings) -> Completion:
    """Turn a finished reply into a Completion, or the error it really is."""
    if acc.base_resp is not None:
        error = _base_resp_error(acc.base_resp)
        if error is not None:
            raise error
    if acc.error:
        raise _stream_error(acc.error)
    if len(acc.content) + len(acc.reasoning) > s.max_reply_chars:
        raise too_large(s)
    reason = acc.finish_reason
    if reason is None:
        what = "an empty reply" if not acc.content else "a reply that stopped mid-way"
        raise ServerError(f"The model endpoint sent {what} (no finish reason); it was discarded.")
    raw = acc.content
    split = strip_reasoning(raw)
    separate = acc.reasoning
    calls = [ToolCall(name, arguments) for name, arguments in acc.tool_calls]
    if not raw.strip() and separate.strip() and not calls:
        # Only reasoning_content: an answer is there only after a closing tag in it.
        inner = _answer_in_reasoning(separate)
        if inner is not None and inner.text.strip():
            split, separate = Split(inner.reasoning, inner.text), ""
    if reason == "length":
        if not split.closed or not split.text.strip():
            raise _still_thinking(s)
        raise TruncatedReply(
            f"The reply was cut off at maxTokens ({s.max_tokens}); the model's thinking "
            "counts against it. Raise maxTokens (M21_MAX_TOKENS) or select less code."
        )
    if reason in ("content_filter", "sensitive"):
        raise ModelError(f"The provider filtered the reply (finish reason {reason!r}).")
    if not split.closed or (separate.strip() and not split.text.strip() and not calls):
        # "stop" with nothing but reasoning: a budget cut off that the gateway called a
        # stop when the usage says so, else an answer that was never written.
        if _budget_used(acc, s):
            raise _still_thinking(s)
        raise _no_answer(s)
    if not split.text.strip() and not calls:
        raise ReplyError("The model returned an empty reply. Try again.")
    reasoning = "\n\n".join(p for p in (separate.strip(), split.reasoning) if p)
    return Completion(
        raw=raw or acc.reasoning,
        text=split.text,
        reasoning=reasoning,
        finish_reason=reason,
        usage=_usage(acc),
        model=acc.model,
        tool_calls=calls,
    )
