"""A plain LSP client that drives the real server over stdio, for reliability and security.

It plays the editor: keeps its own copy of every open document, applies
``workspace/applyEdit`` the way VS Code does (refusing an edit for a version it no longer
has), records every message the server sends (raw JSON, for key-leak searches) and the
server's stderr, and lets tests wait on conditions instead of sleeping.

Independent of ``tests/lsp``'s harness on purpose: the soak test needs its own bookkeeping
(which command produced which edit), and a second, separately written client catches
protocol assumptions that one client alone would share with the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import client_capabilities
from pytest_lsp.client import LanguageClient, register_lsp_features
from pytest_lsp.protocol import LanguageClientProtocol

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WAIT = 60.0  # a safety net for waits on conditions, never a timing assertion


class RecordingProtocol(LanguageClientProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        self._server.raw.append(json.dumps(data, ensure_ascii=False))
        if str(data.get("id", "")).startswith("raw-") and "method" not in data:
            self._server.raw_responses[data["id"]] = data
        message = super().structure_message(data)
        self._server.changed()
        return message


class Driver(LanguageClient):
    def __init__(self) -> None:
        super().__init__(protocol_cls=RecordingProtocol, converter_factory=default_converter)
        register_lsp_features(self)
        self.raw: list[str] = []
        self.raw_responses: dict[str, dict[str, Any]] = {}
        self.stderr = bytearray()
        self.docs: dict[str, tuple[int, str]] = {}
        self.encoding = "utf-16"
        self.apply_log: list[tuple[types.ApplyWorkspaceEditParams, bool]] = []
        self.on_applied: Callable[[str, list[Any]], None] | None = None
        # A test may hold an applyEdit before it is applied (to line up a race).
        self.before_apply: Callable[[types.ApplyWorkspaceEditParams], Awaitable[None]] | None = None
        # "vscode": refuse an edit for a version it no longer has. "neovim": what Neovim's
        # own handler does (runtime/lua/vim/lsp/util.lua, 0.7 to 0.12): skip the first
        # TextDocumentEdit when the buffer is newer (never for version 0), apply plain
        # changes wherever they point, and answer applied in every case.
        self.apply_like = "vscode"
        self.skipped_edits = 0
        # How much a change raises a document's version (Neovim's is b:changedtick).
        self.version_step = 1
        self._event = asyncio.Event()
        self._stderr_task: asyncio.Task[None] | None = None

        async def apply_edit(params: types.ApplyWorkspaceEditParams) -> Any:
            if self.before_apply is not None:
                await self.before_apply(params)
            return self._on_apply_edit(params)

        self.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)

        def register_capability(params: types.RegistrationParams) -> None:
            self.registrations.extend(params.registrations)

        self.registrations: list[types.Registration] = []
        self.feature(types.CLIENT_REGISTER_CAPABILITY)(register_capability)

    # ------------------------------------------------------------------ process
    async def start_io(self, cmd: str, *args: Any, **kwargs: Any) -> None:
        await super().start_io(cmd, *args, **kwargs)
        # Keep the server's stderr (to search it for the key) instead of forwarding it.
        if self._stderr_forwarder is not None:
            self._stderr_forwarder.cancel()
        self._stderr_task = asyncio.create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self._server is not None and self._server.stderr is not None
        while chunk := await self._server.stderr.read(65536):
            self.stderr.extend(chunk)

    async def stop(self) -> Any:
        result = await super().stop()
        if self._stderr_task is not None:
            try:
                async with asyncio.timeout(10):
                    await self._stderr_task
            except (TimeoutError, asyncio.CancelledError):
                self._stderr_task.cancel()
        return result

    @property
    def pid(self) -> int:
        assert self._server is not None
        return self._server.pid

    @property
    def alive(self) -> bool:
        return self._server is not None and self._server.returncode is None

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) if match else 0

    def all_output(self) -> str:
        """Everything the server said: every message received, and its stderr."""
        return "\n".join(self.raw) + "\n" + self.stderr.decode("utf-8", "replace")

    # ------------------------------------------------------------------ waiting
    def changed(self) -> None:
        self._event.set()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = WAIT) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                value = predicate()
                if value:
                    return value
                self._event.clear()
                await self._event.wait()

    # ------------------------------------------------------------------ documents
    def open(self, uri: str, text: str, language_id: str = "python", version: int = 1) -> None:
        self.docs[uri] = (version, text)
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=version, text=text
                )
            )
        )

    def close(self, uri: str) -> None:
        self.docs.pop(uri, None)
        self.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    def text(self, uri: str) -> str:
        return self.docs[uri][1]

    def doc_version(self, uri: str) -> int:
        return self.docs[uri][0]

    def edit(self, uri: str, start: int, end: int, new_text: str) -> None:
        """Replace ``text[start:end]`` (string offsets) with an incremental didChange."""
        version, text = self.docs[uri]
        rng = lsp_range(text, start, end, self.encoding)
        version += self.version_step
        self.docs[uri] = (version, text[:start] + new_text + text[end:])
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new_text)],
            )
        )

    def range_of(self, uri: str, start: int, end: int) -> dict[str, Any]:
        rng = lsp_range(self.text(uri), start, end, self.encoding)
        return {
            "start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character},
        }

    # ------------------------------------------------------------------ requests
    def execute(
        self, command: str, arguments: list[Any] | None, msg_id: str | None = None
    ) -> asyncio.Future[Any]:
        """Send ``workspace/executeCommand`` and return the pending answer."""
        return asyncio.ensure_future(
            self.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND,
                types.ExecuteCommandParams(command=command, arguments=arguments),
                msg_id=msg_id,
            )
        )

    async def raw_request(self, method: str, params: Any, *, timeout: float = WAIT) -> Any:
        """Send a request as raw JSON, bypassing the client's own validation of params
        (negative positions, wrong types): what a buggy or hostile client would send.
        Returns the raw JSON result; a JSON-RPC error raises ``JsonRpcException``."""
        msg_id = f"raw-{uuid.uuid4()}"
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.protocol._request_futures[msg_id] = future
        self.protocol._send_data(
            {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
        )
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wrap_future(future)
        except TimeoutError:
            self.protocol._request_futures.pop(msg_id, None)
            raise AssertionError(
                f"no answer to {method} within {timeout:g} s: {params!r:.300}"
            ) from None
        return plain(self.raw_responses.pop(msg_id).get("result"))

    def raw_notify(self, method: str, params: Any) -> None:
        self.protocol._send_data({"jsonrpc": "2.0", "method": method, "params": params})

    async def code_actions(self, uri: str, start: int, end: int) -> list[Any]:
        """The actions offered (lsprotocol may structure them as Command or CodeAction)."""
        result = await self.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=lsp_range(self.text(uri), start, end, self.encoding),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        return list(result or [])

    async def responsive(self) -> bool:
        """A round trip that any healthy server answers (hover on an unknown document)."""
        async with asyncio.timeout(WAIT):
            await self.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri="untitled:m21-ping"),
                    position=types.Position(line=0, character=0),
                )
            )
        return True

    def active_progress_tokens(self) -> list[types.ProgressToken]:
        out = []
        for token, values in self.progress_reports.items():
            if values and isinstance(values[0], types.WorkDoneProgressBegin):
                if not isinstance(values[-1], types.WorkDoneProgressEnd):
                    out.append(token)
        return out

    def shown(self, *kinds: types.MessageType) -> list[str]:
        return [m.message for m in self.messages if not kinds or m.type in kinds]

    # ------------------------------------------------------------------ applyEdit
    def _on_apply_edit(self, params: types.ApplyWorkspaceEditParams) -> Any:
        if self.apply_like == "neovim":
            return self._apply_like_neovim(params)
        changes: list[tuple[str, int | None, list[Any]]] = []
        for doc_edit in params.edit.document_changes or []:
            assert isinstance(doc_edit, types.TextDocumentEdit)
            changes.append(
                (doc_edit.text_document.uri, doc_edit.text_document.version, doc_edit.edits)
            )
        for uri, edits in (params.edit.changes or {}).items():
            changes.append((uri, None, list(edits)))
        for uri, version, _ in changes:
            if uri not in self.docs:
                self.apply_log.append((params, False))
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="not open")
            if version is not None and version != self.docs[uri][0]:
                self.apply_log.append((params, False))
                self.changed()
                return types.ApplyWorkspaceEditResult(
                    applied=False,
                    failure_reason=f"version {version} is not the current {self.docs[uri][0]}",
                )
        for uri, _version, edits in changes:
            self._apply_to(uri, edits)
        self.apply_log.append((params, True))
        self.changed()
        return types.ApplyWorkspaceEditResult(applied=True)

    def _apply_like_neovim(self, params: types.ApplyWorkspaceEditParams) -> Any:
        targets: list[tuple[str, list[Any]]] = []
        if params.edit.document_changes:
            for index, doc_edit in enumerate(params.edit.document_changes):
                assert isinstance(doc_edit, types.TextDocumentEdit)
                uri, version = doc_edit.text_document.uri, doc_edit.text_document.version
                if index == 0 and version and version > 0 and self.docs[uri][0] > version:
                    self.skipped_edits += 1  # "Buffer … newer than edits."
                    continue
                targets.append((uri, list(doc_edit.edits)))
        else:
            targets = [(uri, list(edits)) for uri, edits in (params.edit.changes or {}).items()]
        for uri, edits in targets:
            self._apply_to(uri, edits)
        self.apply_log.append((params, True))
        self.changed()
        return types.ApplyWorkspaceEditResult(applied=True)

    def _apply_to(self, uri: str, edits: list[Any]) -> None:
        version, text = self.docs[uri]
        new_text = apply_lsp_edits(text, edits, self.encoding)
        version += self.version_step
        self.docs[uri] = (version, new_text)
        if self.on_applied is not None:
            self.on_applied(uri, edits)
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
            )
        )


def plain(value: Any) -> Any:
    """pygls turns JSON objects into named tuples while parsing: turn them back."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


