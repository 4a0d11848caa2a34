"""Edits for Neovim without the m21 plugin: versioned although not advertised, and never
reported as applied when Neovim skipped them.

The client here applies ``workspace/applyEdit`` exactly as Neovim's runtime does
(``vim/lsp/util.lua`` of 0.7.2 and 0.12): ``documentChanges`` are applied although they
are not advertised, the first ``TextDocumentEdit`` is skipped when the buffer's version is
newer than the edit's (and version 0 is never checked), plain ``changes`` are applied
wherever their positions point, and the answer is ``applied: true`` in every case.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from support.lsp_client import (
    REPO,
    WAIT,
    Client,
    capabilities,
    find,
    refactor_action,
    refactored,
    server_env,
)
from support.positions import apply_lsp_edits

URI = "file:///work/shop.py"
USER_LINE = "# typed while the edit was on its way\n"


class NeovimClient(Client):
    """Neovim's own applyEdit handler (no plugin), with a hook to type before it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.before_apply: Callable[[], None] | None = None
        self.skipped: list[int | None] = []
        self.apply_mode = "neovim"

    def _on_apply_edit(self, params: types.ApplyWorkspaceEditParams) -> Any:
        self.applied_edits.append(params)
        if self.before_apply is not None:
            self.before_apply()
        edit = params.edit
        for index, doc_edit in enumerate(edit.document_changes or []):
            assert isinstance(doc_edit, types.TextDocumentEdit)
            uri, version = doc_edit.text_document.uri, doc_edit.text_document.version
            current, _text = self.docs[uri]
            if index == 0 and version and version > 0 and current > version:
                self.skipped.append(version)  # print("Buffer ", uri, " newer than edits.")
                continue
            self._apply(uri, list(doc_edit.edits))
        if not edit.document_changes:
            for uri, text_edits in (edit.changes or {}).items():
                self._apply(uri, list(text_edits))
        self.changed()
        return types.ApplyWorkspaceEditResult(applied=True)

    def edit(self, uri: str, start: int, end: int, new_text: str) -> None:
        """Typing: Neovim's version is b:changedtick, at least 2 after any change."""
        version, text = self.docs[uri]
        self.docs[uri] = (version + 1, text)
        super().edit(uri, start, end, new_text)

    def _apply(self, uri: str, text_edits: list[Any]) -> None:
        version, text = self.docs[uri]
        new_text = apply_lsp_edits(text, text_edits, self.encoding)
        if new_text == text:
            return
        # Neovim's versions are changedtick: one edit may raise it by several.
        self.docs[uri] = (version + 3, new_text)
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version + 3),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
            )
        )


@pytest_asyncio.fixture
async def neovim(
    model_server: ScriptedModelServer, sentinel_key: str
) -> AsyncIterator[Callable[..., Awaitable[NeovimClient]]]:
    started: list[NeovimClient] = []

    async def start(version: str = "0.7.2", spec: str = "neovim@v0.7.0") -> NeovimClient:
        client = NeovimClient()
        await client.start_io(
            sys.executable, "-m", "m21_lsp.lsp", env=server_env(model_server, sentinel_key)
        )
        started.append(client)
        caps = capabilities(spec)
        assert caps.workspace and caps.workspace.workspace_edit
        assert not caps.workspace.workspace_edit.document_changes  # as Neovim sends them
        await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                client_info=types.ClientInfo(name="Neovim", version=version),
                root_uri=REPO.as_uri(),
            )
        )
        return client

    yield start
    for client in started:
        try:
            async with asyncio.timeout(WAIT):
                await client.shutdown_session()
        except Exception:
            pass
        await client.stop()


@pytest.mark.parametrize(
    ("version", "spec"), [("0.7.2", "neovim@v0.7.0"), ("0.12.0-dev-fbb1caf", "neovim@v0.11.0")]
)
async def test_neovim_gets_a_versioned_edit_it_never_advertised(
    neovim, model_server, sample, version, spec
):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await neovim(version, spec)
    client.open(URI, sample, version=5)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))

    assert result["kind"] == "applied", result
    (params,) = client.applied_edits
    assert params.edit.changes is None
    (doc_edit,) = params.edit.document_changes
    assert doc_edit.text_document.version == 5
    assert client.text(URI) == refactored(sample)


async def test_version_0_is_sent_as_1_which_neovim_checks(neovim, model_server, sample):
    """Neovim never checks version 0 (its didOpen version): the edit says 1, which any
    changedtick after a change exceeds, so typing after opening still makes it stale."""
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await neovim()
    client.open(URI, sample, version=0)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))

    assert result["kind"] == "applied", result
    (params,) = client.applied_edits
    assert params.edit.document_changes[0].text_document.version == 1
    assert client.text(URI) == refactored(sample)


@pytest.mark.parametrize("opened_at", [0, 4])
async def test_typing_before_the_edit_arrives_is_never_overwritten(
    neovim, model_server, sample, opened_at
):
    """The user types a line above the function after the server sent the edit and before
    Neovim handles it: Neovim skips the edit but answers applied; the server must see from
    the next didChange that it did not land, say so, and never call it applied."""
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await neovim()
    client.open(URI, sample, version=opened_at)

    def type_first() -> None:
        client.before_apply = None
        client.edit(URI, 0, 0, USER_LINE)

    client.before_apply = type_first
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))

    assert client.text(URI) == USER_LINE + sample, "the edit landed on lines the user changed"
    assert len(client.skipped) == 1
    assert result["applied"] is False
    assert result["kind"] == "stale"
    assert "code changed" in result["message"] and "Run the refactor again" in result["message"]
    (warning,) = client.shown(types.MessageType.Warning)
    assert "not applied" in warning


async def test_applied_answer_without_a_change_is_not_called_applied(neovim, model_server, sample):
    """Neovim 0.12 answers applied after the user said No to its confirmation prompt."""
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await neovim()
    client.open(URI, sample, version=3)

    def declined(params: types.ApplyWorkspaceEditParams) -> Any:
        client.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    client._on_apply_edit = declined  # type: ignore[assignment,method-assign]
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))

    assert client.text(URI) == sample
    assert result["applied"] is False
    assert result["kind"] == "declined"
    assert "did not change" in result["message"]
