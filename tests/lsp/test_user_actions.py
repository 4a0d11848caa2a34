"""User-defined actions over stdio: offered, filtered, run through Refactor's path, targets.

The contract these tests hold the server to is docs/actions.md.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lsprotocol import types
from m21_lsp.testing.scripted_server import Step
from support.lsp_client import capabilities, find, refactored
from support.positions import lsp_range

URI = "file:///work/shop.py"
HINTS = {
    "title": "Add type hints",
    "instruction": "Add type hints to every signature, please.",
    "languages": ["python"],
}
SHOUT = {"title": "Shout", "instruction": "UPPER CASE ALL THE STRINGS", "kind": "refactor.shout"}


def _titles(actions: list[types.CodeAction]) -> list[str]:
    return [a.title for a in actions]


def _instructions(model_server) -> list[str]:
    """The user messages the model received, one per request."""
    return [
        "\n".join(m["content"] for m in r.json["messages"] if m["role"] == "user")
        for r in model_server.requests
    ]


async def test_no_action_is_offered_by_default(start_lsp, sample):
    client = await start_lsp()
    client.open(URI, sample)
    actions = await client.actions(URI, find(sample, "total = 0"))
    assert _titles(actions) == ["Refactor with m2-1", "Explain with m2-1"]


async def test_an_action_from_init_options_is_offered_with_its_title_and_kind_for_its_language(
    start_lsp, sample
):
    client = await start_lsp(init={"m21": {"actions": [HINTS, SHOUT], "modelLabel": "M"}})
    client.open(URI, sample)
    client.open("file:///work/shop.js", "function f() {\n  return 1;\n}\n", "javascript")

    actions = await client.actions(URI, find(sample, "total = 0"))
    assert _titles(actions) == [
        "Refactor with M",
        "Explain with M",
        "Add type hints with M",
        "Shout with M",
    ]
    hints = actions[2]
    assert hints.kind == "refactor.rewrite"
    assert hints.command is not None and hints.command.command == "m21.refactor"
    (arg,) = hints.command.arguments
    assert arg["action"] == "add-type-hints" and arg["uri"] == URI and arg["version"] == 1
    assert "instruction" not in arg  # looked up by name on the server
    assert actions[3].kind == "refactor.shout"

    js = await client.actions("file:///work/shop.js", 20)
    assert "Add type hints with M" not in _titles(js)
    assert "Shout with M" in _titles(js)

    only = await client.actions(URI, find(sample, "total = 0"), only=["refactor.shout"])
    assert _titles(only) == ["Shout with M"]
    assert await client.actions(URI, find(sample, "total = 0"), only=["quickfix"]) == []


async def test_running_an_action_sends_its_instruction_and_applies_a_checked_edit(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp(init={"actions": [HINTS]})
    client.open(URI, sample)
    (action,) = [
        a for a in await client.actions(URI, find(sample, "total = 0")) if "hints" in a.title
    ]

    result = await client.run(action)

    assert result["kind"] == "applied", result
    assert result["applied"] is True and result["syntaxChecked"] is True
    assert client.text(URI) == refactored(sample)
    (sent,) = _instructions(model_server)
    assert HINTS["instruction"] in sent
    (values,) = client.progress_values()
    assert values[0].title == "Add type hints with m2-1"
    (params,) = client.applied_edits
    (doc_edit,) = params.edit.document_changes
    assert doc_edit.text_document.version == 1


async def test_an_action_that_breaks_python_is_refused_and_the_file_kept(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="invalid_python"), Step(fixture="invalid_python"))
    client = await start_lsp(init={"actions": ["type-hints"]})
    client.open(URI, sample)
    (action,) = [
        a
        for a in await client.actions(URI, find(sample, "total = 0"))
        if a.title.startswith("Add type hints")
    ]
    result = await client.run(action)
    assert result["applied"] is False and result["kind"] == "invalid_python", result
    assert client.text(URI) == sample
    assert client.applied_edits == []


async def test_actions_from_workspace_configuration_and_from_the_environment(start_lsp, sample):
    env = {"M21_ACTIONS": json.dumps([SHOUT])}
    client = await start_lsp(env=env)
    client.open(URI, sample)
    assert "Shout with m2-1" in _titles(await client.actions(URI, find(sample, "total = 0")))

    # The workspace's list is the whole list: it replaces the environment's.
    client = await start_lsp(env=env, config={"m21": {"actions": [HINTS, "docstrings"]}})
    client.open(URI, sample)
    titles = _titles(await client.actions(URI, find(sample, "total = 0")))
    assert titles[2:] == ["Add type hints with m2-1", "Add docstrings with m2-1"]
    assert client.shown(types.MessageType.Warning) == []


async def test_a_code_action_sent_before_the_configuration_answer_waits_for_it(start_lsp, sample):
    """The workspace's actions decide what is offered, so a request that arrives while the
    client has not answered workspace/configuration yet is answered after it."""
    gate = asyncio.Event()
    client = await start_lsp(config={"m21": {"actions": [HINTS]}}, hold_configuration=gate)
    client.open(URI, sample)
    await asyncio.wait_for(client.configuration_asked.wait(), 10)
    at = find(sample, "total = 0")
    # The sync variant writes the request now: the server reads it before the answer.
    answer = client.text_document_code_action(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=lsp_range(sample, at, at),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    gate.set()
    titles = [a.title for a in await asyncio.wait_for(asyncio.wrap_future(answer), 10)]
    assert "Add type hints with m2-1" in titles


async def test_bad_entries_are_named_once_and_the_other_actions_still_work(
    start_lsp, model_server, sample
):
    bad = [
        {"title": "No instruction"},
        HINTS,
        {"title": "Wide", "instruction": "x", "scope": "module"},
        "nonsense",
        {"title": "T", "instruction": "x", "target": {"file": "../outside.py"}},
    ]
    client = await start_lsp(init={"actions": bad})
    client.open(URI, sample)
    (warning,) = await client.wait_until(
        lambda: client.shown(types.MessageType.Warning), "the settings warning"
    )
    assert "initializationOptions: actions[0] ('No instruction'): needs a 'instruction'" in warning
    assert "actions[2] ('Wide'): scope must be one of selection, function, file" in warning
    assert "actions[3] ('nonsense'): 'nonsense' is not a built-in action" in warning
    assert "actions[4] ('T'): target.file must be a relative path" in warning
    assert "actions[1]" not in warning
    titles = _titles(await client.actions(URI, find(sample, "total = 0")))
    assert titles[2:] == ["Add type hints with m2-1"]

    model_server.enqueue(Step(fixture="refactor_basic"))
    (hints,) = [
        a
        for a in await client.actions(URI, find(sample, "total = 0"))
        if a.title.startswith("Add type")
    ]
    assert (await client.run(hints))["kind"] == "applied"


async def test_a_workspace_may_define_actions_but_never_the_endpoint(
    start_lsp, model_server, sample
):
    model_server.default = Step(content="<think>ok</think>\nIt adds up.")
    client = await start_lsp(
        config={"m21": {"actions": [SHOUT], "baseUrl": "https://evil.example/v1"}}
    )
    client.open(URI, sample)
    (warning,) = await client.wait_until(
        lambda: client.shown(types.MessageType.Warning), "the settings warning"
    )
    assert "baseUrl ignored" in warning
    titles = _titles(await client.actions(URI, find(sample, "total = 0")))
    assert "Shout with m2-1" in titles
    (explain,) = await client.actions(URI, find(sample, "total = 0"), only=["refactor.explain"])
    assert (await client.run(explain))["kind"] == "explained"
    assert len(model_server.requests) == 1  # it went to the loopback model, not elsewhere


async def test_an_unknown_action_name_is_a_usage_failure(start_lsp, sample):
    client = await start_lsp(init={"actions": [HINTS]})
    client.open(URI, sample)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="m21.refactor",
            arguments=[
                {
                    "uri": URI,
                    "version": 1,
                    "range": {
                        "start": {"line": 6, "character": 0},
                        "end": {"line": 6, "character": 0},
                    },
                    "action": "nope",
                }
            ],
        )
    )
    assert result["kind"] == "usage" and "no action named 'nope'" in result["message"]
    assert "add-type-hints" in result["message"]


# ---------------------------------------------------------------------------- targets
TESTS_ACTION = {
    "title": "Write tests",
    "instruction": "Write pytest tests for this.",
    "languages": ["python"],
    "target": {"file": "tests/test_{stem}.py"},
}


async def _write_tests_action(client, uri: str, sample: str) -> types.CodeAction:
    """The one "Write tests" action offered at the sample's ``total = 0``."""
    (action,) = [
        a
        for a in await client.actions(uri, find(sample, "total = 0"))
        if a.title.startswith("Write tests")
    ]
    return action


