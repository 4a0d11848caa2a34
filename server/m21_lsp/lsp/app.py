"""The language server object: pygls's server plus the state m21-lsp keeps between messages.

Five deliberate departures from pygls's defaults live here, four in the protocol subclass:

* ``$/cancelRequest`` for ``workspace/executeCommand``: pygls answers it with
  RequestCancelled but does not stop the coroutine running the command (the command runs
  under a different internal id). Commands register a hook under the request's id, and the
  hook cancels the task that holds the HTTP stream.
* incremental ``didChange`` is applied with :class:`m21_lsp.text.positions.LineIndex`, whose
  line breaks are exactly LSP's (``\\n``, ``\\r\\n``, ``\\r``). pygls splits lines with
  ``str.splitlines``, which also breaks at form feeds and U+2028, so a change after such a
  character would land in the wrong place and every later edit would be computed on a
  document the editor does not have.
* a request whose params fail validation is answered with InvalidParams (pygls drops it,
  and the client waits for an answer that never comes);
* ``shutdown`` while a command is still running is answered (pygls's own handler raises);

and, in :meth:`M21Server.start_io`, stdin read by the event loop when it is a pipe
(:mod:`.stdio`), instead of three thread hand-overs per message.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator
from typing import Any, BinaryIO
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification
from pygls.protocol.language_server import lsp_method

from .. import __version__
from ..config import Settings
from ..errors import scrub
from ..text.positions import LineIndex
from . import stdio
from .client_pool import ClientPool
from .documents import Documents
from .hover_cache import HoverCache
from .settings import SettingsLayers

MsgId = int | str
logger = logging.getLogger(__name__)


class M21Protocol(LanguageServerProtocol):
    _server: M21Server

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cancel_hooks: dict[MsgId, Callable[[], None]] = {}
        self._cancelled: OrderedDict[MsgId, None] = OrderedDict()

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Answer a request whose params do not validate instead of dropping it.

        pygls raises here (e.g. a negative line number), its reader loop logs the error and
        the client waits forever for an answer. The specification wants an InvalidParams
        error response; the request itself is then ignored.
        """
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if data.get("jsonrpc") != "2.0" or "id" not in data or "method" not in data:
                raise
            error = JsonRpcInvalidParams(
                f"Invalid params for {data['method']!r}: {scrub(str(exc.__cause__ or exc))}"
            )
            self._send_response(data["id"], error=error.to_response_error())
            return JsonRPCNotification(method="$/m21/invalidRequest", jsonrpc="2.0", params=None)

    def was_cancelled(self, msg_id: MsgId | None) -> bool:
        return msg_id is not None and msg_id in self._cancelled

    def _handle_cancel_notification(self, msg_id: MsgId) -> None:
        self._cancelled[msg_id] = None
        while len(self._cancelled) > 1000:
            self._cancelled.popitem(last=False)
        super()._handle_cancel_notification(msg_id)
        hook = self.cancel_hooks.pop(msg_id, None)
        if hook is not None:
            hook()

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        """pygls's shutdown, minus its crash: it cancels the other pending requests while
        iterating over their dict, and cancelling a command's future removes it from that
        dict at once ("dictionary changed size during iteration"). The client then gets an
        error instead of the shutdown answer, and a client that waits for that answer
        before sending ``exit`` waits for ever (it hung the Neovim soak run)."""
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current_id = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current_id and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        workspace = self.workspace
        key = unquote(params.text_document.uri)
        doc = workspace.text_documents.get(key)
        if doc is not None:
            encoding = Documents.encoding(workspace)
            documents = self._server.documents
            # The index of the text before the change (usually built by the code action
            # requests the editor sends as the cursor moves, or by the last change) gives
            # the offsets, and each change derives the next index from it.
            index = documents.index_for_change(workspace, params.text_document.uri, doc.source)
            for change in params.content_changes:
                if isinstance(change, types.TextDocumentContentChangePartial):
                    rng = change.range
                    a = index.offset_at(rng.start.line, rng.start.character, encoding)
                    b = index.offset_at(rng.end.line, rng.end.character, encoding)
                    if a > b:
                        a, b = b, a
                    index = index.replaced(a, b, change.text)
                else:
                    index = LineIndex(change.text)
            text = index.text
            documents.changed_to(params.text_document.uri, index)
            workspace.put_text_document(
                types.TextDocumentItem(
                    uri=doc.uri,
                    language_id=doc.language_id or "",
                    version=params.text_document.version,
                    text=text,
                )
            )
        self._server.documents.changed(params.text_document.uri)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None


class M21Server(LanguageServer):
    """pygls's LanguageServer plus settings, document snapshots, hover cache and clients."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        super().__init__("m21-lsp", __version__, protocol_cls=M21Protocol)
        self.layers = SettingsLayers(environ)
        self.documents = Documents()
        self.hover_cache = HoverCache()
        self.clients = ClientPool()
        self._settings_ready: asyncio.Event | None = None
        self.shut_down = False
        # From initialize: which client this is (Neovim applies edits it does not advertise).
        self.client_info: types.ClientInfo | None = None
        # From initialize: the client opted in to ``m21/preview`` (lsp/preview.py).
        self.preview_enabled = False
        # Commands in flight (for diagnostics and the soak test's leak check).
        self.running: set[asyncio.Task[Any]] = set()
        # Commands answered at once that still work in the background (see .detach).
        self.detached: set[asyncio.Task[Any]] = set()

    protocol: M21Protocol

    @property
    def settings(self) -> Settings:
        return self.layers.current

    @property
    def settings_ready(self) -> asyncio.Event:
        """Set once the client's configuration has been asked for (or cannot be)."""
        if self._settings_ready is None:
            self._settings_ready = asyncio.Event()
        return self._settings_ready

    async def wait_for_settings(self, timeout: float = 5.0) -> None:
        """Commands wait briefly for ``workspace/configuration`` so the first one after
        start-up does not run with settings the user has overridden."""
        try:
            await asyncio.wait_for(self.settings_ready.wait(), timeout)
        except asyncio.TimeoutError:
            self.log("workspace/configuration did not answer in time; using known settings")
            self.settings_ready.set()

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """pygls's stdio server, except that a pipe is read by the event loop itself
        (:mod:`.stdio`: no thread hand-over per message); anything else, pygls's way."""
        stdin = stdin or sys.stdin.buffer
        stdout = stdout or sys.stdout.buffer
        if not stdio.reads_as_pipe(stdin, stdout):
            super().start_io(stdin, stdout)
            return
        stop = self._stop_event = threading.Event()  # what pygls's shutdown() sets
        self.protocol.set_writer(StdoutWriter(stdout))

        async def serve() -> None:
            reader = await stdio.PipeReader.open(stdin)
            await run_async(
                stop_event=stop,
                reader=reader,
                protocol=self.protocol,
                logger=logger,
                error_handler=self.report_server_error,
            )

        try:
            asyncio.run(serve())
        except BrokenPipeError:
            logger.error("Connection to the client is lost! Shutting down the server.")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    # ---------------------------------------------------------------- messages
    def log(self, text: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=scrub(text)))

    def show(self, text: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=scrub(text)))

    def report_problems(self) -> None:
        problems = self.layers.problems()
        if problems:
            self.show("m21-lsp settings: " + "; ".join(problems), types.MessageType.Warning)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls shows unexpected errors to the user; make sure no secret rides along."""
        from pygls.exceptions import FeatureRequestError

        if source == FeatureRequestError:
            return
        self.show(f"m21-lsp internal error: {error}", types.MessageType.Error)
