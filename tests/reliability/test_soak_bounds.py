"""Every wait of the soak run is bounded: a hang ends the run with a message, never a stuck
process (``bench/soak.py --client neovim`` once hung until killed: pygls's ``stop()`` waits
for the server process without a bound, after a run stopped with a server still busy)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from lsp_driver import server_env, start_driver, stop_driver
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from soak_run import SoakConfig, run_soak

pytestmark = pytest.mark.soak


async def test_a_server_that_never_exits_is_killed_and_reported(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    driver = await start_driver(server_env(model_server.base_url, sentinel_key))
    process = driver._server
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)  # answers nothing, exits never
    try:
        async with asyncio.timeout(30):
            problem = await stop_driver(driver, timeout=1)
    finally:
        if process.returncode is None:
            process.kill()
    assert problem is not None and "still running" in problem, problem
    assert process.returncode is not None


async def test_a_command_that_does_not_answer_in_time_is_a_hang_with_a_message(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    config = SoakConfig(commands=6, concurrency=2, command_wait=0.001, client="neovim")
    async with asyncio.timeout(120):
        report = await run_soak(config, model_server, sentinel_key, log=lambda _: None)
    assert report.hangs == 1, report.figures()
    (hang,) = [p for p in report.problems if p.startswith("HANG")]
    assert "no command answered: command 0 (" in hang, hang


async def test_shutdown_while_a_command_runs_is_answered_and_the_server_exits(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    """What the soak's end does with commands still in flight, and what an editor does
    when the user quits during a refactor."""
    model_server.enqueue(Step(content="<think>t</think>\n```python\nx = 2\n```\n", hold=True))
    driver = await start_driver(server_env(model_server.base_url, sentinel_key))
    uri = "file:///bounds/mod.py"
    driver.open(uri, "x = 1\n")
    command = driver.execute(
        "m21.refactor", [{"uri": uri, "version": 1, "range": driver.range_of(uri, 0, 6)}]
    )
    assert await asyncio.to_thread(model_server.wait_for_requests, 1)
    try:
        async with asyncio.timeout(30):
            await driver.shutdown_async(None)  # pygls's own handler answers with an error
        driver.exit(None)
        process = driver._server
        assert process is not None
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    finally:
        model_server.release()
        command.cancel()
        assert await stop_driver(driver, timeout=5) is None
