"""The LSP test client: the real server in a subprocess over stdio, a recording LSP client.

The client (pytest-lsp's, extended) keeps its own copy of every open document, applies
``workspace/applyEdit`` the way an editor does (refusing a stale version when the edit is
versioned), records every raw message the server sends (for the "key never leaks" checks)
and lets tests wait for conditions on what it has received, instead of sleeping.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer
from pygls.protocol import default_converter
from pytest_lsp import client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, LanguageClient, register_lsp_features
from pytest_lsp.protocol import LanguageClientProtocol

from support.positions import apply_lsp_edits, lsp_range

WAIT = 20.0  # safety net for waits on events; never a timing assertion
REPO = Path(__file__).resolve().parents[2]


class RecordingProtocol(LanguageClientProtocol):
    """Records every message as raw JSON (key-leak searches) and answers to raw requests."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        self._server.raw.append(json.dumps(data, ensure_ascii=False))
        if str(data.get("id", "")).startswith("raw-") and "method" not in data:
            self._server.raw_responses[data["id"]] = data
        message = super().structure_message(data)
        self._server.changed()
        return message


def _converter() -> Any:
    """pygls's converter, with lsprotocol's Command-or-CodeAction hook fixed: it takes any
    object with a ``command`` key for a Command, so a CodeAction carrying a command would
    reach the tests as a garbled Command. Real clients tell them apart by the key's type."""
    converter = default_converter()

    def command_or_action(obj: Any, _: type) -> Any:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_action)  # noqa: UP007
    return converter


class Client(LanguageClient):
    """A plain LSP client that knows nothing about m21-lsp, with a memory."""

    wait: float = WAIT  # the default safety net of ``wait_until``

    def __init__(self, converter_factory: Callable[[], Any] = _converter) -> None:
        super().__init__(protocol_cls=RecordingProtocol, converter_factory=converter_factory)
        register_lsp_features(
            self,
            {
                m: f
                for m, f in DEFAULT_CLIENT_FEATURES.items()
                if m != types.WORKSPACE_CONFIGURATION
            },
        )
        self.raw: list[str] = []
        self.raw_responses: dict[str, dict[str, Any]] = {}
        # How much a change raises a document's version (Neovim's is b:changedtick).
        self.version_step = 1
        self.registrations: list[types.Registration] = []
        self.docs: dict[str, tuple[int, str]] = {}
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.created: list[types.CreateFile] = []
        self.apply_mode: str = "apply"  # "apply" | "reject"
        self.encoding = "utf-16"
        self._event = asyncio.Event()

        def register(params: types.RegistrationParams) -> None:
            self.registrations.extend(params.registrations)

        self.feature(types.CLIENT_REGISTER_CAPABILITY)(register)

        # Set ``configuration_gate`` to hold the answers to workspace/configuration until the
        # test sets it (what a slow editor does); ``configuration_asked`` is set on a request.
        self.configuration_gate: asyncio.Event | None = None
        self.configuration_asked = asyncio.Event()

        async def configuration(params: types.ConfigurationParams) -> list[Any]:
            self.configuration_asked.set()
            if self.configuration_gate is not None:
                await self.configuration_gate.wait()
            return [
                self.get_configuration(section=item.section, scope_uri=item.scope_uri)
                for item in params.items
            ]

        self.feature(types.WORKSPACE_CONFIGURATION)(configuration)

        # pygls registers plain functions only; keep the handler sync unless a subclass made
        # ``_apply_edit_request`` async (the reliability driver holds edits there).
        if inspect.iscoroutinefunction(self._apply_edit_request):

            async def apply_edit(params: types.ApplyWorkspaceEditParams) -> Any:
                return await self._apply_edit_request(params)

        else:

            def apply_edit(params: types.ApplyWorkspaceEditParams) -> Any:
                return self._apply_edit_request(params)

        self.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)

    def _apply_edit_request(self, params: types.ApplyWorkspaceEditParams) -> Any:
        """The ``workspace/applyEdit`` handler; a subclass may make it async to hold edits."""
        return self._on_apply_edit(params)

    def changed(self) -> None:
        self._event.set()

    async def wait_until(
        self, predicate: Callable[[], Any], what: str = "condition", *, timeout: float | None = None
    ) -> Any:
        """Wait until ``predicate()`` is truthy, re-checking on every received message."""
        async with asyncio.timeout(self.wait if timeout is None else timeout):
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

    def version(self, uri: str) -> int:
        return self.docs[uri][0]

    def edit(self, uri: str, start: int, end: int, new_text: str) -> None:
        """Replace text[start:end] (string offsets) with an incremental didChange."""
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

    async def sync(self) -> None:
        """A round trip: once it answers, the server has handled everything sent before."""
        await self.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri="untitled:m21-sync"),
                position=types.Position(line=0, character=0),
            )
        )

    # ------------------------------------------------------------------ requests
    async def actions(
        self,
        uri: str,
        start: int,
        end: int | None = None,
        *,
        only: list[str] | None = None,
        diagnostics: Iterable[types.Diagnostic] = (),
    ) -> list[types.CodeAction]:
        text = self.text(uri)
        result = await self.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=lsp_range(text, start, start if end is None else end, self.encoding),
                context=types.CodeActionContext(diagnostics=list(diagnostics), only=only),
            )
        )
        return [a for a in result or [] if isinstance(a, types.CodeAction)]

    async def run(self, action: types.CodeAction) -> dict[str, Any]:
        assert action.command is not None
        return await self.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=action.command.command, arguments=action.command.arguments
            )
        )

    async def hover_at(self, uri: str, offset: int) -> types.Hover | None:
        text = self.text(uri)
        return await self.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=lsp_range(text, offset, offset, self.encoding).start,
            )
        )

    def progress_values(self) -> list[list[Any]]:
        return [list(v) for v in self.progress_reports.values()]

    def ended_progress(self) -> list[list[Any]]:
        return [
            v for v in self.progress_values() if v and isinstance(v[-1], types.WorkDoneProgressEnd)
        ]

    # ------------------------------------------------------------------ applyEdit
    def _on_apply_edit(self, params: types.ApplyWorkspaceEditParams) -> Any:
        self.applied_edits.append(params)
        self.changed()
        if self.apply_mode == "reject":
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="rejected by test")
        edit = params.edit
        changes: list[tuple[str, int | None, list[Any]]] = []
        for doc_edit in edit.document_changes or []:
            if isinstance(doc_edit, types.CreateFile):
                # A client that creates files: an empty buffer, unless it is there already.
                self.created.append(doc_edit)
                if doc_edit.uri not in self.docs:
                    self.docs[doc_edit.uri] = (0, "")
                continue
            assert isinstance(doc_edit, types.TextDocumentEdit)
            changes.append(
                (doc_edit.text_document.uri, doc_edit.text_document.version, doc_edit.edits)
            )
        for uri, text_edits in (edit.changes or {}).items():
            changes.append((uri, None, list(text_edits)))
        for uri, version, text_edits in changes:
            current_version, text = self.docs[uri]
            if version is not None and version != current_version:
                return types.ApplyWorkspaceEditResult(
                    applied=False,
                    failure_reason=f"version {version} is not the current {current_version}",
                )
            new_text = apply_lsp_edits(text, text_edits, self.encoding)
            self.docs[uri] = (current_version + 1, new_text)
            if uri in {c.uri for c in self.created} and current_version == 0:
                continue  # a file this client created, not opened: the server is not told
            self.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=uri, version=current_version + 1
                    ),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
                )
            )
        return types.ApplyWorkspaceEditResult(applied=True)

    # ------------------------------------------------------------------ inspection
    def errors_shown(self) -> list[str]:
        return [m.message for m in self.messages if m.type == types.MessageType.Error]

    def shown(self, *kinds: types.MessageType) -> list[str]:
        """The messages shown (``window/showMessage``), of the given kinds or all."""
        return [m.message for m in self.messages if not kinds or m.type in kinds]


