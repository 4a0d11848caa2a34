"""Code actions: the list, the kinds, `only`, range expansion, quick fixes, positions."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from support.lsp_client import WAIT, capabilities, find
from support.positions import lsp_range, offset_of

URI = "file:///work/shop.py"


def _arg(action: types.CodeAction) -> dict:
    assert action.command is not None
    (arg,) = action.command.arguments or []
    return arg


async def test_capabilities_advertise_actions_commands_and_resolve(start_lsp):
    client = await start_lsp()
    caps = client.init_result.capabilities
    provider = caps.code_action_provider
    assert isinstance(provider, types.CodeActionOptions)
    assert provider.resolve_provider is True
    assert set(provider.code_action_kinds) == {"refactor.rewrite", "refactor.explain", "quickfix"}
    assert set(caps.execute_command_provider.commands) == {"m21.refactor", "m21.explain", "m21.fix"}
    sync = caps.text_document_sync
    assert sync.open_close is True
    assert sync.change == types.TextDocumentSyncKind.Incremental
    assert caps.position_encoding == "utf-16"
    assert caps.hover_provider


async def test_selection_offers_refactor_and_explain_with_kinds(start_lsp, sample):
    client = await start_lsp()
    client.open(URI, sample)
    start = find(sample, "def total_price")
    end = find(sample, "def format_tag")
    actions = await client.actions(URI, start, end)
    assert [(a.title, a.kind) for a in actions] == [
        ("Refactor with m2-1", "refactor.rewrite"),
        ("Explain with m2-1", "refactor.explain"),
    ]
    assert [a.command.command for a in actions] == ["m21.refactor", "m21.explain"]
    arg = _arg(actions[0])
    assert arg["uri"] == URI
    assert arg["version"] == 1
    rng = arg["range"]
    assert (rng["start"]["line"], rng["start"]["character"]) == (5, 0)
    assert (rng["end"]["line"], rng["end"]["character"]) == (15, 0)


async def test_only_filters_by_kind_prefix(start_lsp, sample):
    client = await start_lsp()
    client.open(URI, sample)
    start, end = find(sample, "def total_price"), find(sample, "def format_tag")
    diag = types.Diagnostic(
        range=lsp_range(sample, start + 4, start + 15), message="bad name", source="ruff"
    )

    async def kinds(only):
        return [
            a.kind for a in await client.actions(URI, start, end, only=only, diagnostics=[diag])
        ]

    assert await kinds(None) == ["refactor.rewrite", "refactor.explain", "quickfix"]
    assert await kinds(["refactor"]) == ["refactor.rewrite", "refactor.explain"]
    assert await kinds(["refactor.rewrite"]) == ["refactor.rewrite"]
    assert await kinds(["refactor.explain"]) == ["refactor.explain"]
    assert await kinds(["quickfix"]) == ["quickfix"]
    assert await kinds(["source.organizeImports"]) == []
    assert await kinds(["refactor.extract"]) == []


async def test_cursor_expands_to_the_enclosing_function(start_lsp, sample):
    """Neovim and Helix send an empty or one-character range for "here"."""
    client = await start_lsp()
    client.open(URI, sample)
    inside = find(sample, "item = items[i]") + 3
    func_start = find(sample, "def total_price")
    func_end = find(sample, "\n\n\ndef format_tag") + 1
    for end in (inside, inside + 1):
        actions = await client.actions(URI, inside, end)
        assert len(actions) == 2
        rng = _arg(actions[0])["range"]
        start_pos = types.Position(**rng["start"])
        end_pos = types.Position(**rng["end"])
        assert offset_of(sample, start_pos) == func_start
        assert offset_of(sample, end_pos) == func_end


async def test_cursor_on_blank_line_between_functions_offers_nothing(start_lsp, sample):
    client = await start_lsp()
    client.open(URI, sample)
    blank = find(sample, "\n\n\ndef format_tag") + 2
    assert await client.actions(URI, blank) == []


async def test_overlapping_diagnostic_adds_a_quick_fix(start_lsp, sample):
    client = await start_lsp()
    client.open(URI, sample)
    token = find(sample, "json.load(fh)")
    diag = types.Diagnostic(
        range=lsp_range(sample, token, token + 4),
        message="`json` may be undefined\nsecond line",
        source="pyright",
        code="reportUndefinedVariable",
    )
    elsewhere = types.Diagnostic(
        range=lsp_range(sample, 0, 3), message="module docstring", source="ruff"
    )
    actions = await client.actions(URI, token + 1, diagnostics=[diag, elsewhere])
    fix = [a for a in actions if a.kind == "quickfix"]
    assert len(fix) == 1
    assert fix[0].title == "Fix with m2-1: `json` may be undefined second line"
    assert fix[0].command.command == "m21.fix"
    assert [d.message for d in fix[0].diagnostics] == [diag.message]
    arg = _arg(fix[0])
    assert arg["diagnostics"] == [
        "line 22: [pyright reportUndefinedVariable] `json` may be undefined second line"
    ]
    rng = arg["range"]
    assert offset_of(sample, types.Position(**rng["start"])) == find(sample, "def load_items")
    assert offset_of(sample, types.Position(**rng["end"])) == len(sample)


async def test_no_quick_fix_without_overlapping_diagnostics(start_lsp, sample):
    client = await start_lsp()
    client.open(URI, sample)
    far = types.Diagnostic(range=lsp_range(sample, 0, 3), message="docstring", source="ruff")
    inside = find(sample, "return json")
    actions = await client.actions(URI, inside, diagnostics=[far])
    assert [a.kind for a in actions] == ["refactor.rewrite", "refactor.explain"]


async def test_resolve_returns_the_action_unchanged(start_lsp, sample):
    client = await start_lsp()
    client.open(URI, sample)
    (action, _) = await client.actions(URI, 0, 40)
    resolved = await client.code_action_resolve_async(action)
    assert resolved == action


async def test_model_label_setting_changes_titles(start_lsp, sample):
    client = await start_lsp(init={"m21": {"modelLabel": "M2.1"}})
    client.open(URI, sample)
    actions = await client.actions(URI, 0, 40)
    assert [a.title for a in actions] == ["Refactor with M2.1", "Explain with M2.1"]


async def test_secret_files_get_no_actions(start_lsp):
    client = await start_lsp()
    client.open("file:///work/.env", "API_KEY=abc\nOTHER=1\n", language_id="dotenv")
    assert await client.actions("file:///work/.env", 0, 10) == []


async def test_untitled_and_notebook_cell_uris(start_lsp):
    client = await start_lsp()
    code = "def f(a):\n    return a + 1\n"
    for uri in ("untitled:Untitled-1", "vscode-notebook-cell:/work/nb.ipynb#W0sZmlsZQ%3D%3D"):
        client.open(uri, code)
        actions = await client.actions(uri, 16)
        assert [a.kind for a in actions] == ["refactor.rewrite", "refactor.explain"]
        assert _arg(actions[0])["uri"] == uri


async def test_utf16_positions_after_emoji_and_cjk(start_lsp):
    """A range after an emoji (2 UTF-16 units) and CJK (1 unit) maps to the right code."""
    client = await start_lsp()
    text = 'LABEL = "😀 世界"; y = compute(1)  # 😀\n\ndef f():\n    return "世界😀"\n'
    client.open(URI, text)
    start = find(text, "compute(1)")
    actions = await client.actions(URI, start, start + len("compute(1)"))
    rng = _arg(actions[0])["range"]
    # 'LABEL = "' is 9 units, the emoji 2, ' 世界' 3, '"; y = ' 7: compute starts at 21.
    assert rng["start"] == {"line": 0, "character": 21}
    assert rng["end"] == {"line": 0, "character": 31}
    # A cursor inside the function on a line after non-BMP characters expands correctly.
    inner = find(text, "return")
    actions = await client.actions(URI, inner + 2)
    rng = _arg(actions[0])["range"]
    assert rng["start"] == {"line": 2, "character": 0}
    assert rng["end"] == {"line": 4, "character": 0}


async def test_utf8_and_utf32_are_negotiated(start_lsp):
    text = 'x = "😀"; y = compute(1)\n'
    for offered, expected_start in (["utf-8"], 16), (["utf-32", "utf-16"], 13):
        caps = capabilities(general=types.GeneralClientCapabilities(position_encodings=offered))
        client = await start_lsp(caps=caps)
        assert client.encoding == offered[0]
        client.open(URI, text)
        start = find(text, "compute")
        actions = await client.actions(URI, start, start + len("compute(1)"))
        assert _arg(actions[0])["range"]["start"] == {"line": 0, "character": expected_start}


async def test_exit_codes_follow_the_specification(start_lsp):
    """0 after shutdown + exit, 1 after an exit without shutdown."""
    client = await start_lsp()
    await client.shutdown_session()
    assert client._server.returncode == 0
    client = await start_lsp()
    client.exit(None)
    assert await client._server.wait() == 1


async def test_a_request_with_invalid_params_gets_an_error_and_the_server_goes_on(
    start_lsp, sample
):
    """pygls would drop it silently (the client would wait forever)."""
    client = await start_lsp()
    client.open(URI, sample)
    bad = {
        "textDocument": {"uri": URI},
        "range": {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}},
        "context": {"diagnostics": []},
    }
    # lsprotocol will not even build such params, so send the raw JSON.
    answer: concurrent.futures.Future = concurrent.futures.Future()
    client.protocol._request_futures["bad-position"] = answer
    client.protocol._send_data(
        {"jsonrpc": "2.0", "id": "bad-position", "method": "textDocument/codeAction", "params": bad}
    )
    with pytest.raises(JsonRpcInvalidParams):
        async with asyncio.timeout(WAIT):  # without an answer, fail instead of hanging
            await asyncio.wrap_future(answer)
    assert len(await client.actions(URI, find(sample, "total = 0"))) == 2
