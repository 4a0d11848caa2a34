"""The feature handlers are module-level functions: importable and callable one by one."""

from __future__ import annotations

import asyncio

from lsprotocol import types
from m21_lsp.lsp import server


def _initialized_server() -> server.M21Server:
    """A server that went through pygls's initialize (our handler included), unconnected."""
    ls = server.create_server({})
    steps = ls.protocol.lsp_initialize(
        types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri="file:///work")
    )
    try:
        handler, args, _ = next(steps)
        while True:
            handler, args, _ = steps.send(handler(*args))
    except StopIteration:
        pass
    return ls


def test_create_server_registers_every_module_level_handler() -> None:
    ls = server.create_server({})
    features = ls.protocol.fm.features
    for method, _options, handler in server.FEATURES:
        assert getattr(server, handler.__name__) is handler
        assert method in features, method
    for name, command in server.COMMANDS:
        assert getattr(server, command.__name__) is command
        assert name in ls.protocol.fm.commands, name
    assert {m for m, _o, _h in server.FEATURES} >= {
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.TEXT_DOCUMENT_HOVER,
        types.CODE_ACTION_RESOLVE,
    }


def test_code_action_and_resolve_called_directly() -> None:
    ls = _initialized_server()
    uri = "file:///work/shop.py"
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
        context=types.CodeActionContext(diagnostics=[]),
    )
    assert server.code_action(ls, params) == []  # not open: nothing to offer
    ls.workspace.put_text_document(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text="x = 1\n")
    )
    titles = [a.title for a in server.code_action(ls, params)]
    assert titles == ["Refactor with m2-1", "Explain with m2-1"]
    action = types.CodeAction(title="Refactor with m2-1")
    assert server.resolve_code_action(ls, action) is action
    server.did_close(ls, types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))


def test_did_change_configuration_called_directly_layers_pushed_settings() -> None:
    ls = _initialized_server()
    params = types.DidChangeConfigurationParams(settings={"m21": {"contextLines": 7}})
    asyncio.run(server.did_change_configuration(ls, params))
    assert ls.settings.context_lines == 7
