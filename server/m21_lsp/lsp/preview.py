"""``m21/preview``: the work as it arrives, for clients that ask for it (``docs/preview.md``).

One :class:`LivePreview` per command. The model client reports every streamed chunk; this
module turns the latest report into a full snapshot (markdown for Explain, the code being
written for Refactor) and sends it at most every :data:`INTERVAL` seconds, with a flush of
the last snapshot when the interval runs out, so the final text of a burst is never lost.
Then exactly one of ``done`` (the model finished: the final text) or ``cleared`` (cancel,
failure, nothing to change) ends it. The server never sends a delta: a client that drops
a notification still shows the right text on the next one.

A client that did not opt in (``capabilities.experimental.m21Preview`` or
``initializationOptions.preview``) gets a :class:`LivePreview` that does nothing, so plain
LSP clients see no new message at all.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from lsprotocol import types

from ..model.types import Progress

if TYPE_CHECKING:
    from .app import M21Server
    from .documents import Snapshot

__all__ = [
    "INTERVAL",
    "METHOD",
    "LivePreview",
    "client_wants_preview",
    "start",
    "strip_preview_option",
]

METHOD = "m21/preview"
INTERVAL = 0.1  # seconds between two snapshots of one command: ~10 per second at most
Kind = Literal["refactor", "explain"]
State = Literal["streaming", "done", "cleared"]

log = logging.getLogger(__name__)
_ids = itertools.count(1)


def client_wants_preview(params: types.InitializeParams) -> bool:
    """Opt-in: ``capabilities.experimental.m21Preview`` or ``initializationOptions.preview``
    (the second for clients whose capabilities a plugin cannot extend), each exactly true."""
    experimental = params.capabilities.experimental if params.capabilities else None
    if isinstance(experimental, Mapping) and experimental.get("m21Preview") is True:
        return True
    options = params.initialization_options
    return isinstance(options, Mapping) and options.get("preview") is True


def strip_preview_option(options: Any) -> Any:
    """``initializationOptions`` without ``preview``: it is a capability, not a setting, and
    the settings layer would report it as an unknown setting."""
    if isinstance(options, Mapping) and "preview" in options:
        return {k: v for k, v in options.items() if k != "preview"}
    return options


def start(ls: M21Server, kind: Kind, snap: Snapshot, start: int, end: int) -> LivePreview:
    """The live preview of a command on ``snap.text[start:end]`` (inert unless opted in)."""
    if not ls.preview_enabled:
        return LivePreview(None, kind, snap.uri, _NO_RANGE, _nothing)
    from .documents import Documents

    lsp_range = snap.range(start, end, Documents.encoding(ls.workspace))
    if kind == "explain":
        return LivePreview(ls, kind, snap.uri, lsp_range, _markdown)
    selection = snap.text[start:end]

    def code(visible: str) -> str | None:
        from ..pipeline.preview import refactor_preview

        return refactor_preview(visible, selection)

    return LivePreview(ls, kind, snap.uri, lsp_range, code)


def _markdown(visible: str) -> str | None:
    return visible if visible.strip() else None


def _nothing(visible: str) -> str | None:
    return None


_NO_RANGE = types.Range(
    start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
)


def _range_json(rng: types.Range) -> dict[str, dict[str, int]]:
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


class LivePreview:
    """The snapshots of one command; ``render`` turns the visible reply into what is shown
    (None: nothing to show yet)."""

    def __init__(
        self,
        ls: M21Server | None,
        kind: Kind,
        uri: str,
        lsp_range: types.Range,
        render: Callable[[str], str | None],
        *,
        interval: float = INTERVAL,
    ) -> None:
        self._ls = ls if ls is not None and ls.preview_enabled else None
        self.id = f"m21-preview-{next(_ids)}"
        self.kind = kind
        self.uri = uri
        self.range = lsp_range
        self._render = render
        self._interval = interval
        self._latest: Progress | None = None
        self._last_sent = float("-inf")
        self._last_text: str | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._ended = False
        self.sent = 0

    @property
    def active(self) -> bool:
        return self._ls is not None and not self._ended

    def on_progress(self, progress: Progress) -> None:
        """Model progress callback: keep the newest "writing" report, send when due."""
        if not self.active or progress.phase != "writing":
            return
        self._latest = progress
        if self._flush is not None:
            return  # a flush is already due and will read this report
        wait = self._last_sent + self._interval - time.monotonic()
        if wait <= 0:
            self._send_latest()
        else:
            self._flush = asyncio.get_running_loop().call_later(wait, self._flushed)

    def _flushed(self) -> None:
        self._flush = None
        if self.active:
            self._send_latest()

    def _send_latest(self) -> None:
        latest, self._latest = self._latest, None
        if latest is None:
            return
        text = self._render(latest.text)
        if text is None or text == self._last_text:
            return
        self._last_sent = time.monotonic()
        self._send(text, "streaming")

    def done(self, text: str) -> None:
        """The model finished: the final text (the checked code, the whole explanation)."""
        if self.active:
            self._end()
            self._send(text, "done")

    def clear(self) -> None:
        """Cancel, failure or nothing to change: the client drops what it shows. Sent even
        when no snapshot was, so every command a client opted in for ends in one state."""
        if self.active:
            self._end()
            self._send("", "cleared")

    def _end(self) -> None:
        self._ended = True
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def _send(self, text: str, state: State) -> None:
        assert self._ls is not None
        self._last_text = text
        self.sent += 1
        params = {
            "id": self.id,
            "kind": self.kind,
            "uri": self.uri,
            "range": _range_json(self.range),
            "text": text,
            "state": state,
        }
        try:
            self._ls.protocol.notify(METHOD, params)
        except Exception:  # the client went away: the command's outcome still stands
            log.exception("m21/preview could not be sent")
