"""The tree-sitter check through the real server over stdio: a Go edit that drops a brace
is refused after the repair turn and the document is untouched; a valid one is applied."""

from __future__ import annotations

import sys
from pathlib import Path

from m21_lsp.testing.scripted_server import Step

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from syntax_cases import CASES

GO = CASES[3]
URI = "file:///work/cart/cart.go"


async def _go_action(client):
    start = len(GO.head)
    client.open(URI, GO.source, language_id="go")
    (action,) = await client.actions(URI, start, start + len(GO.old), only=["refactor.rewrite"])
    return action


async def test_go_edit_dropping_a_brace_is_refused_after_repair(start_lsp, model_server):
    model_server.enqueue(
        Step(fixture="syntax_go_dropped_brace"), Step(fixture="syntax_go_dropped_brace")
    )
    client = await start_lsp(init={"repairTurns": 1})
    result = await client.run(await _go_action(client))

    assert result["applied"] is False
    assert result["kind"] == "invalid_syntax"
    (shown,) = client.errors_shown()
    for phrase in ("not valid Go", "after 1 repair turn", "line ", "Nothing was changed"):
        assert phrase in shown, (phrase, shown)
        assert phrase in result["message"]
    assert len(model_server.requests) == 2
    assert client.applied_edits == []
    assert client.text(URI) == GO.source


async def test_go_edit_fixed_on_repair_is_applied_and_marked_checked(start_lsp, model_server):
    model_server.enqueue(Step(fixture="syntax_go_dropped_brace"), Step(fixture="syntax_go_range"))
    client = await start_lsp(init={"repairTurns": 1})
    result = await client.run(await _go_action(client))

    assert result["applied"] is True
    assert result["syntaxChecked"] is True
    assert not any("Not syntax-checked" in w for w in result["warnings"])
    assert len(model_server.requests) == 2
    assert client.text(URI) == GO.expected