async def test_a_target_action_creates_the_file_for_a_client_with_resource_operations(
    start_lsp, model_server, sample, tmp_path: Path
):
    model_server.enqueue(Step(fixture="action_write_tests"))
    uri = (tmp_path / "shop.py").as_uri()
    client = await start_lsp(init={"actions": [TESTS_ACTION]})
    client.open(uri, sample)
    action = await _write_tests_action(client, uri, sample)

    result = await client.run(action)

    target = (tmp_path / "tests" / "test_shop.py").as_uri()
    assert result["kind"] == "created", result
    assert result["applied"] is True
    assert result["targetUri"] == target
    assert result["targetPath"] == "tests/test_shop.py"
    assert result["existed"] is False
    (params,) = client.applied_edits
    create, doc_edit = params.edit.document_changes
    assert isinstance(create, types.CreateFile) and create.uri == target
    assert create.options is not None and create.options.ignore_if_exists is True
    assert isinstance(doc_edit, types.TextDocumentEdit) and doc_edit.text_document.uri == target
    written = client.text(target)
    assert written.startswith("from shop import total_price\n")
    assert "def test_total_price_skips_zero_quantities_and_adds_tax():" in written
    assert result["bytes"] == len(written.encode("utf-8"))
    assert client.text(uri) == sample  # the source is untouched
    assert not (tmp_path / "tests").exists()  # the client writes files, not the server
    assert "Write pytest tests for this." in _instructions(model_server)[0]


