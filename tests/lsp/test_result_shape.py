"""The results a real server sends over stdio have exactly the keys of lsp/results.py.

Editors read those keys and no aliases (editors/vscode/src/results.ts, the Neovim plugin),
so a key the server adds, drops or renames must show up here, not as a blank status bar.
"""

from __future__ import annotations

from typing import Any

from m21_lsp.lsp.results import CommandResult, UsageResult, shape_for
from m21_lsp.testing.scripted_server import Step
from support.lsp_client import capabilities, find, refactor_action

URI = "file:///work/shop.py"


def assert_shape(result: dict[str, Any], kind: str) -> None:
    assert result["kind"] == kind
    assert set(result) == set(shape_for(kind).__required_keys__), sorted(result)
    assert set(CommandResult.__required_keys__) <= set(result)
    if result["usage"] is not None:
        assert set(result["usage"]) == set(UsageResult.__required_keys__), result["usage"]


async def test_every_kind_of_result_has_exactly_its_typed_keys(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="explain_basic"))
    model_server.enqueue(Step(status=401, body={"message": "Invalid API key", "statusCode": 401}))
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp()
    client.open(URI, sample)
    offset = find(sample, "total = 0")

    (explain,) = await client.actions(URI, offset, only=["refactor.explain"])
    explained = await client.run(explain)
    assert_shape(explained, "explained")
    assert explained["usage"] is not None

    failed = await client.run(await refactor_action(client, URI, offset))
    assert_shape(failed, "auth")
    assert failed["reason"] == "auth"

    applied = await client.run(await refactor_action(client, URI, offset))
    assert_shape(applied, "applied")
    assert applied["usage"] is not None


async def test_an_unsupported_result_has_exactly_its_typed_keys(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp(caps=capabilities(workspace__apply_edit=False))
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert_shape(result, "unsupported")


async def test_a_started_result_has_exactly_the_common_keys(start_lsp, model_server, sample):
    """A client that would time out waiting is answered at once (lsp/detach.py)."""
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp(caps=capabilities("emacs", window=None))
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert_shape(result, "started")
    assert result["applied"] is False and result["reason"] is None and result["usage"] is None
