"""Clients that give up on a long request get their command's answer at once (issue 19, §1).

Eglot waits for ``workspace/executeCommand`` synchronously and gives up after 10 s; Helix
times out any request after 20 s. Here the scripted model holds its reply until the test
releases it, so "before the model replies" is an event, not a duration: the answer must
arrive while the model's request is still open. The work then goes on in the background
(start and outcome messages, the edit by ``workspace/applyEdit``). Clients that show
progress and wait (VS Code, Neovim) keep the full result at the end.

Also here: a client that tells the truth about ``applied`` gets its answer before its
``didChange`` (eglot sends that from an idle timer that cannot fire while Emacs waits).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from lsprotocol import types
from m21_lsp.testing.scripted_server import Step, load_reply
from support.lsp_client import capabilities, find, refactor_action, refactored

URI = "file:///work/shop.py"
APPLIED = re.compile(r"Refactor with m2-1: Applied \(\d+ lines? changed\)\.")

# (clientInfo, capabilities): what each impatient client declares.
IMPATIENT = {
    # Helix shows progress, and still times out after 20 s; it names itself "helix".
    "helix": (types.ClientInfo(name="helix", version="25.07.1"), capabilities()),
    # Eglot 1.10+ (Emacs 29): declares progress, names itself "Eglot", waits synchronously.
    "eglot-29": (types.ClientInfo(name="Eglot", version="1.17"), capabilities("emacs")),
    # Eglot 1.9 (Debian's Emacs 28): no clientInfo, no window capabilities at all.
    "no-progress": (None, capabilities("emacs", window=None)),
}


def explanation() -> str:
    return load_reply("explain_basic").split("</think>", 1)[1].strip()


async def _answered_while_the_model_holds(client: Any, model_server: Any, action: Any) -> Any:
    """Run ``action``; the answer must come while the model's request is still open."""
    command = asyncio.ensure_future(client.run(action))
    assert await model_server.wait_for_requests_async(1)
    result = await asyncio.wait_for(command, timeout=client.wait)
    assert not model_server.requests[0].completed, "answered only after the model replied"
    return result


@pytest.mark.parametrize("client_kind", list(IMPATIENT))
async def test_impatient_client_gets_its_answer_before_the_model_replies(
    client_kind, start_lsp, model_server, sample
):
    info, caps = IMPATIENT[client_kind]
    model_server.enqueue(Step(fixture="refactor_basic", hold=True))
    client = await start_lsp(caps=caps, client_info=info)
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))

    result = await _answered_while_the_model_holds(client, model_server, action)
    assert result["kind"] == "started" and result["applied"] is False, result
    assert "outcome will be shown" in result["message"]
    assert client.applied_edits == []

    # The user types above the selection while the model works; the edit lands around it.
    client.edit(URI, 0, 0, "# typed while m2-1 was thinking\n")
    await client.sync()
    model_server.release()
    outcome = await client.wait_until(lambda: [m for m in client.shown() if APPLIED.fullmatch(m)])
    assert len(outcome) == 1, client.shown()
    assert client.text(URI) == "# typed while m2-1 was thinking\n" + refactored(sample)
    (params,) = client.applied_edits
    assert params.edit.document_changes is not None
    if caps.window is None:
        assert client.shown()[0] == "Refactor with m2-1: started…"
        assert client.progress_reports == {}
    else:  # progress for the status line, and still the outcome as a message
        (values,) = client.progress_values()
        assert values[0].title == "Refactor with m2-1"
        assert values[-1].message.startswith("Applied")


@pytest.mark.parametrize("client_kind", ["helix", "no-progress"])
async def test_impatient_client_explain_is_answered_at_once_and_served_on_hover(
    client_kind, start_lsp, model_server, sample
):
    info, caps = IMPATIENT[client_kind]
    model_server.enqueue(Step(fixture="explain_basic", hold=True))
    client = await start_lsp(caps=caps, client_info=info)
    client.open(URI, sample)
    (action,) = await client.actions(URI, find(sample, "total = 0"), only=["refactor.explain"])

    result = await _answered_while_the_model_holds(client, model_server, action)
    assert result["kind"] == "started", result
    model_server.release()
    ready = "Explanation ready: hover the selection to read it."
    await client.wait_until(lambda: ready in client.shown())
    hover = await client.hover_at(URI, find(sample, "item = items[i]"))
    assert hover is not None and hover.contents.value == explanation()


async def test_impatient_client_failure_is_one_start_and_one_error_message(
    start_lsp, model_server, sample
):
    model_server.enqueue(Step(status=401, body={"message": "Invalid API key"}, hold=True))
    info, caps = IMPATIENT["helix"]
    client = await start_lsp(caps=caps, client_info=info)
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))

    result = await _answered_while_the_model_holds(client, model_server, action)
    assert result["kind"] == "started"
    model_server.release()
    (error,) = await client.wait_until(client.errors_shown)
    assert error.startswith("Refactor with m2-1: ") and "M21_API_KEY" in error
    assert client.applied_edits == []
    assert client.text(URI) == sample


async def test_bad_arguments_are_answered_as_before_for_an_impatient_client(start_lsp, sample):
    """Nothing to wait for: the usage error is the answer, not a background run."""
    info, caps = IMPATIENT["no-progress"]
    client = await start_lsp(caps=caps, client_info=info)
    client.open(URI, sample)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="m21.refactor", arguments=[{"uri": URI}])
    )
    assert result["kind"] == "usage" and "range" in result["message"]


