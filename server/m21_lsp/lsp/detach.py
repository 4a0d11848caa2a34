"""Which clients get a command's answer at once, while the work goes on in the background.

A refactor or an explanation lasts as long as the model: M2.1 thinks first, often for more
than 10 s, and a minute is not unusual. Two of the editors the README names give up on a
request long before that:

* **Emacs eglot** runs ``workspace/executeCommand`` as a *synchronous* request: Emacs reacts
  to nothing until the answer comes, and after ``jsonrpc-default-request-timeout`` (10 s)
  it gives up with ``jsonrpc-error … "Timed out"``. Eglot 1.9 (Debian's) sends no
  ``clientInfo`` and no ``window`` capabilities; later releases send ``clientInfo.name``
  ``"Eglot"`` and declare ``window.workDoneProgress`` but still wait synchronously.
* **Helix** times out every request after its ``timeout`` (20 s by default) and sends
  ``clientInfo.name`` ``"helix"``.

The rule (also in docs/editors.md): a client gets the answer at once when

1. its ``clientInfo.name`` names Eglot or Helix (any case, any version), or
2. it does not declare ``window.workDoneProgress``: nothing would show that a long request
   is still alive, and such clients (eglot 1.9, minimal clients) are the ones that wait
   with a timeout.

That answer is the usual result with ``kind: "started"`` (``applied`` false). The work then
goes on in the background: its start is a ``window/showMessage`` (or work-done progress when
the client declares it), its edit arrives by ``workspace/applyEdit``, and its outcome —
applied, unchanged, refused, failed — is always a ``window/showMessage`` with the words a
waiting client would have found in the result (and the whole result is in the log). Every
other client (VS Code, Neovim, anything that shows progress and waits patiently) gets the
answer when the work is over, with the full result, exactly as before. A background run
cannot be cancelled by ``$/cancelRequest`` (its request is answered); it can be cancelled
through its progress when the client shows progress, and ends when the server shuts down.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from .progress import client_supports_progress

if TYPE_CHECKING:
    from .app import M21Server

# Clients known to wait for executeCommand with a short timeout, matched as a word of
# clientInfo.name ("Eglot", "helix"; pytest-lsp's capture of eglot says "Emacs (eglot)").
IMPATIENT_CLIENTS = re.compile(r"\b(eglot|helix)\b", re.IGNORECASE)


def impatient_client(info: types.ClientInfo | None) -> bool:
    """True when ``clientInfo`` names a client that gives up on a long request."""
    return info is not None and bool(IMPATIENT_CLIENTS.search(info.name or ""))


def answers_at_once(ls: M21Server) -> bool:
    """Whether this client's commands are answered at once and run in the background."""
    return impatient_client(ls.client_info) or not client_supports_progress(ls)


def keep(ls: M21Server, task: asyncio.Task[Any]) -> None:
    """Track a background run until it ends: shutdown cancels it, the soak counts it, and
    an exception that escaped its outcome mapping is logged rather than lost."""
    ls.detached.add(task)
    ls.running.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        ls.detached.discard(t)
        ls.running.discard(t)
        if not t.cancelled() and t.exception() is not None:
            ls.log(f"background command ended with {type(t.exception()).__name__}")

    task.add_done_callback(done)


def cancel_all(ls: M21Server) -> None:
    """Shutdown: stop every background run (their model calls close their streams)."""
    for task in list(ls.detached):
        task.cancel()
