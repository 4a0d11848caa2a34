"""m21.refactor end to end: progress, versioned edits, confirmation, rebase, refusal."""

from __future__ import annotations

import asyncio
import re

from lsprotocol import types
from m21_lsp.testing.scripted_server import Step
from support.lsp_client import capabilities, find, refactor_action, refactored
from support.positions import lsp_range

URI = "file:///work/shop.py"


async def test_refactor_reports_progress_and_applies_a_versioned_annotated_edit(
    start_lsp, model_server, sample, sentinel_key
):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp()
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))

    result = await client.run(action)

    assert result["applied"] is True
    assert result["cancelled"] is False
    assert result["kind"] == "applied"
    assert result["reason"] is None
    assert result["version"] == 1
    assert result["usage"]["promptTokens"] == 120
    assert result["usage"]["completionTokens"] > 0
    assert isinstance(result["seconds"], float)
    assert isinstance(result["warnings"], list)
    assert client.text(URI) == refactored(sample)

    (params,) = client.applied_edits
    assert params.edit.changes is None
    (doc_edit,) = params.edit.document_changes
    assert doc_edit.text_document.uri == URI
    assert doc_edit.text_document.version == 1
    assert doc_edit.edits and all(isinstance(e, types.AnnotatedTextEdit) for e in doc_edit.edits)
    (annotation_id,) = {e.annotation_id for e in doc_edit.edits}
    annotation = params.edit.change_annotations[annotation_id]
    assert annotation.needs_confirmation is True
    assert annotation.label == "Refactor with m2-1: tick to apply"

    (values,) = client.progress_values()
    begin, *reports, end = values
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert begin.title == "Refactor with m2-1"
    assert begin.cancellable is True
    messages = [r.message for r in reports]
    assert any(re.fullmatch(r"thinking… \d+ tokens?", m) for m in messages), messages
    assert any(m.startswith("writing") for m in messages)
    assert "checking" in messages
    assert "done" not in messages  # the model call's end is not the command's
    assert messages.index("checking") > max(
        i for i, m in enumerate(messages) if m.startswith("thinking")
    )
    assert isinstance(end, types.WorkDoneProgressEnd)
    assert end.message.startswith("Applied")
    assert client.errors_shown() == []

    (request,) = model_server.requests
    assert request.headers["authorization"] == f"Bearer {sentinel_key}"
    assert request.json["model"] == "minimax/m2-1"
    assert request.json["stream"] is True
    assert "def total_price" in request.json["messages"][-1]["content"]


async def test_confirm_edits_off_sends_plain_text_edits(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp(init={"confirmEdits": False})
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["applied"] is True
    (params,) = client.applied_edits
    (doc_edit,) = params.edit.document_changes
    assert doc_edit.text_document.version == 1
    assert not any(isinstance(e, types.AnnotatedTextEdit) for e in doc_edit.edits)
    assert not params.edit.change_annotations
    assert client.text(URI) == refactored(sample)


async def test_neovim_07_without_document_changes_gets_plain_changes(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp(caps=capabilities("neovim@v0.7.0"))
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["applied"] is True
    (params,) = client.applied_edits
    assert params.edit.document_changes is None
    assert list(params.edit.changes) == [URI]
    assert client.text(URI) == refactored(sample)


async def test_client_without_progress_gets_a_start_and_an_outcome_message(
    start_lsp, model_server, sample
):
    """Emacs eglot (older releases) has no window.workDoneProgress: it is answered at once
    (tests/lsp/test_impatient_clients.py) and told the outcome by message."""
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp(caps=capabilities("emacs", window=None))
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["kind"] == "started"
    started, outcome = await client.wait_until(lambda: len(client.shown()) >= 2 and client.shown())
    assert client.text(URI) == refactored(sample)
    assert client.progress_reports == {}
    assert started == "Refactor with m2-1: started…"
    assert re.fullmatch(r"Refactor with m2-1: Applied \(\d+ lines? changed\)\.", outcome)


async def test_edit_is_moved_onto_text_typed_while_the_model_worked(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="refactor_basic", hold=True))
    client = await start_lsp()
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))
    command = asyncio.ensure_future(client.run(action))

    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    client.edit(URI, 0, 0, "# typed while m2-1 was thinking\n")
    tag = find(client.text(URI), 'return "<"')
    client.edit(URI, tag, tag + len('return "<"'), "return '<'")
    await client.sync()
    model_server.release()
    result = await command

    assert result["applied"] is True
    assert result["version"] == 3
    (params,) = client.applied_edits
    assert params.edit.document_changes[0].text_document.version == 3
    expected = "# typed while m2-1 was thinking\n" + refactored(sample).replace(
        'return "<"', "return '<'"
    )
    assert client.text(URI) == expected


