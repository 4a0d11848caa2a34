"""The reliability and security tests' client: ``support.lsp_client.Client`` plus a few extras.

The shared client already plays the editor (its own copy of every open document, versioned
``workspace/applyEdit``, every raw message recorded, waits on conditions instead of sleeps).
On top of it the soak, fuzz and race tests need the server's stderr (for key-leak searches
and memory), a hold on ``applyEdit`` to line up races, which command produced which edit,
Neovim's way of applying edits, and raw JSON requests that bypass lsprotocol's validation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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
from support.lsp_client import Client
from support.positions import apply_lsp_edits, lsp_range

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WAIT = 60.0  # a safety net for waits on conditions, never a timing assertion


class Driver(Client):
    """The shared test client, plus what the soak and fuzz tests need on top: the server's
    stderr, a hold on ``applyEdit``, a Neovim-style edit application and raw requests."""

    wait = WAIT

    def __init__(self) -> None:
        # pygls's own converter: the reliability tests take the actions as the server's
        # lsprotocol types structure them, Command or CodeAction.
        super().__init__(converter_factory=default_converter)
        self.stderr = bytearray()
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
        self._stderr_task: asyncio.Task[None] | None = None

    async def _apply_edit_request(self, params: types.ApplyWorkspaceEditParams) -> Any:
        if self.before_apply is not None:
            await self.before_apply(params)
        return self._on_apply_edit(params)

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

    # ------------------------------------------------------------------ documents
    def doc_version(self, uri: str) -> int:
        # Not ``self.version(uri)``: pygls's client keeps its own version string there.
        return self.docs[uri][0]

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
