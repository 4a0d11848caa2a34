"""Typed failures with messages a user can act on.

Every exception the pipeline raises on purpose is an :class:`M21Error`. Its ``message`` is
shown to the user as is (CLI stderr, ``window/showMessage``), so it says what happened and
what to do about it. ``detail`` carries extra text for logs (server messages, parser
errors). Neither may ever contain the API key: :func:`scrub` is applied to both on
construction as a last line of defence, because a key can leak through a server's echo of
a request header or a URL.
"""

from __future__ import annotations

import re
from typing import ClassVar

_KNOWN_SECRETS: set[str] = set()
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/=]{6,}")


# Runs of _PIECE characters of a long secret count as a leak too, because servers echo
# keys half-masked ("sk-abc…****wxyz"). Short secrets only match whole (fewer false hits).
_PIECE = 8
_PIECE_MIN_SECRET = 20
_KNOWN_PIECES: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember a secret so that :func:`scrub` removes it from any text we emit."""
    if secret and len(secret) >= 4:
        _KNOWN_SECRETS.add(secret)
        if len(secret) >= _PIECE_MIN_SECRET:
            _KNOWN_PIECES.update(secret[i : i + _PIECE] for i in range(len(secret) - _PIECE + 1))


def scrub(text: str) -> str:
    """Remove registered secrets and bearer tokens from ``text``."""
    for secret in sorted(_KNOWN_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    if _KNOWN_PIECES:
        spans: list[list[int]] = []
        for i in range(len(text) - _PIECE + 1):
            if text[i : i + _PIECE] in _KNOWN_PIECES:
                if spans and i <= spans[-1][1]:
                    spans[-1][1] = i + _PIECE
                else:
                    spans.append([i, i + _PIECE])
        for start, end in reversed(spans):
            text = text[:start] + "***" + text[end:]
    return _BEARER.sub(r"\1***", text)


_END_PUNCTUATION = ".!?;:,"


def clause(text: str) -> str:
    """``text`` without trailing punctuation, to be embedded in a sentence of ours.

    Servers end their messages with a full stop ("Rate limit exceeded."); wrapped in our
    own parentheses and sentence that would read "(… exceeded.).".
    """
    return text.rstrip().rstrip(_END_PUNCTUATION).rstrip()


def sentence(text: str) -> str:
    """``text`` ending in exactly one full stop (or its own ! or ?), so that the next
    sentence we append is separated from it."""
    text = text.rstrip()
    if text.endswith(("!", "?", ".", "…")):
        return text
    return clause(text) + "."


class M21Error(Exception):
    """Base of every failure the user should see as a message rather than a traceback.

    ``kind`` is a short stable name (``"auth"``, ``"credits"``, ``"no_code"``…) that the
    server puts into command results and tests match on.
    """

    kind: ClassVar[str] = "error"
    retryable: ClassVar[bool] = False

    def __init_subclass__(cls, *, kind: str = "", retryable: bool | None = None) -> None:
        super().__init_subclass__()
        if kind:
            cls.kind = kind
        if retryable is not None:
            cls.retryable = retryable

    def __init__(self, message: str, *, detail: str = "") -> None:
        self.message = scrub(message)
        self.detail = scrub(detail)
        super().__init__(self.message)


class ConfigError(M21Error, kind="config"):
    """Missing or invalid configuration (no key, bad number, unsafe base URL…)."""


class UsageError(M21Error, kind="usage"):
    """The caller asked for something malformed (bad range, unknown document)."""


class LimitExceeded(M21Error, kind="limit"):
    """A safety cap was hit before any request was sent; the message names the setting."""


class SecretFileRefused(M21Error, kind="secret_file"):
    """The file matches a secret-file glob and is never sent to the model."""


class ModelError(M21Error, kind="model"):
    """Base for failures talking to the model endpoint.

    ``retry_after`` is the wait the endpoint asked for (seconds), when it named one;
    ``what`` is the message's first part without advice (see :class:`RateLimitError`).
    """

    def __init__(
        self,
        message: str,
        *,
        detail: str = "",
        retry_after: float | None = None,
        what: str = "",
    ) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after
        self.what = scrub(what) or self.message


class AuthError(ModelError, kind="auth"):
    """The endpoint refused the key (HTTP 401, MiniMax 1004): the message names where the key
    comes from."""


class CreditsError(ModelError, kind="credits"):
    """The account may not make this call (HTTP 402/403, MiniMax 1008): out of credits, or a key
    that may not use this model."""


class BadRequestError(ModelError, kind="bad_request"):
    """The endpoint rejected the request itself (HTTP 400/404/413/422): a wrong baseUrl or model,
    or a request too large; retrying the same request cannot help."""


class RateLimitError(ModelError, kind="rate_limit", retryable=True):
    """429 or MiniMax's rate-limit codes.

    ``what`` is the message's first part without advice ("The model endpoint is rate
    limiting requests (HTTP 429: …)"), so that a refusal to wait out ``retry_after`` can say
    why in one sentence instead of appending a second, contradicting one.
    """


class UsageLimitError(ModelError, kind="usage_limit"):
    """A plan's usage window is used up (MiniMax 2056: the 5-hour window of a Token/Coding
    Plan). Sent as a rate limit (HTTP 429 or ``base_resp``), but retrying within seconds
    cannot help: the window resets in hours, so it is never retried."""


class ServerError(ModelError, kind="server", retryable=True):
    """5xx answers, dropped connections and streams cut off before a finish reason."""


class ModelTimeout(ModelError, kind="timeout", retryable=True):
    """No connection within connectTimeout, or no bytes for chunkTimeout: retried within
    the overall timeout, then reported with the setting to raise."""


class TruncatedReply(ModelError, kind="truncated"):
    """``finish_reason == "length"``: the reply hit ``maxTokens``."""


class ReplyError(M21Error, kind="reply"):
    """The model answered, but the answer is unusable (no code block, empty, too large)."""


class NoCodeInReply(ReplyError, kind="no_code"):
    """The reply has no code block to use as the replacement; an empty replacement is never
    made up instead."""


class StructureError(ReplyError, kind="structure"):
    """The reply's code parses but would change the file's structure around it (a method
    nested in a repeated ``class``, a docstring shifted): refused, never applied."""


class SecretChanged(ReplyError, kind="secret_changed"):
    """The reply altered, copied or dropped a secret's placeholder (``pipeline/redact.py``):
    nothing is written, so no placeholder and no misplaced secret reaches the file."""


class InvalidSyntax(M21Error, kind="invalid_syntax"):
    """The edited document no longer parses in its language (tree-sitter found a new
    ``ERROR``/``MISSING`` node, or a top-level declaration outside the selection changed),
    even after the repair turn(s). ``language`` is the name the message uses ("Go")."""

    def __init__(
        self,
        message: str,
        *,
        detail: str = "",
        line: int | None = None,
        language: str = "",
    ) -> None:
        super().__init__(message, detail=detail)
        self.line = line
        self.language = language


class InvalidPython(InvalidSyntax, kind="invalid_python"):
    """The replacement does not parse, even after the repair turn(s)."""

    def __init__(self, message: str, *, detail: str = "", line: int | None = None) -> None:
        super().__init__(message, detail=detail, line=line, language="Python")


class StaleDocument(M21Error, kind="stale"):
    """The selected code changed while the model was working; nothing is applied."""


class Cancelled(M21Error, kind="cancelled"):
    """The user cancelled (progress or ``$/cancelRequest``); nothing was applied."""
