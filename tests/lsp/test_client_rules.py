"""The per-client rules of issue 19, §1, on their own: who is answered at once
(lsp/detach.py), whose "applied" needs a didChange to be believed (lsp/neovim.py), and how
the next edit waits for the previous one's didChange (Documents.wait_for_landing).
"""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from m21_lsp.lsp.detach import answers_at_once, impatient_client
from m21_lsp.lsp.neovim import applied_needs_proof
from m21_lsp.lsp.server import create_server
from pygls.workspace import Workspace
from support.lsp_client import capabilities

URI = "file:///tmp/shop.py"
TRUTHFUL = {"m21": {"truthfulApplyEdit": True}}


@pytest.mark.parametrize(
    ("name", "impatient"),
    [
        ("Eglot", True),
        ("eglot", True),
        ("Emacs (eglot)", True),
        ("helix", True),
        ("Helix", True),
        ("Visual Studio Code", False),
        ("Neovim", False),
        ("helixir-lsp-client", False),  # a word, not a prefix
        ("", False),
    ],
)
def test_impatient_clients_are_known_by_name(name, impatient):
    assert impatient_client(types.ClientInfo(name=name)) is impatient


def test_no_client_info_is_not_impatient_by_name():
    assert impatient_client(None) is False


def _server(caps: types.ClientCapabilities, info: types.ClientInfo | None):
    ls = create_server({})
    ls.protocol.client_capabilities = caps  # what initialize would set
    ls.client_info = info
    return ls


@pytest.mark.parametrize(
    ("caps", "info", "at_once"),
    [
        (capabilities(), None, False),  # VS Code: progress, patient
        (capabilities("neovim@v0.7.0"), types.ClientInfo(name="Neovim"), False),
        (capabilities("emacs", window=None), None, True),  # eglot 1.9: no progress
        (capabilities("emacs"), types.ClientInfo(name="Eglot"), True),  # progress, still waits
        (capabilities(), types.ClientInfo(name="helix", version="25.07.1"), True),
    ],
)
def test_who_is_answered_at_once(caps, info, at_once):
    assert answers_at_once(_server(caps, info)) is at_once


@pytest.mark.parametrize(
    ("info", "experimental", "needs_proof"),
    [
        (types.ClientInfo(name="Neovim", version="0.7.2"), None, True),
        (types.ClientInfo(name="Neovim", version="0.11.0"), {"other": 1}, True),
        (types.ClientInfo(name="Neovim", version="0.7.2"), TRUTHFUL, False),  # the plugin
        (types.ClientInfo(name="Neovim", version="0.7.2"), {"m21": {"truthfulApplyEdit": 1}}, True),
        (types.ClientInfo(name="Visual Studio Code"), None, False),
        (types.ClientInfo(name="Eglot"), None, False),
        (None, None, False),
    ],
)
def test_only_neovim_without_the_plugin_must_prove_applied(info, experimental, needs_proof):
    caps = types.ClientCapabilities(experimental=experimental)
    assert applied_needs_proof(info, caps) is needs_proof


async def test_the_next_edit_waits_for_the_previous_edits_didchange():
    ls = create_server({})
    ls.protocol._workspace = Workspace(None)
    ls.workspace.put_text_document(
        types.TextDocumentItem(uri=URI, language_id="python", version=1, text="a = 1\n")
    )
    before = ls.documents.get(ls.workspace, URI)
    assert before is not None
    ls.documents.expect_landing(before)

    waiting = asyncio.ensure_future(ls.documents.wait_for_landing(ls.workspace, URI, 30.0))
    await asyncio.sleep(0)  # one turn of the loop: the task runs until it awaits the change
    assert not waiting.done()
    ls.workspace.put_text_document(
        types.TextDocumentItem(uri=URI, language_id="python", version=2, text="a = 2\n")
    )
    ls.documents.changed(URI)
    await asyncio.wait_for(waiting, 30.0)
    # Once landed, nothing is pending: the next wait returns at once.
    await asyncio.wait_for(ls.documents.wait_for_landing(ls.workspace, URI, 30.0), 30.0)
