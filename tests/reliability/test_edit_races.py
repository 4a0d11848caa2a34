"""Races between edits the server sends: found by the soak run with Neovim's capabilities.

A client without ``documentChanges`` (Neovim 0.7) applies ``workspace/applyEdit`` without a
version check, so the server alone must make sure an edit is computed on the text the
client has when it applies it. Two refactors of the same function that finish together
must never stack one edit on top of the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsp_driver import Driver, server_env, start_driver, stop_driver
from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from pytest_lsp import client_capabilities

URI = "file:///race/mod.py"
HEAD = "import os\n\n\n"
OLD = "def f(x):\n    y = x + 1\n    return y\n"
TAIL = "\n\ndef g():\n    return 2\n"
TEXT = HEAD + OLD + TAIL
NEW_A = "def f(x):\n    return x + 1  # A\n"
NEW_B = "def f(x):\n    z = x + 1\n    return z  # B\n"


def reply(code: str) -> str:
    return f"<think>t</think>\n```python\n{code}```\n"


@pytest_asyncio.fixture
async def unversioned(
    model_server: ScriptedModelServer, sentinel_key: str
) -> AsyncIterator[Driver]:
    caps = client_capabilities("neovim")
    assert caps.workspace is not None and caps.workspace.workspace_edit is not None
    caps.workspace.workspace_edit.document_changes = False
    driver = await start_driver(server_env(model_server.base_url, sentinel_key), caps=caps)
    yield driver
    await stop_driver(driver)


async def test_two_refactors_finishing_together_never_stack(
    unversioned: Driver, model_server: ScriptedModelServer
) -> None:
    driver = unversioned
    driver.open(URI, TEXT)
    model_server.enqueue(
        Step(content=reply(NEW_A), hold=True), Step(content=reply(NEW_B), hold=True)
    )
    start = TEXT.index(OLD)
    args = [{"uri": URI, "version": 1, "range": driver.range_of(URI, start, start + len(OLD))}]
    first = driver.execute("m21.refactor", args)
    second = driver.execute("m21.refactor", args)
    assert await asyncio.to_thread(model_server.wait_for_requests, 2)

    arrived: list[types.ApplyWorkspaceEditParams] = []
    both = asyncio.Event()

    async def hold_until_both(params: types.ApplyWorkspaceEditParams) -> None:
        # Like a busy editor: answer the first applyEdit only once the second has come, or
        # after a while (a correct server never sends the second before the first is done).
        arrived.append(params)
        if len(arrived) >= 2:
            both.set()
        try:
            async with asyncio.timeout(3):
                await both.wait()
        except TimeoutError:
            pass

    driver.before_apply = hold_until_both
    model_server.release()
    results: list[Any] = await asyncio.gather(first, second)
    kinds = sorted(r["kind"] for r in results)
    text = driver.text(URI)
    assert text in (HEAD + NEW_A + TAIL, HEAD + NEW_B + TAIL), text
    assert kinds == ["applied", "stale"], results


# ------------------------------------------------- the user changed the selected code
SUM = "def total(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
SUM_TEXT = HEAD + SUM + TAIL
SUM_NEW = SUM.replace("total += x", "total = total + x")  # one line rewritten, others kept


@pytest_asyncio.fixture(params=["versioned", "unversioned"])
async def any_client(
    request: pytest.FixtureRequest, model_server: ScriptedModelServer, sentinel_key: str
) -> AsyncIterator[Driver]:
    """VS Code's capabilities (versioned documentChanges) and Neovim 0.7's (plain changes)."""
    caps = client_capabilities("visual-studio-code")
    if request.param == "unversioned":
        caps = client_capabilities("neovim")
        assert caps.workspace is not None and caps.workspace.workspace_edit is not None
        caps.workspace.workspace_edit.document_changes = False
    driver = await start_driver(server_env(model_server.base_url, sentinel_key), caps=caps)
    yield driver
    await stop_driver(driver)


async def refactor_while_user_types(
    driver: Driver, model_server: ScriptedModelServer, old: str, new: str
) -> tuple[dict[str, Any], str]:
    """Refactor ``total`` (the model rewrites one of its lines); while the model works the
    user replaces ``old`` with ``new``. Returns the command's result and the user's text."""
    driver.open(URI, SUM_TEXT)
    model_server.enqueue(Step(content=reply(SUM_NEW), hold=True))
    start = SUM_TEXT.index(SUM)
    args = [{"uri": URI, "version": 1, "range": driver.range_of(URI, start, start + len(SUM))}]
    command = driver.execute("m21.refactor", args)
    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    at = driver.text(URI).index(old)
    driver.edit(URI, at, at + len(old), new)
    typed = driver.text(URI)
    await driver.responsive()  # the server has read the didChange before the reply comes
    model_server.release()
    async with asyncio.timeout(60):
        result: dict[str, Any] = await command
    return result, typed


async def test_a_change_to_a_selected_line_the_model_kept_refuses_the_edit(
    any_client: Driver, model_server: ScriptedModelServer
) -> None:
    driver = any_client
    result, typed = await refactor_while_user_types(
        driver, model_server, "return total", "return -total"
    )
    assert result["kind"] == "stale", result
    assert result["applied"] is False
    assert "selected code changed" in result["message"]
    assert driver.apply_log == []
    assert driver.text(URI) == typed


async def test_a_change_outside_the_selection_still_gets_the_edit(
    any_client: Driver, model_server: ScriptedModelServer
) -> None:
    driver = any_client
    result, typed = await refactor_while_user_types(driver, model_server, "return 2", "return 3")
    assert result["kind"] == "applied", result
    assert driver.text(URI) == typed.replace(SUM, SUM_NEW)