async def test_nothing_is_applied_when_the_selected_code_changed(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="refactor_basic", hold=True))
    client = await start_lsp()
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))
    command = asyncio.ensure_future(client.run(action))

    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    inside = find(sample, "total = 0")
    client.edit(URI, inside, inside + len("total = 0"), "total = 0.0")
    edited = client.text(URI)
    await client.sync()
    model_server.release()
    result = await command

    assert result["applied"] is False
    assert result["kind"] == "stale"
    assert result["reason"] == "stale"
    assert "changed while m2-1 was working" in result["message"]
    assert client.applied_edits == []
    assert client.text(URI) == edited
    (warning,) = client.shown(types.MessageType.Warning)
    assert "nothing was applied" in warning
    (values,) = client.progress_values()
    assert values[-1].message.startswith("Failed: ")


async def test_action_from_an_older_version_is_refused_before_any_model_call(
    start_lsp, model_server, sample
):
    client = await start_lsp()
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))
    client.edit(URI, 0, 0, "\n")
    result = await client.run(action)
    assert result["kind"] == "stale"
    assert model_server.requests == []
    assert client.applied_edits == []


async def test_client_declining_the_edit_is_reported(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp()
    client.apply_mode = "reject"
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["applied"] is False
    assert result["kind"] == "declined"
    assert "rejected by test" in result["message"]
    assert client.text(URI) == sample


async def test_fix_sends_the_diagnostics_with_the_code(start_lsp, model_server):
    text = "import os\n\n\ndef load(path):\n    return jsn.loads(open(path).read())\n"
    fixed = "```python\ndef load(path):\n    import json\n\n    return json.loads(open(path).read())\n```\n"
    model_server.enqueue(Step(content="<think>use json</think>\n" + fixed))
    client = await start_lsp()
    client.open(URI, text)
    token = find(text, "jsn")

    diag = types.Diagnostic(
        range=lsp_range(text, token, token + 3),
        message='Undefined name "jsn"',
        source="ruff",
        code="F821",
    )
    (fix,) = await client.actions(URI, token, token + 3, only=["quickfix"], diagnostics=[diag])
    result = await client.run(fix)
    assert result["applied"] is True, result
    prompt = model_server.requests[0].json["messages"][-1]["content"]
    assert 'line 5: [ruff F821] Undefined name "jsn"' in prompt
    assert "return json.loads" in client.text(URI)
    assert client.progress_values()[0][0].title == "Fix with m2-1"


async def test_hoisted_import_is_rebased_with_the_edit(start_lsp, model_server, sample):
    reply = (
        "<think>use pathlib</think>\n```python\nfrom pathlib import Path\n\n\n"
        "def load_items(path):\n    return json.loads(Path(path).read_text())\n```\n"
    )
    model_server.enqueue(Step(content=reply, hold=True))
    client = await start_lsp()
    client.open(URI, sample)
    command = asyncio.ensure_future(
        client.run(await refactor_action(client, URI, find(sample, "with open(path)")))
    )
    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    tag = find(sample, 'return "<"')
    client.edit(URI, tag, tag + len('return "<"'), "return '<'")
    await client.sync()
    model_server.release()
    result = await command

    assert result["applied"] is True, result
    text = client.text(URI)
    assert text.count("from pathlib import Path\n") == 1
    assert "import json\nfrom pathlib import Path\n" in text
    assert "return '<' + name" in text
    assert text.endswith("def load_items(path):\n    return json.loads(Path(path).read_text())\n")


async def test_incremental_sync_uses_lsp_line_breaks_only(start_lsp, model_server):
    """A form feed and U+2028 are not line breaks in LSP (pygls's own sync treats them as
    such); a change after them must land where the editor made it."""
    text = (
        '"""Doc."""\n\x0c\nX = "a\u2028b"\n\n\ndef f(a):\n    return a + 1\n\n\n'
        "def g(b):\n    return b * 2\n"
    )
    model_server.enqueue(
        Step(content="<think>x</think>\n```python\ndef f(a):\n    return a + 3\n```\n")
    )
    client = await start_lsp()
    client.open(URI, text)
    at = find(text, "a + 1")
    client.edit(URI, at, at + 5, "a + 2")
    edited = client.text(URI)
    (g_action,) = await client.actions(URI, find(edited, "b * 2"), only=["refactor.rewrite"])
    rng = g_action.command.arguments[0]["range"]
    assert rng["start"] == {"line": 9, "character": 0}
    result = await client.run(await refactor_action(client, URI, find(edited, "a + 2")))
    selected = model_server.requests[0].json["messages"][-1]["content"].split("Selected code:")[1]
    assert "return a + 2" in selected
    assert result["applied"] is True
    assert client.text(URI) == edited.replace("a + 2", "a + 3")


async def test_untitled_documents_can_be_refactored(start_lsp, model_server, sample):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp()
    client.open("untitled:Untitled-1", sample)
    action = await refactor_action(client, "untitled:Untitled-1", find(sample, "total = 0"))
    result = await client.run(action)
    assert result["applied"] is True
    assert client.text("untitled:Untitled-1") == refactored(sample)
