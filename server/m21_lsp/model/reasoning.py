"""Strip the model's leading reasoning block, from a whole reply or while it streams.

M2.x starts ``content`` with ``<think>…</think>``. Real replies vary (each shape is a fixture
in ``fixtures/endpoint_shapes/`` with the public report it comes from):

* the opening tag is missing and only the closing tag arrives: servers that put ``<think>``
  into the prompt through the chat template (vLLM, SGLang, LM Studio, mlx servers);
* the tags are spelled ``<thinking>``, ``<mm:think>`` or ``<minimax:think>`` (seen in
  production traffic, once as the degraded ``</mm></minimax:think>``);
* a reply cut off by ``max_tokens`` never closes the block.

The rule that decides where the reasoning ends: **a closing tag outside any fenced code block
ends it, wherever it is.** M2's thinking often holds a draft in a fence, so a fence does not
end the search for an orphan closing tag (the draft is reasoning, never the answer); code
that contains the string ``</think>`` is inside a fence (or an inline code span), so it never
counts. Without an opening tag, an opening tag outside a fence before the closing tag means
the closing tag pairs with it (a later block that belongs to the answer), so nothing is
stripped. With an opening tag, the block ends at its first closing tag, fences or not, as
before: a fence the thinking left unclosed must not swallow the end of the thinking.

Scanning is line by line, and a line is judged only once it is complete (or the reply
ended), so :class:`ReasoningStripper` gives the same result as :func:`strip_reasoning` for
every way of chunking the text (property-tested). The cost: without an opening tag, nothing
is visible until a closing tag ends the reasoning or the reply ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["CLOSE_TAGS", "OPEN_TAGS", "ReasoningStripper", "Split", "strip_reasoning"]

OPEN_TAGS = ("<think>", "<thinking>", "<mm:think>", "<minimax:think>")
CLOSE_TAGS = tuple(tag.replace("<", "</", 1) for tag in OPEN_TAGS)
_TAG = re.compile(r"<(/?)(?:think|thinking|mm:think|minimax:think)>")
_CLOSE = re.compile(r"</(?:think|thinking|mm:think|minimax:think)>")
# A fence line: three or more backticks or tildes after at most some indentation. It opens a
# fenced block when what follows is one word at most (``python``, ``py``, nothing): a line
# like "``` but that is only a thought" is prose in a model's reasoning, not a fence.
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
_BACKTICKS = re.compile(r"`+")


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
    for tag in OPEN_TAGS:
        if stripped.startswith(tag):
            return tag, offset + len(tag)
    if any(tag.startswith(stripped) for tag in OPEN_TAGS):
        return False
    return None


def _in_code_span(line: str, at: int) -> bool:
    """Whether offset ``at`` of ``line`` is inside an inline code span (`` `</think>` ``):
    a backtick run before it that a run of the same length closes after it."""
    open_run = ""
    for run in _BACKTICKS.finditer(line, 0, at):
        if not open_run:
            open_run = run.group()
        elif run.group() == open_run:
            open_run = ""
    return bool(open_run) and open_run in line[at:]


@dataclass(frozen=True)
class _Tag:
    start: int
    end: int
    closing: bool


class _Scanner:
    """Fence-aware search for reasoning tags, one complete line at a time."""

    def __init__(self, start: int, *, closing_only: bool = False) -> None:
        self.pos = start
        self._fence: tuple[str, int] | None = None
        # Inside an opened block, opening tags are text: only the first closing tag matters.
        self._closing_only = closing_only

    def next_tag(self, buf: str, *, final: bool) -> _Tag | None:
        """The next tag outside fences and code spans in the complete lines of ``buf``
        (the last, unfinished line too when ``final``); ``None`` when there is none yet."""
        while self.pos < len(buf):
            newline = buf.find("\n", self.pos)
            if newline < 0 and not final:
                return None
            end = len(buf) if newline < 0 else newline
            start, self.pos = self.pos, end + 1
            tag = self._line(buf[start:end], start)
            if tag is not None:
                return tag
        return None

    def _line(self, line: str, offset: int) -> _Tag | None:
        line = line.removesuffix("\r")
        if self._closing_only:
            # An opened block ends at its first closing tag, fences or not (a fence the
            # thinking left open must not swallow it).
            found = _CLOSE.search(line)
            return _Tag(offset + found.start(), offset + found.end(), True) if found else None
        fence = _FENCE.fullmatch(line)
        if self._fence is not None:
            char, length = self._fence
            run = fence.group(1) if fence else ""
            if fence and run[0] == char and len(run) >= length and not fence.group(2).strip():
                self._fence = None
            return None
        if fence:
            run, info = fence.group(1), fence.group(2).strip()
            if len(info.split()) <= 1 and not (run[0] == "`" and "`" in info):
                self._fence = (run[0], len(run))
                return None
        for match in _TAG.finditer(line):
            if not _in_code_span(line, match.start()):
                return _Tag(offset + match.start(), offset + match.end(), bool(match.group(1)))
        return None


def strip_reasoning(text: str) -> Split:
    """Split one leading reasoning block off ``text``."""
    stripper = ReasoningStripper()
    stripper.feed(text)
    stripper.finish()
    return stripper.result()


class ReasoningStripper:
    """Incremental :func:`strip_reasoning`: feed chunks, get the visible text as it arrives.

    Until it is known where the reasoning ends, text is held back: with an opening tag, until
    the closing tag's line is complete; without one, until a closing tag outside fences ends
    the reasoning, an opening tag shows there is none to strip, or :meth:`finish`.
    """

    def __init__(self) -> None:
        self._buf = ""
        # "start": undecided opening; "open": inside an opening tag's block; "orphan": no
        # opening tag, looking for a closing one; "after": visible text, leading spaces
        # pending; "visible": pass-through.
        self._state = "start"
        self._body_start = 0
        self._scanner = _Scanner(0)
        self._reasoning = ""
        self._closed = True
        self._text: list[str] = []
        self._finished = False
        self._separate = False

    @property
    def phase(self) -> Literal["thinking", "writing"]:
        return "writing" if self._state in ("after", "visible") else "thinking"

    @property
    def reasoning(self) -> str:
        """Reasoning text so far (final once the block closed)."""
        if self._state == "open":
            return self._buf[self._body_start :].strip()
        if self._state == "orphan":
            return self._buf.strip()
        return self._reasoning

    def reasoning_elsewhere(self) -> None:
        """The endpoint sends its reasoning in a field of its own (``reasoning_content``,
        vLLM/SGLang with a reasoning parser): content that then opens without a think tag is
        the answer as it streams, not the rest of a block whose opening tag was in the
        prompt, so the live view and "writing" progress need not wait for the end. (Only
        before the content has been judged; an opening tag is still stripped.)"""
        self._separate = True

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
        out = self._advance(final=True) if self._state not in ("after", "visible") else ""
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
            elif self._separate:
                return self._release()
            else:
                self._state = "orphan"
            self._scanner = _Scanner(self._body_start, closing_only=self._state == "open")
        buf = self._buf
        while True:
            tag = self._scanner.next_tag(buf, final=final)
            if tag is None or tag.closing:
                break
            if self._state == "orphan":
                # An opening tag before any closing one: the closing tag pairs with it, so
                # this reply has no leading reasoning to strip.
                return self._release()
        if tag is not None:
            return self._close_at(tag.start, tag.end)
        if not final:
            return ""
        if self._state == "orphan":
            return self._release()
        anywhere = _CLOSE.search(buf, self._body_start)
        if anywhere is not None:
            return self._close_at(anywhere.start(), anywhere.end())
        self._reasoning = buf[self._body_start :].strip()
        self._closed = False
        self._buf = ""
        return ""

    def _release(self) -> str:
        """Everything held back is the answer: there is no reasoning block."""
        buf, self._buf = self._buf, ""
        self._state = "visible"
        self._text.append(buf)
        return buf

    def _close_at(self, start: int, end: int) -> str:
        self._reasoning = self._buf[self._body_start : start].strip()
        rest = self._buf[end:]
        self._buf = ""
        self._state = "after"
        return self._emit(rest) if rest else ""