@pytest.mark.parametrize(
    "info", [types.ClientInfo(name="Visual Studio Code", version="1.99.0"), None]
)
async def test_client_that_shows_progress_still_gets_the_whole_result(
    info, start_lsp, model_server, sample
):
    model_server.enqueue(Step(fixture="refactor_basic"))
    client = await start_lsp(client_info=info)
    client.open(URI, sample)
    result = await client.run(await refactor_action(client, URI, find(sample, "total = 0")))
    assert result["kind"] == "applied" and result["applied"] is True, result
    assert model_server.requests[0].completed
    assert client.shown() == []  # progress told the whole story


async def test_shutdown_stops_a_background_run(start_lsp, model_server, sample):
    info, caps = IMPATIENT["no-progress"]
    model_server.enqueue(Step(fixture="refactor_basic", hold=True))
    client = await start_lsp(caps=caps, client_info=info)
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))
    result = await _answered_while_the_model_holds(client, model_server, action)
    assert result["kind"] == "started"

    await client.shutdown_session()
    closed = await model_server.wait_for_disconnect_async()
    assert closed is not None and closed.client_closed_early
    assert client.applied_edits == []


class LateDidChange:
    """Applies an edit but sends its didChange only after the command's answer arrived,
    as eglot does (its didChange waits for an idle timer)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pending: list[types.DidChangeTextDocumentParams] = []
        client.text_document_did_change = self._hold  # type: ignore[method-assign]
        self._send = type(client).text_document_did_change.__get__(client)

    def _hold(self, params: types.DidChangeTextDocumentParams) -> None:
        self.pending.append(params)

    def flush(self) -> None:
        for params in self.pending:
            self._send(params)
        self.pending.clear()


@pytest.mark.parametrize(
    "who",
    ["vscode", "neovim-with-plugin"],
)
async def test_truthful_client_gets_applied_before_its_didchange_arrives(
    who, start_lsp, model_server, sample
):
    """The old server held the answer for a didChange (up to 10 s), then said "nothing was
    applied" for an edit that was. Neovim with the m21 plugin declares a truthful handler."""
    info, caps = None, capabilities()
    if who == "neovim-with-plugin":
        info = types.ClientInfo(name="Neovim", version="0.11.0")
        caps = capabilities("neovim@v0.11.0", experimental={"m21": {"truthfulApplyEdit": True}})
    tag_reply = (
        '<think>f-string</think>\n```python\ndef format_tag(name):\n    return f"<{name}>"\n```\n'
    )
    model_server.enqueue(Step(fixture="refactor_basic"), Step(content=tag_reply))
    client = await start_lsp(caps=caps, client_info=info)
    client.open(URI, sample)
    first = await refactor_action(client, URI, find(sample, "total = 0"))
    second = await refactor_action(client, URI, find(sample, 'return "<"'))
    late = LateDidChange(client)

    result = await client.run(first)
    assert result["kind"] == "applied" and result["applied"] is True, result
    assert late.pending, "the client's didChange went out before the answer"
    assert client.text(URI) == refactored(sample)

    # The second edit, made for the version both actions saw, lands once the first edit's
    # didChange has arrived: it is moved onto the text the client really has.
    command = asyncio.ensure_future(client.run(second))
    assert await model_server.wait_for_requests_async(2)
    late.flush()
    outcome = await command
    assert outcome["kind"] == "applied", outcome
    assert client.text(URI) == refactored(sample).replace(
        'return "<" + name + ">"', 'return f"<{name}>"'
    )


async def test_an_edit_refused_with_an_error_for_an_older_version_moves_onto_the_new_text(
    start_lsp, model_server, sample
):
    """Eglot answers an edit for an older version with an error (not ``applied: false``),
    and its didChange for the typing that made it older follows from an idle timer. The
    server takes the error as a refusal, waits for that didChange and sends the edit again,
    moved onto the new text; before, the error ended the command as an internal error."""
    info, caps = IMPATIENT["no-progress"]
    model_server.enqueue(Step(fixture="refactor_basic", hold=True))
    client = await start_lsp(caps=caps, client_info=info)
    client.open(URI, sample)
    action = await refactor_action(client, URI, find(sample, "total = 0"))
    result = await _answered_while_the_model_holds(client, model_server, action)
    assert result["kind"] == "started"

    late = LateDidChange(client)
    client.edit(URI, 0, 0, "# typed while m2-1 was thinking\n")  # its didChange is held
    refusals: list[int | None] = []
    apply_as_usual = client._on_apply_edit

    def eglot_apply(params: types.ApplyWorkspaceEditParams) -> Any:
        version = params.edit.document_changes[0].text_document.version
        if version != client.docs[URI][0]:
            refusals.append(version)
            asyncio.get_running_loop().call_soon(late.flush)  # after the error answer
            raise RuntimeError(f"Edits on `shop.py' require version {version}, you have more")
        answer = apply_as_usual(params)
        late.flush()
        return answer

    client._on_apply_edit = eglot_apply  # type: ignore[method-assign]
    model_server.release()
    await client.wait_until(lambda: [m for m in client.shown() if APPLIED.fullmatch(m)])
    assert refusals == [1]
    assert client.text(URI) == "# typed while m2-1 was thinking\n" + refactored(sample)
    assert client.errors_shown() == []
