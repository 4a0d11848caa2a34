"""Recall, end to end: no secret of a format detect-secrets knows reaches the endpoint.

The labelled set (secret_samples.py) is placed in selections, context lines, strings,
comments, f-strings, YAML/JSON/TOML, JS/Go/Rust, CRLF and tab-indented files. Each file is
sent through the CLI and through the real server over stdio (refactor, fix, explain, a user
action, a repair turn), and the scripted model server's log of every request it received is
searched for every value and every 12-character piece of one. The scripted model answers
like a model that keeps the placeholders it saw, so the edits that land must hold every
secret exactly where it was.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_driver import Driver, server_env, start_driver, stop_driver
from m21_lsp.cli import main
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from secret_samples import VALUES, Placement, leaked, placements

FENCE = re.compile(r"Selected code[^\n]*:\n(`{3,})[\w+-]*\n(.*?)\1", re.S)


def echo_model(server: ScriptedModelServer, *, broken_first: bool = False) -> None:
    """Answer each request with the selected code as sent (placeholders kept); with
    ``broken_first`` the first refactor reply does not parse, so a repair turn follows."""
    state = {"broken": broken_first}

    def respond(body: dict[str, Any]) -> Step:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        found = FENCE.search(user)
        if found is None or "explaining" in body["messages"][0]["content"][:200]:
            return Step(content="<think>ok</think>\nIt adds the items up.")
        code = found.group(2)
        if state["broken"]:
            state["broken"] = False
            return Step(content="<think>x</think>\n```python\ndef connect(items:\n```\n")
        return Step(content="<think>keep</think>\n```\n" + code + "```\n")

    server.responder = respond


def requests_text(server: ScriptedModelServer) -> str:
    return "\n".join(json.dumps(r.json) for r in server.requests)


def cli(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedModelServer, *argv: str
) -> tuple[int, str, str]:
    for var in list(os.environ):
        if var.startswith("M21_") or var == "AIMLAPI_KEY":
            monkeypatch.delenv(var)
    monkeypatch.setenv("M21_API_KEY", "sk-test-recall-0000")
    monkeypatch.setenv("M21_BASE_URL", server.base_url)
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("placement", placements(), ids=lambda p: p.name)
def test_the_cli_sends_no_secret_and_keeps_every_one(
    placement: Placement,
    model_server: ScriptedModelServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    echo_model(model_server)
    path = tmp_path / placement.filename
    path.write_bytes(placement.text.encode())
    lines = f"{placement.lines[0]}-{placement.lines[1]}"
    code, out, err = cli(
        monkeypatch, model_server, "refactor", str(path), "--lines", lines, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    code2, _, err2 = cli(monkeypatch, model_server, "explain", str(path), "--lines", lines)
    assert code2 == 0, err2
    assert len(model_server.requests) == 2
    sent = requests_text(model_server)
    assert "_REDACTED" in sent
    assert not leaked(sent, placement.values), f"{placement.name}: secrets reached the model"
    assert not result["changed"], result.get("diff")  # every secret written back as it was
    told = re.search(r"(\d+) secrets? kept out of the prompt", err)
    assert told and result["secretsKeptOut"] == int(told.group(1)) > 0  # counted for scripts
    assert "kept out of the prompt" in err
    assert not leaked(out + err, VALUES)  # nor printed


def test_a_cli_user_action_and_a_repair_turn_send_no_secret(
    model_server: ScriptedModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    placement = placements()[0]
    echo_model(model_server, broken_first=True)
    path = tmp_path / placement.filename
    path.write_text(placement.text)
    lines = f"{placement.lines[0]}-{placement.lines[1]}"
    code, _out, err = cli(
        monkeypatch,
        model_server,
        "refactor",
        str(path),
        "--lines",
        lines,
        "--action",
        "docstrings",
        "--apply",
    )
    assert code == 0, err
    assert len(model_server.requests) == 2  # the reply, and the repair turn
    assert (
        "parse" in requests_text(model_server).lower()
        or "syntax" in requests_text(model_server).lower()
    )
    assert not leaked(requests_text(model_server))
    assert path.read_text() == placement.text


@pytest.mark.parametrize(
    ("setting", "said"), [("1", "secrets: kept out of prompts"), ("0", "secrets: NOT kept out")]
)
def test_doctor_says_whether_secrets_are_kept_out(
    setting: str, said: str, model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("M21_REDACT_SECRETS", setting)
    for var in list(os.environ):
        if var.startswith("M21_") and var != "M21_REDACT_SECRETS":
            monkeypatch.delenv(var)
    monkeypatch.setenv("M21_API_KEY", "sk-test-recall-0000")
    monkeypatch.setenv("M21_BASE_URL", model_server.base_url)
    out, err = io.StringIO(), io.StringIO()
    main(["doctor"], out=out, err=err)
    assert said in out.getvalue()


# ----------------------------------------------------------------------------- the server
@pytest_asyncio.fixture
async def driver(model_server: ScriptedModelServer) -> AsyncIterator[Driver]:
    env = server_env(model_server.base_url, "sk-test-recall-0000")
    started = await start_driver(env, init={"m21": {"actions": ["docstrings"]}})
    yield started
    await stop_driver(started)


def _lang(filename: str) -> str:
    return {
        ".py": "python", ".yaml": "yaml", ".json": "json", ".toml": "toml", ".js": "javascript",
        ".go": "go", ".rs": "rust",
    }[Path(filename).suffix]  # fmt: skip


async def test_the_server_sends_no_secret_from_any_action(
    driver: Driver, model_server: ScriptedModelServer
) -> None:
    echo_model(model_server)
    kinds: list[str] = []
    messages: list[str] = []
    for placement in placements():
        uri = f"file:///proj/{placement.name}/{placement.filename}"
        driver.open(uri, placement.text, _lang(placement.filename))
        text = placement.text
        lines = text.split("\n")
        start = sum(len(line) + 1 for line in lines[: placement.lines[0] - 1])
        end = sum(len(line) + 1 for line in lines[: placement.lines[1]])
        arg = {
            "uri": uri,
            "version": driver.doc_version(uri),
            "range": driver.range_of(uri, start, end),
        }
        calls: list[tuple[str, dict[str, Any]]] = [
            ("m21.refactor", arg),
            ("m21.fix", arg | {"diagnostics": ["E501 line too long"]}),
            ("m21.explain", arg),
        ]
        if placement.filename.endswith(".py"):
            calls.append(("m21.refactor", {**arg, "action": "docstrings"}))
        for name, call in calls:
            call = call | {"version": driver.doc_version(uri)}
            result = await driver.execute(name, [call])
            kinds.append(result["kind"])
            messages.append(result["message"])
        assert driver.text(uri) == text, (
            f"{placement.name}: a secret was not written back as it was"
        )
    sent = requests_text(model_server)
    assert not leaked(sent), "a secret reached the model"
    assert "explained" in kinds and "unchanged" in kinds, kinds
    assert not leaked(driver.all_output() + repr(messages))
    assert any("kept out of the prompt" in r for r in driver.all_output().split("\n"))