async def test_a_target_action_appends_to_an_open_file_at_its_version(
    start_lsp, model_server, sample, tmp_path: Path
):
    model_server.enqueue(Step(fixture="action_write_tests"))
    uri = (tmp_path / "shop.py").as_uri()
    target = (tmp_path / "tests" / "test_shop.py").as_uri()
    client = await start_lsp(init={"actions": [TESTS_ACTION]})
    client.open(uri, sample)
    existing = "import pytest\n\n\ndef test_old():\n    assert True\n"
    client.open(target, existing, version=4)
    action = await _write_tests_action(client, uri, sample)
    result = await client.run(action)
    assert result["kind"] == "created" and result["existed"] is True, result
    _create, doc_edit = client.applied_edits[0].edit.document_changes
    assert doc_edit.text_document.version == 4
    written = client.text(target)
    # Appended after what was there; the reply's import joined the file's imports.
    assert written.startswith("import pytest\nfrom shop import total_price\n")
    assert written.index("def test_old():") < written.index("def test_total_price_of_nothing")
    assert result["bytes"] == len(written.encode("utf-8"))


async def test_a_target_action_says_what_it_would_create_for_a_client_without_them(
    start_lsp, model_server, sample, tmp_path: Path
):
    model_server.enqueue(Step(fixture="action_write_tests"))
    uri = (tmp_path / "shop.py").as_uri()
    caps = capabilities(workspace__workspace_edit__resource_operations=None)
    client = await start_lsp(caps=caps, init={"actions": [TESTS_ACTION]})
    client.open(uri, sample)
    action = await _write_tests_action(client, uri, sample)
    result = await client.run(action)
    assert result["kind"] == "wouldCreate", result
    assert result["applied"] is False
    assert client.applied_edits == []
    assert result["targetPath"] == "tests/test_shop.py"
    assert result["bytes"] == len(result["text"].encode("utf-8"))
    assert "def test_total_price_of_nothing_is_zero" in result["text"]
    assert f"would create tests/test_shop.py ({result['bytes']} bytes)" in result["message"]


async def test_a_file_scope_action_covers_the_whole_file_from_an_empty_range(start_lsp, sample):
    whole = {"title": "Module doc", "instruction": "Add a module docstring.", "scope": "file"}
    client = await start_lsp(init={"actions": [whole, HINTS]})
    client.open(URI, sample)
    blank = find(sample, "\n\n\ndef format_tag") + 1  # a blank line between functions
    actions = await client.actions(URI, blank)
    by_title = {a.title: a for a in actions}
    assert "Add type hints with m2-1" not in by_title  # nothing encloses a blank line
    (arg,) = by_title["Module doc with m2-1"].command.arguments
    lines = sample.count("\n")
    assert arg["range"] == {
        "start": {"line": 0, "character": 0},
        "end": {"line": lines, "character": 0},
    }


async def test_a_target_action_cancels_like_refactor(start_lsp, model_server, sample, tmp_path):
    model_server.enqueue(Step(fixture="action_write_tests", hold=True))
    uri = (tmp_path / "shop.py").as_uri()
    client = await start_lsp(init={"actions": [TESTS_ACTION]})
    client.open(uri, sample)
    action = await _write_tests_action(client, uri, sample)
    command = asyncio.ensure_future(client.run(action))
    assert await model_server.wait_for_requests_async(1)

    def begun():
        for token, values in client.progress_reports.items():
            if values and isinstance(values[0], types.WorkDoneProgressBegin):
                return token
        return None

    token = await client.wait_until(begun, "progress begin")
    assert client.progress_reports[token][0].title == "Write tests with m2-1"
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await command
    assert (result["kind"], result["cancelled"], result["applied"]) == ("cancelled", True, False)
    closed = await model_server.wait_for_disconnect_async()
    assert closed is not None and closed.client_closed_early
    assert client.applied_edits == [] and client.created == []
