"""Strip the model's leading reasoning block, from a whole reply or while it streams.

M2.1 starts ``content`` with ``<think>…</think>``. Real replies vary: the opening tag may be
missing (only ``</think>`` arrives), the tag may be ``<thinking>``, and a reply cut off by
``max_tokens`` may never close the block. We strip exactly one *leading* block and never a
``<think>`` that appears later (code may legitimately contain that string). Without an
opening tag, a closing tag counts only when it comes before the first code fence (anything
after a fence is the answer) and before any later opening tag (which it would pair with).

The streaming :class:`ReasoningStripper` follows the same rules as :func:`strip_reasoning`
for every way of chunking the text (property-tested), so progress shown while streaming
never disagrees with the final result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["ReasoningStripper", "Split", "strip_reasoning"]

_OPEN_TAGS = ("<think>", "<thinking>")
_CLOSE = re.compile(r"</think(?:ing)?>")
# What ends the search for an orphan closing tag: a code fence opening a line (indented
# fences in lists count too), or an opening tag (then the closing tag pairs with it).
_GUARD = re.compile(r"(?m)^[ \t]*(?:```|~~~)|<think(?:ing)?>")
_LONGEST_CLOSE = len("</thinking>")
# An unfinished last line that could still turn into a fence.
_FENCE_PREFIX = re.compile(r"[ \t]*(?:`{0,2}|~{0,2})")


@dataclass(frozen=True)
class Split:
    """A reply divided into its reasoning and the visible text after it.

    ``closed`` is False only when a reasoning block was opened and never closed (the reply
    was truncated while thinking); then ``text`` is empty.
    """

    reasoning: str
    text: str
    closed: bool = True


def _opening(text: str) -> tuple[str, int] | Literal[False] | None:
    """The opening tag at the start of ``text`` (after whitespace) and its end offset.

    Returns ``False`` when the start is still a prefix of an opening tag (undecided), and
    ``None`` when there is definitely no opening tag.
    """
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    for tag in _OPEN_TAGS:
        if stripped.startswith(tag):
            return tag, offset + len(tag)
    if any(tag.startswith(stripped) for tag in _OPEN_TAGS):
        return False
    return None


def _close_before_fence(text: str) -> re.Match[str] | None:
    """Without an opening tag: the closing tag that ends reasoning, if nothing guards it."""
    close = _CLOSE.search(text)
    if close is None:
        return None
    guard = _GUARD.search(text, 0, close.start())
    return None if guard else close


def strip_reasoning(text: str) -> Split:
    """Split one leading reasoning block off ``text``."""
    opening = _opening(text)
    if opening:
        _tag, body_start = opening
        close = _CLOSE.search(text, body_start)
        if close is None:
            return Split(text[body_start:].strip(), "", closed=False)
        return Split(text[body_start : close.start()].strip(), text[close.end() :].lstrip())
    close = _close_before_fence(text)
    if close is None:
        return Split("", text)
    return Split(text[: close.start()].strip(), text[close.end() :].lstrip())


class ReasoningStripper:
    """Incremental :func:`strip_reasoning`: feed chunks, get the visible text as it arrives.

    Until it is known whether the reply starts with reasoning, text is held back (at most
    the reasoning plus a partial tag): a reply without an opening tag is visible only once a
    code fence shows there is no ``</think>`` to wait for, or at :meth:`finish`.
    """

    def __init__(self) -> None:
        self._buf = ""
        # "start": undecided opening; "open": inside <think>; "orphan": no opening tag,
        # looking for </think> before a fence; "after": visible text, leading spaces pending;
        # "visible": pass-through.
        self._state = "start"
        self._body_start = 0
        self._reasoning = ""
        self._closed = True
        self._pending_space = ""
        self._text: list[str] = []
        self._scan_from = 0
        self._finished = False

    @property
    def phase(self) -> Literal["thinking", "writing"]:
        return "writing" if self._state in ("after", "visible") else "thinking"

    @property
    def reasoning(self) -> str:
        """Reasoning text so far (final once the block closed)."""
        if self._state in ("open",):
            return self._buf[self._body_start :].strip()
        if self._state == "orphan":
            return self._buf.strip()
        return self._reasoning

    def feed(self, chunk: str) -> str:
        """Take the next piece of content; return the newly visible text."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if not chunk:
            return ""
        if self._state in ("after", "visible"):
            return self._emit(chunk)
        self._buf += chunk
        return self._advance(final=False)

    def finish(self) -> str:
        """End of stream: flush whatever was held back and fix the final split."""
        if self._finished:
            return ""
        out = self._advance(final=True)
        self._finished = True
        return out

    def result(self) -> Split:
        """The final :class:`Split` (call after :meth:`finish`)."""
        return Split(self._reasoning, "".join(self._text), self._closed)

    # ------------------------------------------------------------------ internals
    def _emit(self, chunk: str) -> str:
        if self._state == "after":
            chunk = chunk.lstrip()
            if not chunk:
                return ""
            self._state = "visible"
        self._text.append(chunk)
        return chunk

    def _advance(self, *, final: bool) -> str:
        if self._state == "start":
            opening = _opening(self._buf)
            if opening is False and not final:
                return ""
            if opening:
                self._state = "open"
                self._body_start = opening[1]
                self._scan_from = self._body_start
            else:
                self._state = "orphan"
                self._scan_from = 0
        if self._state == "open":
            close = _CLOSE.search(self._buf, self._scan_from)
            if close is None:
                self._scan_from = max(self._body_start, len(self._buf) - _LONGEST_CLOSE)
                if final:
                    self._reasoning = self._buf[self._body_start :].strip()
                    self._closed = False
                    self._buf = ""
                return ""
            return self._close_at(self._body_start, close)
        # orphan: decide once a closing tag, a fence or an opening tag has fully arrived.
        # Nothing decisive was complete before ``_scan_from``, so only look from there.
        buf = self._buf
        close = _CLOSE.search(buf, self._scan_from)
        guard = _GUARD.search(buf, self._scan_from, close.start() if close else len(buf))
        if close is not None and guard is None:
            return self._close_at(0, close)
        if guard is not None or final:
            self._buf = ""
            self._state = "visible"
            self._text.append(buf)
            return buf
        scan_from = len(buf) - _LONGEST_CLOSE
        line_start = buf.rfind("\n") + 1
        if _FENCE_PREFIX.fullmatch(buf, line_start):
            scan_from = min(scan_from, line_start)  # the last line may still become a fence
        self._scan_from = max(0, scan_from)
        return ""

    def _close_at(self, body_start: int, close: re.Match[str]) -> str:
        self._reasoning = self._buf[body_start : close.start()].strip()
        rest = self._buf[close.end() :]
        self._buf = ""
        self._state = "after"
        return self._emit(rest) if rest else ""
