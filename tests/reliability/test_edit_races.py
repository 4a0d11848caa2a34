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

import pytest_asyncio
from lsp_driver import Driver, server_env, start_driver, stop_driver
from lsprotocol import types
from m21_lsp.scripted_server import ScriptedModelServer, Step
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
