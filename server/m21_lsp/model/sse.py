"""Server-sent events decoding and chat-completion chunk accumulation.

OpenAI-compatible endpoints differ in small ways that break naive parsers: ``data:`` with
or without a space, CRLF line ends, comments and keep-alives, JSON split over several
``data:`` lines, events not separated by a blank line, an optional ``[DONE]``, a finish chunk
whose ``delta`` is null, a usage-only chunk with ``choices: []``, a closing frame that repeats
the whole ``message``, empty ``role`` strings, and reasoning sent in ``reasoning_content`` or
``reasoning_details`` instead of inside ``content``. The decoder and the accumulator here
accept all of them; the client decides what is an error.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DONE", "ChunkAccumulator", "Delta", "SSEDecoder"]

DONE = "[DONE]"
_EOL = re.compile(r"\r\n|\r|\n")


def _is_complete_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class SSEDecoder:
    """Turn bytes (split anywhere, even inside a UTF-8 character) into event data strings."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line = ""
        self._data: list[str] = []
        self._skip_lf = False

    def feed(self, data: bytes) -> list[str]:
        """Decode more bytes; return the data of every event completed by them."""
        return self._lines(self._decoder.decode(data))

    def finish(self) -> list[str]:
        """End of stream: an event without its closing blank line still counts."""
        out = self._lines(self._decoder.decode(b"", final=True))
        if self._line:
            out += self._line_done(self._line)
            self._line = ""
        out += self._dispatch()
        return out

    def _lines(self, text: str) -> list[str]:
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]  # the LF of a CRLF that was split between two feeds
        self._skip_lf = False
        if not text:
            return []
        buf = self._line + text
        lines = _EOL.split(buf)
        self._line = lines.pop()
        self._skip_lf = buf.endswith("\r")
        out: list[str] = []
        for line in lines:
            out += self._line_done(line)
        return out

    def _line_done(self, line: str) -> list[str]:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return []  # comment / keep-alive
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name != "data":
            return []  # event:, id:, retry: and junk lines carry nothing we use
        out: list[str] = []
        if self._data:
            # Some servers omit the blank line between events: a new data line after a
            # complete JSON value starts a new event rather than continuing the old one.
            pending = "\n".join(self._data)
            if pending.strip() == DONE or _is_complete_json(pending):
                out = self._dispatch()
        self._data.append(value)
        return out

    def _dispatch(self) -> list[str]:
        if not self._data:
            return []
        data = "\n".join(self._data)
        self._data = []
        return [data]


@dataclass
class Delta:
    """What one chunk added: visible-content text and separately-sent reasoning text."""

    content: str = ""
    reasoning: str = ""
    tool_arguments: str = ""
    """Pieces of structured tool-call arguments this chunk added (for progress counts)."""


@dataclass
class ChunkAccumulator:
    """Accumulate chat-completion chunks (or one whole non-streamed reply) into a reply."""

    content_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    credits_used: float | None = None
    base_resp: dict[str, Any] | None = None
    error: Any = None
    model: str = ""
    chunks: int = 0
    tool_parts: dict[int, list[str]] = field(default_factory=dict)
    """Structured tool calls by their ``index``: [name, argument pieces…]."""

    @property
    def content(self) -> str:
        return "".join(self.content_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def tool_calls(self) -> list[tuple[str, str]]:
        """(name, arguments JSON text) of every structured call, in index order."""
        return [(parts[0], "".join(parts[1:])) for _, parts in sorted(self.tool_parts.items())]

    def _tool_delta(self, calls: Any, *, whole: bool) -> str:
        """Take ``tool_calls`` from a delta (pieces) or a whole message (``whole``); a
        closing frame that repeats calls already streamed adds nothing."""
        if not isinstance(calls, list):
            return ""
        if whole and self.tool_parts:
            return ""
        added = []
        for position, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            index = call.get("index", position)
            index = index if isinstance(index, int) else position
            function = call.get("function")
            if not isinstance(function, dict):
                continue
            parts = self.tool_parts.setdefault(index, [""])
            name = function.get("name")
            if isinstance(name, str) and name:
                parts[0] = name if whole or not parts[0] else parts[0]
            arguments = function.get("arguments")
            if isinstance(arguments, dict):  # some gateways send the object itself
                arguments = json.dumps(arguments, ensure_ascii=False)
            if isinstance(arguments, str) and arguments:
                parts.append(arguments)
                added.append(arguments)
        return "".join(added)

    def feed(self, obj: Any) -> Delta:
        """Take one decoded JSON object; return the text it added."""
        delta = Delta()
        if not isinstance(obj, dict):
            return delta
        self.chunks += 1
        if isinstance(obj.get("model"), str) and obj["model"]:
            self.model = obj["model"]
        if obj.get("error"):
            self.error = obj["error"]
        if isinstance(obj.get("base_resp"), dict):
            self.base_resp = obj["base_resp"]
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        meta = obj.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("usage"), dict):
            credits = meta["usage"].get("credits_used")
            if isinstance(credits, (int, float)) and not isinstance(credits, bool):
                self.credits_used = credits
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            return delta
        choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
        if choice is None:
            return delta
        step = choice.get("delta")
        if isinstance(step, dict):
            delta.content = _text(step.get("content"))
            delta.reasoning = _reasoning_of(step)
            delta.tool_arguments = self._tool_delta(step.get("tool_calls"), whole=False)
        message = choice.get("message")
        if isinstance(message, dict):
            # A whole message: the non-streamed reply, or a closing frame that repeats what
            # was streamed. Take only what the stream has not already delivered.
            delta.content += _missing(self.content + delta.content, _text(message.get("content")))
            delta.reasoning += _missing(self.reasoning + delta.reasoning, _reasoning_of(message))
            delta.tool_arguments += self._tool_delta(message.get("tool_calls"), whole=True)
        if delta.content:
            self.content_parts.append(delta.content)
        if delta.reasoning:
            self.reasoning_parts.append(delta.reasoning)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = reason
        return delta


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content given as parts: [{"type": "text", "text": ...}]
        return "".join(p.get("text", "") for p in value if isinstance(p, dict))
    return ""


def _reasoning_of(obj: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        if isinstance(obj.get(key), str) and obj[key]:
            return obj[key]
    details = obj.get("reasoning_details")
    if isinstance(details, list):
        parts = []
        for item in details:
            if isinstance(item, dict):
                piece = item.get("text") or item.get("summary") or ""
                if isinstance(piece, str):
                    parts.append(piece)
        return "".join(parts)
    return ""


def _missing(have: str, whole: str) -> str:
    """The part of a repeated ``whole`` message that the stream has not delivered yet."""
    if not whole:
        return ""
    if not have:
        return whole
    if whole.startswith(have):
        return whole[len(have) :]
    return ""
