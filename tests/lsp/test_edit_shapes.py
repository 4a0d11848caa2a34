"""What the user sees with the edit: warnings in the preview and summary; CRLF; other languages."""

from __future__ import annotations

from lsprotocol import types
from m21_lsp.testing.scripted_server import Step
from support.lsp_client import capabilities, find, refactor_action, refactored
from support.positions import apply_lsp_edits

URI = "file:///work/shop.py"


async def test_name_warnings_reach_the_preview_and_the_summary(start_lsp, model_server, sample):
    reply = (
        '<think>rename</think>\n```python\ndef format_label(name):\n    return f"<{name}>"\n```\n'
    )
    model_server.enqueue(Step(content=reply))
    client = await start_lsp()
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, 'return "<"')))

    assert result["applied"] is True
    (warning,) = [w for w in result["warnings"] if "`format_tag`" in w]
    (params,) = client.applied_edits
    (annotation,) = params.edit.change_annotations.values()
    assert warning in annotation.description
    (shown,) = client.shown(types.MessageType.Warning)
    assert "applied, with warnings" in shown and "`format_tag`" in shown


async def test_crlf_document_keeps_its_line_endings(start_lsp, model_server, sample):
    crlf = sample.replace("\n", "\r\n")
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp()
    client.open(URI, crlf)
    result = await client.run(await refactor_action(client, URI, find(crlf, "total = 0")))
    assert result["applied"] is True
    text = client.text(URI)
    assert "sum(item[" in text
    assert "\n" not in text.replace("\r\n", "")
    assert text.endswith("return json.load(fh)\r\n")


async def test_other_languages_are_edited_but_marked_not_syntax_checked(start_lsp, model_server):
    # Svelte has no grammar shipped, so its edits stay unchecked (JavaScript now is checked).
    uri = "file:///work/App.svelte"
    text = "function add(a, b) {\n  return a + b;\n}\n"
    reply = "<think>arrow</think>\n```js\nconst add = (a, b) => a + b;\n```\n"
    model_server.enqueue(Step(content=reply))
    client = await start_lsp()
    client.open(uri, text, language_id="svelte")
    (action,) = await client.actions(uri, 0, len(text), only=["refactor.rewrite"])
    result = await client.run(action)
    assert result["applied"] is True
    assert result["syntaxChecked"] is False
    assert any("Not syntax-checked" in w for w in result["warnings"])
    assert client.text(uri) == "const add = (a, b) => a + b;\n"


async def test_client_without_apply_edit_gets_the_edit_in_the_result(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp(caps=capabilities(workspace__apply_edit=False))
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["applied"] is False
    assert result["kind"] == "unsupported"
    assert client.applied_edits == []
    (doc_edit,) = result["edit"]["documentChanges"]
    assert doc_edit["textDocument"] == {"uri": URI, "version": 1}
    edits = [
        types.TextEdit(
            range=types.Range(
                start=types.Position(**e["range"]["start"]),
                end=types.Position(**e["range"]["end"]),
            ),
            new_text=e["newText"],
        )
        for e in doc_edit["edits"]
    ]
    assert apply_lsp_edits(sample, edits) == refactored(sample)