def server_env(
    model_server: ScriptedModelServer | None, key: str | None, **extra: str
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("M21_") and k not in ("AIMLAPI_KEY", "PYTHONWARNINGS")
    }
    env["PYTHONPATH"] = str(REPO / "server") + os.pathsep + env.get("PYTHONPATH", "")
    env["M21_FIXTURES_DIR"] = str(REPO / "fixtures")
    if model_server is not None:
        env["M21_BASE_URL"] = model_server.base_url
    if key:
        env["M21_API_KEY"] = key
    env.update(extra)
    return env


def capabilities(name: str = "visual-studio-code", **changes: Any) -> types.ClientCapabilities:
    """A real client's captured capabilities, optionally edited (``window=None``…)."""
    caps = copy.deepcopy(client_capabilities(name))
    for path, value in changes.items():
        target: Any = caps
        *parents, last = path.split("__")
        for part in parents:
            target = getattr(target, part)
        setattr(target, last, value)
    return caps


def find(text: str, needle: str, nth: int = 0) -> int:
    pos = -1
    for _ in range(nth + 1):
        pos = text.index(needle, pos + 1)
    return pos


NEW_TOTAL = '''def total_price(items, tax_rate):
    """Sum price * qty over items with a positive quantity, then add tax."""
    subtotal = sum(item["price"] * item["qty"] for item in items if item["qty"] > 0)
    return round(subtotal * (1 + tax_rate), 2)
'''


def refactored(sample: str) -> str:
    """sample_basic.py after the refactor_basic reply replaced total_price."""
    start = find(sample, "def total_price")
    end = find(sample, "\n\n\ndef format_tag") + 1
    return sample[:start] + NEW_TOTAL + sample[end:]


async def refactor_action(client: Client, uri: str, offset: int) -> types.CodeAction:
    actions = await client.actions(uri, offset, only=["refactor.rewrite"])
    assert len(actions) == 1
    return actions[0]
