"""didChange derives the next version's line index instead of rescanning the document."""

from __future__ import annotations

import re

from lsprotocol import types
from m21_lsp.lsp.app import M21Server
from m21_lsp.lsp.server import create_server
from pygls.workspace import Workspace

URI = "file:///tmp/big.py"


def _server_with(text: str) -> M21Server:
    ls = create_server({})
    ls.protocol._workspace = Workspace(None)  # what initialize would set up
    ls.workspace.put_text_document(
        types.TextDocumentItem(uri=URI, language_id="python", version=1, text=text)
    )
    return ls


def _change(ls: M21Server, version: int, *changes: types.TextDocumentContentChangeEvent) -> None:
    params = types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
        content_changes=list(changes),
    )
    for _ in ls.protocol.lsp_text_document__did_change(params):
        pass  # the generator yields the user handler, which has nothing to do here


def _edit(
    line: int, char: int, end_line: int, end_char: int, text: str
) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=types.Position(line=line, character=char),
            end=types.Position(line=end_line, character=end_char),
        ),
        text=text,
    )


def test_the_snapshot_after_a_change_has_its_line_starts_without_a_rescan() -> None:
    text = "".join(f"def f{n}():\r\n    return {n}\n\n" for n in range(2000))
    ls = _server_with(text)
    before = ls.documents.get(ls.workspace, URI)
    assert before is not None
    assert before.index.line_count == text.count("\n") + 1  # built by a code action
    _change(ls, 2, _edit(10, 0, 11, 0, "x = 'é😀'\r"), _edit(3000, 4, 3000, 4, "\n\r\n"))
    after = ls.documents.get(ls.workspace, URI)
    assert after is not None and after.version == 2
    assert after.index._starts is not None, "the index was not carried over from didChange"
    assert after.text == _apply_by_hand(text)
    assert after.index.line_starts == [
        0,
        *(m.end() for m in re.finditer(r"\r\n|\r|\n", after.text)),
    ]


def _apply_by_hand(text: str) -> str:
    """The two edits above, with line starts counted independently of the server."""
    starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]
    text = text[: starts[10]] + "x = 'é😀'\r" + text[starts[11] :]
    starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]
    at = starts[3000] + 4
    return text[:at] + "\n\r\n" + text[at:]


def test_a_whole_document_change_and_a_closed_document_start_afresh() -> None:
    ls = _server_with("a\nb\n")
    assert ls.documents.get(ls.workspace, URI) is not None
    _change(ls, 2, types.TextDocumentContentChangeWholeDocument(text="one\r\ntwo\rthree"))
    snap = ls.documents.get(ls.workspace, URI)
    assert snap is not None and snap.text == "one\r\ntwo\rthree"
    assert snap.index.offset_at(2, 0) == snap.text.index("three")
    ls.documents.forget(URI)
    assert ls.documents._next_index == {}