# ---------------------------------------------------------------------- positions (client side)
def _units(text: str, encoding: str) -> int:
    if encoding == "utf-32":
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]


def lsp_position(text: str, offset: int, encoding: str) -> types.Position:
    starts = _line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= offset)
    return types.Position(line=line, character=_units(text[starts[line] : offset], encoding))


def lsp_range(text: str, start: int, end: int, encoding: str) -> types.Range:
    return types.Range(
        start=lsp_position(text, start, encoding), end=lsp_position(text, end, encoding)
    )


def lsp_offset(text: str, position: types.Position, encoding: str) -> int:
    starts = _line_starts(text)
    if position.line >= len(starts):
        return len(text)
    start = starts[position.line]
    stop = starts[position.line + 1] if position.line + 1 < len(starts) else len(text)
    content = text[start:stop].rstrip("\r\n")
    for i in range(len(content) + 1):
        if _units(content[:i], encoding) >= position.character:
            return start + i
    return start + len(content)


def apply_lsp_edits(text: str, edits: list[Any], encoding: str) -> str:
    resolved = [
        (lsp_offset(text, e.range.start, encoding), lsp_offset(text, e.range.end, encoding), e)
        for e in edits
    ]
    for start, end, edit in sorted(resolved, key=lambda r: (r[0], r[1]), reverse=True):
        text = text[:start] + edit.new_text + text[end:]
    return text


