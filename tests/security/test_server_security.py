"""The language server under attack: the key in every message, secret files, a repository
trying to redirect requests, and model output that would do harm if it were ever run.

Every test drives the real server over stdio and searches everything it sends (each JSON
message: logMessage, showMessage, progress, command results, applyEdit; and its stderr).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_driver import Driver, server_env, start_driver, stop_driver
from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from pytest_lsp import client_capabilities
from security_helpers import assert_no_leak

URI = "file:///proj/app.py"
TEXT = "import os\n\n\ndef total(items):\n    s = 0\n    for i in items:\n        s += i\n    return s\n"
REPLY = "<think>use sum</think>\n```python\ndef total(items):\n    return sum(items)\n```\n"


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


def target(driver: Driver, uri: str = URI) -> list[dict[str, Any]]:
    text = driver.text(uri)
    start = text.index("def ")
    return [
        {
            "uri": uri,
            "version": driver.doc_version(uri),
            "range": driver.range_of(uri, start, len(text)),
        }
    ]


# ----------------------------------------------------------------------------- the key
def hostile_steps(key: str) -> list[Step]:
    echo = {"message": f"key {key} rejected; Bearer {key}", "statusCode": 0}
    return [
        Step(content=REPLY),  # a refactor that succeeds
        Step(content="<think>x</think>\nIt sums the items."),  # an explain
        Step(status=401, body=echo | {"statusCode": 401}),
        Step(status=403, body={"title": "Forbidden", "status": 403, "error": {"message": key}}),
        Step(status=400, body=f"bad request from {key[:30]}…"),
        # Retry-After: 0 keeps the test quick; the retries still happen.
        Step(status=500, body=echo, headers={"Retry-After": "0"}),
        Step(status=500, body=echo, headers={"Retry-After": "0"}),
        Step(status=500, body=echo, headers={"Retry-After": "0"}),
        Step(content="x", base_resp={"status_code": 1004, "status_msg": f"auth {key}"}),
        Step(content=f"<think>{key}</think>\nno code, and the key in the reasoning"),
    ]


async def test_the_key_never_appears_in_anything_the_server_sends(
    lsp_factory: Callable[..., Any],
    model_server: ScriptedModelServer,
    sentinel_key: str,
) -> None:
    model_server.enqueue(*hostile_steps(sentinel_key))
    env = server_env(model_server.base_url, sentinel_key, M21_MAX_ATTEMPTS="3")
    driver: Driver = await lsp_factory(
        env,
        # A settings problem that mentions the key's setting, shown at start-up.
        init={"m21": {"apiKey": 12345, "maxTokens": "lots"}},
    )
    driver.open(URI, TEXT)
    results = []
    for name in ["m21.refactor", "m21.explain"] + ["m21.refactor"] * 6:
        results.append(await driver.execute(name, target(driver)))
        if driver.text(URI) != TEXT:
            driver.close(URI)
            driver.open(URI, TEXT)
    hover = await driver.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=3, character=5),
        )
    )
    # A workspace configuration carrying a different key, applied and reported.
    driver.raw_notify(
        types.WORKSPACE_DID_CHANGE_CONFIGURATION, {"settings": {"m21": {"apiKey": ["bad"]}}}
    )
    assert await driver.responsive()
    await stop_driver(driver)

    kinds = [r["kind"] for r in results]
    assert kinds[:2] == ["applied", "explained"], results
    assert {"auth", "credits", "bad_request", "server", "no_code"} <= set(kinds), kinds
    assert len(model_server.requests) == 10
    assert all(
        r.headers["authorization"] == f"Bearer {sentinel_key}" for r in model_server.requests
    )
    output = driver.all_output()
    assert "Explain with" in output and "rejected" in output  # the paths really ran
    assert driver.log_messages and driver.messages and driver.progress_reports
    assert_no_leak(output, sentinel_key, "the server's messages or stderr")
    assert_no_leak(repr(results) + repr(hover), sentinel_key, "command results / hover")


@pytest.mark.parametrize("how", ["initializationOptions", "workspace/configuration"])
async def test_a_key_given_in_settings_is_used_and_never_echoed(
    lsp_factory: Callable[..., Any],
    model_server: ScriptedModelServer,
    sentinel_key: str,
    how: str,
) -> None:
    model_server.enqueue(Step(status=401, body={"message": f"no: {sentinel_key}"}))
    env = server_env(model_server.base_url, None)
    settings = {"m21": {"apiKey": sentinel_key}}
    if how == "initializationOptions":
        driver: Driver = await lsp_factory(env, init=settings)
    else:
        driver = await lsp_factory(env, config=settings)
    driver.open(URI, TEXT)
    result = await driver.execute("m21.refactor", target(driver))
    assert result["kind"] == "auth", result
    assert model_server.requests[0].headers["authorization"] == f"Bearer {sentinel_key}"
    await stop_driver(driver)
    assert_no_leak(driver.all_output(), sentinel_key, "the server's output")


# ----------------------------------------------------------------------------- secret files
SECRET_NAMES = [
    ".env",
    ".env.production",
    "x.pem",
    "server.key",
    "id_rsa",
    "id_ed25519",
    "secrets.yaml",
    "credentials.json",
    "config/.env.local",
]


async def test_secret_files_get_no_actions_no_hover_and_no_requests(
    lsp_factory: Callable[..., Any], model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.default = Step(content=REPLY)
    driver: Driver = await lsp_factory(
        server_env(model_server.base_url, sentinel_key), init={"m21": {"hover": "auto"}}
    )
    for name in SECRET_NAMES:
        uri = f"file:///proj/{name}"
        text = "API_KEY=abc123\ndef total(items):\n    return 1\n"
        driver.open(uri, text, language_id="python")
        actions = await driver.code_actions(uri, 0, len(text))
        assert actions == [], (name, actions)
        hover = await driver.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=2, character=5),
            )
        )
        assert hover is None, name
        for command in ("m21.refactor", "m21.explain", "m21.fix"):
            args = target(driver, uri)
            args[0]["diagnostics"] = ["E1: something"]
            result = await driver.execute(command, args)
            assert result["kind"] == "secret_file", (name, command, result)
            assert "secretGlobs" in result["message"]
        assert driver.text(uri) == text
    assert model_server.requests == []
    assert driver.apply_log == []


async def test_secret_globs_are_configurable_in_the_server(
    lsp_factory: Callable[..., Any], model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.default = Step(content=REPLY)
    driver: Driver = await lsp_factory(
        server_env(model_server.base_url, sentinel_key),
        init={"m21": {"secretGlobs": ["*_private.py"]}},
    )
    uri = "file:///proj/billing_private.py"
    driver.open(uri, TEXT)
    assert await driver.code_actions(uri, 0, len(TEXT)) == []
    driver.open(URI, TEXT)
    assert await driver.code_actions(URI, TEXT.index("def"), len(TEXT))
    assert model_server.requests == []


# ----------------------------------------------------------------------------- redirection
@pytest.fixture
def evil_server() -> Any:
    with ScriptedModelServer() as server:
        server.default = Step(content=REPLY)
        yield server


def _no_configuration_capability() -> types.ClientCapabilities:
    caps = client_capabilities("visual-studio-code")
    assert caps.workspace is not None
    caps.workspace.configuration = False
    return caps


@pytest.mark.parametrize("how", ["configuration", "didChangeConfiguration push"])
async def test_a_workspace_setting_cannot_change_where_requests_go(
    lsp_factory: Callable[..., Any],
    model_server: ScriptedModelServer,
    evil_server: ScriptedModelServer,
    sentinel_key: str,
    how: str,
) -> None:
    model_server.default = Step(content=REPLY)
    env = server_env(model_server.base_url, sentinel_key)
    hostile = {"m21": {"baseUrl": evil_server.base_url, "allowWorkspaceBaseUrl": True}}
    if how == "configuration":
        driver: Driver = await lsp_factory(env, config=hostile)
    else:
        driver = await lsp_factory(env, caps=_no_configuration_capability())
        driver.raw_notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, {"settings": hostile})
    driver.open(URI, TEXT)
    await driver.responsive()
    result = await driver.execute("m21.refactor", target(driver))
    assert result["kind"] == "applied", result
    assert evil_server.requests == [], "a workspace setting redirected the key and the code"
    assert len(model_server.requests) == 1
    warnings = driver.shown(types.MessageType.Warning, types.MessageType.Error)
    assert any("baseUrl" in w for w in warnings), warnings


async def test_a_user_level_opt_in_is_the_only_way_a_workspace_url_applies(
    lsp_factory: Callable[..., Any],
    model_server: ScriptedModelServer,
    evil_server: ScriptedModelServer,
    sentinel_key: str,
) -> None:
    """Proves the test above tests the guard: with the user's opt-in the same workspace
    setting does redirect."""
    driver: Driver = await lsp_factory(
        server_env(model_server.base_url, sentinel_key),
        init={"m21": {"allowWorkspaceBaseUrl": True}},
        config={"m21": {"baseUrl": evil_server.base_url}},
    )
    driver.open(URI, TEXT)
    result = await driver.execute("m21.refactor", target(driver))
    assert result["kind"] == "applied", result
    assert len(evil_server.requests) == 1 and model_server.requests == []


async def test_plain_http_to_another_host_is_refused_in_every_layer(
    lsp_factory: Callable[..., Any], model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    model_server.default = Step(content=REPLY)
    driver: Driver = await lsp_factory(
        server_env(model_server.base_url, sentinel_key),
        init={"m21": {"baseUrl": "http://203.0.113.9/v1"}},
    )
    driver.open(URI, TEXT)
    result = await driver.execute("m21.refactor", target(driver))
    assert result["kind"] == "applied"
    assert len(model_server.requests) == 1
    assert any("https" in m for m in driver.shown(types.MessageType.Warning))

    # The environment's unsafe URL is refused too (here the user's initializationOptions
    # point at the loopback server, so nothing would try the network if it were not).
    env = server_env("http://203.0.113.9/v1", sentinel_key)
    second: Driver = await lsp_factory(env, init={"m21": {"baseUrl": model_server.base_url}})
    second.open(URI, TEXT)
    result = await second.execute("m21.refactor", target(second))
    assert any("https" in m for m in second.shown(types.MessageType.Warning)), second.shown()
    assert result["kind"] == "applied", result
    assert len(model_server.requests) == 2
    await stop_driver(second)
    assert_no_leak(second.all_output(), sentinel_key)


# ----------------------------------------------------------------------------- no execution
def booby_trapped_reply(marker: Path) -> str:
    """Code that writes ``marker`` if it is ever imported, executed or evaluated."""
    path = str(marker)
    return (
        "<think>do it</think>\n```python\n"
        f"open({path!r}, 'w').write('imported')\n"
        f"def total(items, _=open({path!r}, 'w')):\n"
        f"    __import__('os').system('touch {path}')\n"
        "    return sum(items)\n"
        f"exec(\"open({path!r}, 'w')\")\n"
        "```\n"
    )


async def test_model_output_is_never_executed_by_the_server(
    lsp_factory: Callable[..., Any],
    model_server: ScriptedModelServer,
    sentinel_key: str,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "EXECUTED"
    trap = booby_trapped_reply(marker)
    broken = trap.replace("return sum(items)", "return sum(items")  # invalid: repair turn
    model_server.enqueue(
        Step(content=trap),  # refactor: applied as text
        Step(content=broken),  # refactor: invalid...
        Step(content=broken),  # ...and still invalid after the repair turn
        Step(content=trap.replace("<think>do it</think>", "")),  # explain
    )
    driver: Driver = await lsp_factory(server_env(model_server.base_url, sentinel_key))
    driver.open(URI, TEXT)
    applied = await driver.execute("m21.refactor", target(driver))
    assert applied["kind"] == "applied", applied
    assert "__import__('os').system" in driver.text(URI)  # it is only text in the editor
    driver.close(URI)
    driver.open(URI, TEXT)
    failed = await driver.execute("m21.refactor", target(driver))
    assert failed["kind"] == "invalid_python", failed
    explained = await driver.execute("m21.explain", target(driver))
    assert explained["kind"] == "explained"
    await stop_driver(driver)
    assert not marker.exists(), "model output was executed"
    assert len(model_server.requests) == 4
