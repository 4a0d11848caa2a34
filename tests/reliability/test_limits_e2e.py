"""Every cap, hit for real through the CLI and the language server: the refusal names the
setting that raises it, and (for the caps checked before sending) the scripted model server
received no request at all.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_driver import Driver, server_env, start_driver, stop_driver
from lsprotocol import types
from m21_lsp.cli import main
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

SOURCE = "".join(
    f"def f{n}(x):\n    y = x * {n}\n    z = y + {n}\n    return z\n\n\n" for n in range(40)
)
REPLY = "<think>ok</think>\n```python\ndef f0(x):\n    return x * 0 + 0\n```\n"
CAPS = [
    # (environment variable, setting, value, what to select, setting named in the message)
    ("M21_MAX_SELECTION_LINES", "maxSelectionLines", 3, "1-4", "maxSelectionLines"),
    ("M21_MAX_SELECTION_CHARS", "maxSelectionChars", 20, "1-4", "maxSelectionChars"),
    ("M21_MAX_PROMPT_TOKENS", "maxPromptTokens", 60, "1-4", "maxPromptTokens"),
]


def cli(
    monkeypatch: pytest.MonkeyPatch, base_url: str, key: str, *argv: str, **env: str
) -> tuple[int, str]:
    for var in list(os.environ):
        if var.startswith("M21_") or var == "AIMLAPI_KEY":
            monkeypatch.delenv(var)
    monkeypatch.setenv("M21_API_KEY", key)
    monkeypatch.setenv("M21_BASE_URL", base_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue() + err.getvalue()


@pytest.mark.parametrize(("var", "setting", "value", "lines", "named"), CAPS)
@pytest.mark.parametrize("command", ["refactor", "explain"])
def test_the_cli_refuses_over_a_cap_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
    model_server: ScriptedModelServer,
    sentinel_key: str,
    tmp_path: Path,
    var: str,
    setting: str,
    value: int,
    lines: str,
    named: str,
    command: str,
) -> None:
    model_server.default = Step(content=REPLY)
    path = tmp_path / "mod.py"
    path.write_text(SOURCE)
    argv = [command, str(path), "--lines", lines] + (["--apply"] if command == "refactor" else [])
    code, output = cli(monkeypatch, model_server.base_url, sentinel_key, *argv, **{var: str(value)})
    assert code == 1, output
    assert named in output and var in output, output
    assert model_server.requests == []
    assert path.read_text() == SOURCE
    # The same request under the default caps does go out: the cap was the only obstacle.
    code, output = cli(monkeypatch, model_server.base_url, sentinel_key, *argv)
    assert code == 0, output
    assert len(model_server.requests) == 1


def test_a_reply_past_max_reply_chars_is_stopped_and_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    model_server: ScriptedModelServer,
    sentinel_key: str,
    tmp_path: Path,
) -> None:
    model_server.default = Step(content="<think>" + "blah " * 20_000 + "</think>\n" + REPLY)
    path = tmp_path / "mod.py"
    path.write_text(SOURCE)
    code, output = cli(
        monkeypatch,
        model_server.base_url,
        sentinel_key,
        "refactor",
        str(path),
        "--lines",
        "1-4",
        "--apply",
        M21_MAX_REPLY_CHARS="5000",
    )
    assert code == 1, output
    assert "maxReplyChars" in output and "M21_MAX_REPLY_CHARS" in output
    assert path.read_text() == SOURCE
    assert len(model_server.requests) == 1  # a reply cap is not retried


# ------------------------------------------------------------------------------ server
@pytest_asyncio.fixture
async def lsp_factory() -> AsyncIterator[Callable[..., Any]]:
    started: list[Driver] = []

    async def start(env: dict[str, str], **kwargs: Any) -> Driver:
        driver = await start_driver(env, **kwargs)
        started.append(driver)
        return driver

    yield start
    for driver in started:
        await stop_driver(driver)


def first_function(driver: Driver, uri: str) -> list[dict[str, Any]]:
    end = SOURCE.index("\n\n\n") + 1
    return [{"uri": uri, "version": driver.doc_version(uri), "range": driver.range_of(uri, 0, end)}]


@pytest.mark.parametrize(("var", "setting", "value", "lines", "named"), CAPS)
async def test_the_server_refuses_over_a_cap_and_sends_nothing(
    lsp_factory: Callable[..., Any],
    model_server: ScriptedModelServer,
    sentinel_key: str,
    var: str,
    setting: str,
    value: int,
    lines: str,
    named: str,
) -> None:
    model_server.default = Step(content=REPLY)
    driver: Driver = await lsp_factory(
        server_env(model_server.base_url, sentinel_key), init={"m21": {setting: value}}
    )
    uri = "file:///limits/mod.py"
    driver.open(uri, SOURCE)
    for command in ("m21.refactor", "m21.explain"):
        result = await driver.execute(command, first_function(driver, uri))
        assert result["kind"] == "limit", result
        assert named in result["message"] and var in result["message"]
    errors = driver.shown(types.MessageType.Error)
    assert len(errors) == 2 and all(named in e for e in errors), errors
    assert model_server.requests == []
    assert driver.text(uri) == SOURCE and driver.apply_log == []
    # Raising the cap from the client's configuration lets the same request through.
    driver.raw_notify(
        types.WORKSPACE_DID_CHANGE_CONFIGURATION, {"settings": {"m21": {setting: 1_000_000}}}
    )
    driver.set_configuration({"m21": {setting: 1_000_000}})
    driver.raw_notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, {"settings": None})
    await driver.responsive()
    result = await driver.execute("m21.refactor", first_function(driver, uri))
    assert result["kind"] == "applied", result
    assert len(model_server.requests) == 1


async def test_the_server_stops_a_reply_past_max_reply_chars(
    lsp_factory: Callable[..., Any], model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.default = Step(content="<think>" + "blah " * 20_000 + "</think>\n" + REPLY)
    driver: Driver = await lsp_factory(
        server_env(model_server.base_url, sentinel_key), init={"m21": {"maxReplyChars": 5000}}
    )
    uri = "file:///limits/mod.py"
    driver.open(uri, SOURCE)
    result = await driver.execute("m21.refactor", first_function(driver, uri))
    assert result["applied"] is False and "maxReplyChars" in result["message"], result
    assert driver.text(uri) == SOURCE
    assert len(model_server.requests) == 1


async def test_extra_commands_wait_for_a_slot_and_say_which_setting(
    lsp_factory: Callable[..., Any], model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    """maxConcurrentRequests holds however many commands the editor fires: the extra ones
    report 'waiting' naming the setting, send nothing, and finish once slots free up."""
    model_server.default = Step(content="<think>x</think>\nIt multiplies.", hold=True)
    driver: Driver = await lsp_factory(
        server_env(model_server.base_url, sentinel_key, M21_MAX_CONCURRENT_REQUESTS="2")
    )
    uri = "file:///limits/mod.py"
    driver.open(uri, SOURCE)
    pending = [driver.execute("m21.explain", first_function(driver, uri)) for _ in range(5)]
    assert await asyncio.to_thread(model_server.wait_for_requests, 2)

    def waiting_reports() -> int:
        return sum(
            1
            for values in driver.progress_reports.values()
            for v in values
            if isinstance(v, types.WorkDoneProgressReport)
            and "maxConcurrentRequests" in (v.message or "")
        )

    await driver.wait_until(lambda: waiting_reports() >= 3)
    assert len(model_server.requests) == 2  # the other three wait: nothing sent for them
    model_server.default = Step(content="<think>x</think>\nIt multiplies.")
    model_server.release()
    results = await asyncio.gather(*pending)
    assert [r["kind"] for r in results] == ["explained"] * 5
    assert len(model_server.requests) == 5
