"""Caps checked before any request is sent, and files that are never sent at all.

Every refusal names the setting that raises the cap, because a limit the user cannot find
is indistinguishable from a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Protocol
from urllib.parse import unquote, urlsplit

from .config import Settings
from .errors import LimitExceeded, SecretFileRefused
from .model_types import Completion, Progress, ProgressCallback

__all__ = [
    "GatedClient",
    "ModelCallSlots",
    "check_path",
    "check_prompt",
    "check_reply",
    "check_selection",
    "is_secret_path",
    "refused_path_reason",
    "secret_glob_match",
]


def check_selection(settings: Settings, selection: str) -> None:
    """Refuse selections larger than the configured caps."""
    if len(selection) > settings.max_selection_chars:
        raise LimitExceeded(
            f"The selection has {len(selection):,} characters; the limit is "
            f"{settings.max_selection_chars:,}. Select less, or raise maxSelectionChars "
            "(M21_MAX_SELECTION_CHARS)."
        )
    lines = selection.count("\n") + 1
    if lines > settings.max_selection_lines:
        raise LimitExceeded(
            f"The selection has {lines:,} lines; the limit is {settings.max_selection_lines:,}. "
            "Select less, or raise maxSelectionLines (M21_MAX_SELECTION_LINES)."
        )


def check_prompt(settings: Settings, estimated_tokens: int) -> None:
    """Refuse prompts whose estimated size is over the cap."""
    if estimated_tokens > settings.max_prompt_tokens:
        raise LimitExceeded(
            f"The prompt would be about {estimated_tokens:,} tokens; the limit is "
            f"{settings.max_prompt_tokens:,}. Select less, lower contextLines, or raise "
            "maxPromptTokens (M21_MAX_PROMPT_TOKENS)."
        )


def _path_of(path_or_uri: str) -> str:
    if "://" in path_or_uri or path_or_uri.startswith(("file:", "untitled:")):
        parts = urlsplit(path_or_uri)
        return unquote(parts.path)
    return path_or_uri


def secret_glob_match(path_or_uri: str | None, globs: Sequence[str]) -> str | None:
    """The glob that ``path_or_uri``'s file name (or path) matches, if any."""
    if not path_or_uri:
        return None
    path = _path_of(path_or_uri)
    name = os.path.basename(path)
    for pattern in globs:
        if fnmatch.fnmatch(name, pattern) or ("/" in pattern and fnmatch.fnmatch(path, pattern)):
            return pattern
    return None


def refused_path_reason(settings: Settings, path_or_uri: str | None) -> str | None:
    """Why this file must never be sent to the model, or None when it may be."""
    pattern = secret_glob_match(path_or_uri, settings.secret_globs)
    if pattern is None:
        return None
    return (
        f"{os.path.basename(_path_of(path_or_uri or ''))} looks like a secrets file (matches "
        f"{pattern!r}), so it is never sent to the model. Change secretGlobs "
        "(M21_SECRET_GLOBS) if this is wrong."
    )


def check_path(settings: Settings, path_or_uri: str | None) -> None:
    reason = refused_path_reason(settings, path_or_uri)
    if reason:
        raise SecretFileRefused(reason)


def is_secret_path(settings: Settings, path_or_uri: str | None) -> bool:
    """True when the file must never be sent (the code actions are not even offered)."""
    return secret_glob_match(path_or_uri, settings.secret_globs) is not None


def check_reply(settings: Settings, chars: int) -> None:
    """Refuse a reply that has grown past ``maxReplyChars`` (the caller stops the stream).

    Called by the model client as the reply streams, so a runaway reply costs no more memory
    than the cap; nothing of it is ever used.
    """
    if chars > settings.max_reply_chars:
        raise LimitExceeded(
            f"The model's reply passed {settings.max_reply_chars:,} characters, so it was "
            "stopped and nothing was changed. Select less, or raise maxReplyChars "
            "(M21_MAX_REPLY_CHARS)."
        )


class ModelCallSlots:
    """At most ``limit`` model calls at a time per server; the rest wait in arrival order.

    Why not ``asyncio.Semaphore``: the limit is a setting that may change while calls are
    waiting, and a waiting caller must be told it is waiting (progress "waiting"), with the
    setting that controls it, instead of looking frozen. A caller cancelled while waiting
    leaves the queue; one cancelled just after being granted a slot passes it on.
    """

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def waiting(self) -> int:
        return sum(1 for fut in self._waiters if not fut.done())

    def set_limit(self, limit: int) -> None:
        """Apply a new ``maxConcurrentRequests``; a raised limit wakes waiters at once."""
        self._limit = max(1, limit)
        self._wake()

    async def acquire(self, on_progress: ProgressCallback | None = None) -> None:
        if self.active < self._limit and not self.waiting:
            self.active += 1
            return
        if on_progress is not None:
            on_progress(
                Progress(
                    "waiting",
                    message=(
                        f"waiting: {self.active} model call(s) already running "
                        f"(maxConcurrentRequests = {self._limit})"
                    ),
                )
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted and cancelled in the same breath: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    def release(self) -> None:
        self.active = max(0, self.active - 1)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self._limit:
            fut = self._waiters.popleft()
            if fut.done():
                continue
            self.active += 1
            fut.set_result(None)

    @contextlib.asynccontextmanager
    async def slot(self, on_progress: ProgressCallback | None = None) -> AsyncIterator[None]:
        await self.acquire(on_progress)
        try:
            yield
        finally:
            self.release()


class _Completer(Protocol):
    async def complete(
        self, messages: list[dict[str, str]], *, on_progress: ProgressCallback | None = None
    ) -> Completion: ...


class GatedClient:
    """A model client whose every call (repair turns included) holds one of the slots.

    The server wraps its one ``ModelClient`` in this so that ``maxConcurrentRequests`` bounds
    the calls in flight however many commands the editor fires.
    """

    def __init__(self, client: _Completer, slots: ModelCallSlots) -> None:
        self.client = client
        self.slots = slots

    async def complete(
        self, messages: list[dict[str, str]], *, on_progress: ProgressCallback | None = None
    ) -> Completion:
        async with self.slots.slot(on_progress):
            return await self.client.complete(messages, on_progress=on_progress)
