"""Work-done progress for long commands, with a fallback for clients that lack it.

Clients that advertise ``window.workDoneProgress`` get server-initiated, cancellable
progress: ``begin`` with the action's title, ``report`` as the reply streams (throttled, but
every phase change goes through so the user sees "thinking…" turn into "writing…"), and
``end`` with the outcome. A cancel from the client calls the ``on_cancel`` callback, which
the command uses to cancel the task holding the HTTP stream.

Clients without it (Emacs eglot, some minimal clients) get one ``window/showMessage`` when
the work starts and one with the outcome, unless the outcome is a failure that the caller
already shows as its own message (so a failure is one message, not two). A command that
was answered at once and works in the background (:mod:`.detach`) shows its outcome as a
message even when it also uses progress (``show_outcome``): nothing else would tell the user
how it ended.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..errors import scrub
from ..model.types import Progress

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

REPORT_INTERVAL = 0.1  # seconds between two reports of the same phase


def client_supports_progress(ls: LanguageServer) -> bool:
    window = ls.client_capabilities.window
    return bool(window and window.work_done_progress)


class WorkProgress:
    """One unit of user-visible work: begin → report* → end, exactly once each way."""

    def __init__(
        self,
        ls: LanguageServer,
        title: str,
        *,
        on_cancel: Callable[[], None] | None = None,
        token: types.ProgressToken | None = None,
        cancellable: bool = True,
        show_outcome: bool = False,
    ) -> None:
        self._ls = ls
        self.show_outcome = show_outcome
        self.title = title
        self._on_cancel = on_cancel
        self._cancellable = cancellable and on_cancel is not None
        # A client-supplied token (``workDoneToken`` in a request) needs no create call.
        self._client_token = token
        self.token: types.ProgressToken | None = token
        self.uses_progress = token is not None or client_supports_progress(ls)
        self._begun = False
        self._ended = False
        self._last_phase = ""
        self._last_time = 0.0
        self.cancelled_by_client = False

    async def begin(self, message: str = "") -> None:
        if self.uses_progress and self.token is None:
            token = f"m21-{uuid.uuid4()}"
            try:
                await self._ls.work_done_progress.create_async(token)
            except Exception as exc:  # the client refused: degrade to messages
                self._log(f"work-done progress refused by the client: {exc}")
                self.uses_progress = False
            else:
                self.token = token
        if self.uses_progress and self.token is not None:
            # begin() registers the cancel future for a client-supplied token; watch after.
            self._ls.work_done_progress.begin(
                self.token,
                types.WorkDoneProgressBegin(
                    title=self.title,
                    message=scrub(message) or None,
                    cancellable=self._cancellable,
                ),
            )
            self._watch_cancel(self.token)
        else:
            self._show(types.MessageType.Info, f"{self.title}: started…")
        self._begun = True

    def _watch_cancel(self, token: types.ProgressToken) -> None:
        future = self._ls.work_done_progress.tokens.get(token)
        if future is None:
            return

        def done(fut: Any) -> None:
            if fut.cancelled() and not self._ended:
                self.cancelled_by_client = True
                if self._on_cancel is not None:
                    self._on_cancel()

        future.add_done_callback(done)

    def report(self, message: str, *, phase: str = "", force: bool = False) -> None:
        """Send a report; same-phase reports are throttled to one per REPORT_INTERVAL."""
        if not self._begun or self._ended or not self.uses_progress or self.token is None:
            return
        now = time.monotonic()
        if not force and phase == self._last_phase and now - self._last_time < REPORT_INTERVAL:
            return
        self._last_phase = phase
        self._last_time = now
        self._ls.work_done_progress.report(
            self.token,
            types.WorkDoneProgressReport(message=scrub(message), cancellable=self._cancellable),
        )

    def on_model_progress(self, progress: Progress) -> None:
        """Callback for the pipeline: describe the model's state in a report.

        The model call's own "done" is skipped: the command still has work to do, and the
        user would read it as the end of everything."""
        if progress.phase != "done":
            self.report(progress.describe(), phase=progress.phase)

    def stop_cancellable(self, message: str) -> None:
        """The model is done: from here on (applying the edit) cancelling makes no sense."""
        self._cancellable = False
        self.report(message, phase="applying", force=True)

    def end(self, message: str, *, failure_shown: bool = False) -> None:
        if not self._begun or self._ended:
            return
        self._ended = True
        text = scrub(message)
        progress = self.uses_progress and self.token is not None
        if progress:
            self._ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=text))
            self._ls.work_done_progress.tokens.pop(self.token, None)
        if (self.show_outcome or not progress) and not failure_shown:
            self._show(types.MessageType.Info, f"{self.title}: {text}")

    def _show(self, kind: types.MessageType, text: str) -> None:
        self._ls.window_show_message(types.ShowMessageParams(type=kind, message=scrub(text)))

    def _log(self, text: str) -> None:
        self._ls.window_log_message(
            types.LogMessageParams(type=types.MessageType.Log, message=scrub(text))
        )