# ---------------------------------------------------------------------- starting
def server_env(base_url: str | None, key: str | None, **extra: str) -> dict[str, str]:
    """A clean environment: no M21_* or key from the developer's shell leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("M21_") and k not in ("AIMLAPI_KEY", "PYTHONWARNINGS")
    }
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "server"), str(HERE), env.get("PYTHONPATH", "")]
    )
    if base_url is not None:
        env["M21_BASE_URL"] = base_url
    if key:
        env["M21_API_KEY"] = key
    env.update(extra)
    return env


async def start_driver(
    env: dict[str, str],
    *,
    caps: types.ClientCapabilities | None = None,
    init: Any = None,
    config: Any = None,
    debug: bool = False,
    client_info: types.ClientInfo | None = None,
) -> Driver:
    """Start the real server (``python -m m21_lsp.lsp``; with ``debug`` the same server plus
    a read-only ``m21.debug.state`` command, see debug_server.py) and initialize it."""
    driver = Driver()
    driver.init_caps = caps or client_capabilities("visual-studio-code")  # type: ignore[attr-defined]
    if config is not None:
        driver.set_configuration(config)
    module = "debug_server" if debug else "m21_lsp.lsp"
    await driver.start_io(sys.executable, "-m", module, env=env)
    result = await driver.initialize_session(
        types.InitializeParams(
            capabilities=driver.init_caps,  # type: ignore[attr-defined]
            initialization_options=init,
            client_info=client_info,
            root_uri="file:///soak",
        )
    )
    driver.encoding = str(result.capabilities.position_encoding or "utf-16")
    driver.init_result = result  # type: ignore[attr-defined]
    return driver


async def stop_driver(driver: Driver, timeout: float = 20.0) -> str | None:
    """Shut the server down, every step bounded: a server still running ``timeout`` seconds
    after ``exit`` is killed (pygls's ``stop()`` waits for the process without a bound, and
    pytest-lsp's ``shutdown_session`` sends no ``exit`` once the client saw an error or when
    ``shutdown`` is not answered, which left runs hanging). Returns None when the server
    exited by itself, else what went wrong."""
    problem: str | None = None
    process = driver._server
    if driver.alive:
        try:
            async with asyncio.timeout(timeout):
                await driver.shutdown_async(None)
        except Exception as exc:
            problem = f"shutdown not answered ({type(exc).__name__}: {exc})"
        driver.exit(None)
    if process is not None and process.returncode is None:
        try:
            async with asyncio.timeout(timeout):
                await process.wait()
        except TimeoutError:
            problem = (
                problem + "; " if problem else ""
            ) + f"still running {timeout:g} s after exit"
            process.kill()
    async with asyncio.timeout(timeout):
        await driver.stop()
    return problem
