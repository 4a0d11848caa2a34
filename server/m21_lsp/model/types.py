"""Plain data passed between the model client, the pipeline and its callers.

Kept apart from ``client.py`` so that the CLI, the server and tests can speak about
progress and usage without importing httpx.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Phase = Literal[
    "waiting", "connecting", "retrying", "thinking", "writing", "checking", "repairing", "done"
]
"""``retrying`` is the backoff wait between attempts: a phase of its own, so that progress
UIs that throttle repeated reports of one phase never swallow "retrying in 70 s"."""


@dataclass
class Usage:
    """Token counts as the endpoint reported them.

    ``reported`` is False when the endpoint sent no usage at all (some gateways drop it):
    then the counts are unknown, not zero, and are shown as "usage not reported".
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    credits_used: float | None = None
    reported: bool = False
    cached_tokens: int = 0
    """Prompt tokens the endpoint served from its prompt cache
    (``prompt_tokens_details.cached_tokens``); 0 when it does not say."""

    def add(self, other: Usage) -> None:
        """Accumulate another call's usage (a repair turn is a second call)."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cached_tokens += other.cached_tokens
        self.reported = self.reported or other.reported
        if other.credits_used is not None:
            self.credits_used = (self.credits_used or 0) + other.credits_used

    def as_dict(self) -> dict[str, float | int | bool | None]:
        """camelCase for JSON results; unknown counts are null, never 0."""
        known = self.reported
        return {
            "promptTokens": self.prompt_tokens if known else None,
            "completionTokens": self.completion_tokens if known else None,
            "reasoningTokens": self.reasoning_tokens if known else None,
            "cachedTokens": self.cached_tokens if known else None,
            "creditsUsed": self.credits_used,
            "reported": known,
        }

    def describe(self) -> str:
        """'1,200 prompt + 34 completion tokens (20 thinking)', or 'usage not reported'."""
        credits = f", {self.credits_used:g} credits" if self.credits_used is not None else ""
        if not self.reported:
            return "usage not reported" + credits
        thinking = f" ({self.reasoning_tokens:,} thinking)" if self.reasoning_tokens else ""
        cached = f" ({self.cached_tokens:,} cached)" if self.cached_tokens else ""
        return (
            f"{self.prompt_tokens:,} prompt{cached} + {self.completion_tokens:,} completion "
            f"tokens{thinking}{credits}"
        )


class VisibleText:
    """The visible (non-reasoning) text of one reply as it streams, joined only when read.

    A report goes out for every streamed chunk, but its consumers (the live view) read the
    text at most ~10 times a second. Building a full string per chunk would copy the reply
    once per chunk (quadratic: seconds of CPU for a long reply); here a chunk costs a list
    append and a read costs one join of what arrived since the last read.
    """

    __slots__ = ("_joined", "_parts")

    def __init__(self, text: str = "") -> None:
        self._parts: list[str] = [text] if text else []
        self._joined = ""

    def append(self, piece: str) -> None:
        if piece:
            self._parts.append(piece)

    def upto(self, chars: int) -> str:
        """The first ``chars`` characters (a report's snapshot, even when read later)."""
        if self._parts:
            self._joined += "".join(self._parts)
            self._parts = []
        return self._joined if chars >= len(self._joined) else self._joined[:chars]


@dataclass(frozen=True)
class Progress:
    """A snapshot reported while a model call runs.

    ``tokens`` counts streamed chunks of content/reasoning as an estimate until the
    server reports real usage; ``lines`` counts lines of visible (non-reasoning) text.
    ``text`` (phase "writing") is the visible content received so far, a full snapshot;
    reasoning is never in it. It is read from ``visible`` lazily (see :class:`VisibleText`).
    """

    phase: Phase
    tokens: int = 0
    chars: int = 0
    lines: int = 0
    message: str = ""
    attempt: int = 1
    visible: VisibleText | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The visible text so far ("" outside the "writing" phase)."""
        if self.visible is None or self.phase != "writing":
            return ""
        return self.visible.upto(self.chars)

    def describe(self) -> str:
        """Short human text for progress UIs: 'thinking… 412 tokens'."""
        if self.message:
            return self.message
        if self.phase == "thinking":
            return f"thinking… {_count(self.tokens, 'token')}"
        if self.phase == "writing":
            return f"writing… {_count(self.lines, 'line')}"
        if self.phase == "checking":
            return "checking"
        if self.phase == "repairing":
            return "asking the model to fix a syntax error"
        if self.phase == "waiting":
            return "waiting for a free slot"
        if self.phase == "retrying":
            return "waiting to retry"
        if self.phase == "connecting":
            return "waiting for the model" + (
                f" (attempt {self.attempt})" if self.attempt > 1 else ""
            )
        return "done"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class ToolCall:
    """A structured tool call of a reply (OpenAI ``tool_calls``), its arguments as the JSON
    text the endpoint sent (pieces of a stream already joined)."""

    name: str
    arguments: str


@dataclass
class Completion:
    """One finished model call.

    ``raw`` is the reply exactly as streamed (reasoning included) so that a repair turn can
    send it back unchanged; ``text`` is what follows the reasoning block.
    """

    raw: str
    text: str
    reasoning: str
    finish_reason: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    attempts: int = 1
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Structured tool calls, when the endpoint sent the answer as ``tool_calls`` (never
    taken from reasoning); ``text`` may then be empty."""
