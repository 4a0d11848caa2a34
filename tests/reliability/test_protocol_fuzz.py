"""Protocol fuzzing: malformed and hostile requests to the real server over stdio.

Each case must get an answer (a JSON-RPC error, or a command result that says what went
wrong, shown as one message), must not edit anything, and must leave the server alive: after
every case a follow-up request is answered. One server handles every case in this module, so
damage done by one case would show in the next.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsp_driver import Driver, server_env, start_driver, stop_driver
from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from pygls.exceptions import JsonRpcException

pytestmark = pytest.mark.asyncio(loop_scope="module")

URI = "file:///fuzz/mod.py"
TEXT = 'import os\n\n\ndef f(x):\n    """Add one."""\n    return x + 1\n\n\nclass A:\n    pass\n'
GOOD_REPLY = "<think>ok</think>\n```python\ndef f(x):\n    return 1 + x\n```\n"


@pytest.fixture(scope="module")
def fuzz_model() -> AsyncIterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        server.default = Step(content=GOOD_REPLY)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lsp(fuzz_model: ScriptedModelServer) -> AsyncIterator[Driver]:
    env = server_env(fuzz_model.base_url, "sk-m21-fuzz-0123456789abcdef0123456789")
    driver = await start_driver(env)
    driver.open(URI, TEXT)
    yield driver
    assert driver.alive, "the server died during the protocol fuzzing"
    await stop_driver(driver)


async def answer(driver: Driver, method: str, params: Any) -> tuple[str, Any]:
    """Send a raw request (no client-side validation); ('result', r) or ('error', e)."""
    try:
        result = await driver.raw_request(method, params)
    except JsonRpcException as exc:
        return "error", exc
    return "result", result


async def command(driver: Driver, name: str, arguments: Any) -> tuple[str, Any]:
    return await answer(
        driver, types.WORKSPACE_EXECUTE_COMMAND, {"command": name, "arguments": arguments}
    )


def reset(driver: Driver, model: ScriptedModelServer) -> tuple[int, int, int]:
    """Put the document back and remember what was seen so far."""
    if driver.text(URI) != TEXT:
        driver.close(URI)
        driver.open(URI, TEXT)
    model.default = Step(content=GOOD_REPLY)
    return len(model.requests), len(driver.messages), len(driver.apply_log)


async def check_untouched(
    driver: Driver,
    model: ScriptedModelServer,
    seen: tuple[int, int, int],
    *,
    model_called: bool = False,
) -> None:
    """The server is alive and answering, sent no edit, and (unless allowed) asked the model
    nothing since ``seen``; the document is as it was; no traceback was shown."""
    requests, messages, applies = seen
    assert await driver.responsive()
    assert driver.alive
    new_messages = driver.messages[messages:]
    assert len(driver.apply_log) == applies, "an edit was sent"
    assert driver.text(URI) == TEXT
    if not model_called:
        assert len(model.requests) == requests, "a request reached the model"
    assert "Traceback" not in "".join(m.message for m in new_messages)


async def check_failed_cleanly(
    driver: Driver,
    model: ScriptedModelServer,
    seen: tuple[int, int, int],
    outcome: tuple[str, Any],
    *,
    model_called: bool = False,
) -> None:
    """A command that failed: a JSON-RPC error, or a result that says why (not applied,
    a reason, not internal) and is shown as exactly one error or warning message; and
    nothing was touched (:func:`check_untouched`)."""
    kind, value = outcome
    assert kind in ("result", "error"), outcome
    if kind == "result":
        assert isinstance(value, dict), value
        assert value.get("applied") is False, value
        assert value.get("reason"), value
        assert value.get("kind") != "internal", value
        shown = [m for m in driver.messages[seen[1] :] if value["message"] in m.message]
        assert len(shown) == 1, (value, [m.message for m in driver.messages[seen[1] :]])
        assert shown[0].type in (types.MessageType.Error, types.MessageType.Warning)
    else:
        assert isinstance(value, JsonRpcException), value
    await check_untouched(driver, model, seen, model_called=model_called)


def arg(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uri": URI,
        "version": 1,
        "range": {"start": {"line": 3, "character": 0}, "end": {"line": 6, "character": 0}},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


BAD_ARGUMENTS: dict[str, Any] = {
    "no arguments": None,
    "empty list": [],
    "null argument": [None],
    "string argument": ["file:///fuzz/mod.py"],
    "two arguments": [arg(), arg()],
    "uri missing": [arg(uri=None)],
    "uri is a number": [arg(uri=5)],
    "range missing": [arg(range=None)],
    "range is a string": [arg(range="3:0-6:0")],
    "start missing": [arg(range={"end": {"line": 1, "character": 0}})],
    "line is a string": [
        arg(range={"start": {"line": "3", "character": 0}, "end": {"line": 6, "character": 0}})
    ],
    "character is a float": [
        arg(range={"start": {"line": 3, "character": 0.5}, "end": {"line": 6, "character": 0}})
    ],
    "line is null": [
        arg(range={"start": {"line": None, "character": 0}, "end": {"line": 6, "character": 0}})
    ],
    "instruction is a number": [arg(instruction=42)],
    "instruction is a list": [arg(instruction=["x"])],
    "diagnostics is a string": [arg(diagnostics="E501")],
    "diagnostics hold numbers": [arg(diagnostics=[1, 2])],
    "stale version": [arg(version=999)],
    "version is a string": [arg(version="1")],
    "unknown uri": [arg(uri="file:///fuzz/never-opened.py")],
    "untitled unknown": [arg(uri="untitled:Untitled-9")],
    "weird uri": [arg(uri="::not a uri::")],
    "range past the end": [
        arg(range={"start": {"line": 999, "character": 0}, "end": {"line": 1200, "character": 9}})
    ],
    "blank selection": [
        arg(range={"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}})
    ],
}


@pytest.mark.parametrize("name", ["m21.refactor", "m21.explain", "m21.fix"])
@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
async def test_bad_command_arguments_fail_cleanly(
    lsp: Driver, fuzz_model: ScriptedModelServer, name: str, case: str
) -> None:
    seen = reset(lsp, fuzz_model)
    outcome = await command(lsp, name, BAD_ARGUMENTS[case])
    await check_failed_cleanly(lsp, fuzz_model, seen, outcome)


async def test_an_unknown_command_is_an_error(lsp: Driver, fuzz_model: ScriptedModelServer) -> None:
    seen = reset(lsp, fuzz_model)
    outcome = await command(lsp, "m21.doesNotExist", [arg()])
    assert outcome[0] == "error", outcome
    await check_failed_cleanly(lsp, fuzz_model, seen, outcome)


def _instant_requests(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[str, Any]]:
    rng = {
        "start": {"line": start[0], "character": start[1]},
        "end": {"line": end[0], "character": end[1]},
    }
    return [
        (
            types.TEXT_DOCUMENT_CODE_ACTION,
            {"textDocument": {"uri": URI}, "range": rng, "context": {"diagnostics": []}},
        ),
        (types.TEXT_DOCUMENT_HOVER, {"textDocument": {"uri": URI}, "position": rng["start"]}),
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ((6, 0), (3, 0)),  # reversed
        ((999, 0), (999, 5)),
        ((3, 10_000), (3, 20_000)),
        ((2**31 - 1, 2**31 - 1), (2**31 - 1, 2**31 - 1)),
    ],
)
async def test_odd_positions_in_instant_requests(
    lsp: Driver,
    fuzz_model: ScriptedModelServer,
    start: tuple[int, int],
    end: tuple[int, int],
) -> None:
    """Positions past the end or reversed are valid LSP (a client clamps and orders them):
    each request gets a result, never an error; any action offered carries an ordered
    range inside the document, and hover has nothing to show (nothing was explained)."""
    seen = reset(lsp, fuzz_model)
    lines = TEXT.count("\n")
    for method, params in _instant_requests(start, end):
        kind, value = await answer(lsp, method, params)
        assert kind == "result", (method, value)
        if method == types.TEXT_DOCUMENT_HOVER:
            assert value is None, value
            continue
        assert isinstance(value, list), value
        for action in value:
            rng = action["command"]["arguments"][0]["range"]
            first = (rng["start"]["line"], rng["start"]["character"])
            last = (rng["end"]["line"], rng["end"]["character"])
            assert first <= last and last[0] <= lines, action
    await check_untouched(lsp, fuzz_model, seen)


async def test_invalid_positions_in_instant_requests_get_an_error_response(
    lsp: Driver, fuzz_model: ScriptedModelServer
) -> None:
    seen = reset(lsp, fuzz_model)
    for start, end in [((-1, -4), (0, 0)), ((0, -3), (-3, 2)), ((2**40, 0), (0, 0))]:
        for method, params in _instant_requests(start, end):
            try:
                result = await lsp.raw_request(method, params, timeout=3)
            except JsonRpcException:
                continue  # an error response: what the specification asks for
            raise AssertionError(f"{method} answered {result!r} to invalid positions")
    await check_untouched(lsp, fuzz_model, seen)


async def test_the_server_survives_requests_it_cannot_parse(
    lsp: Driver, fuzz_model: ScriptedModelServer
) -> None:
    """After answering InvalidParams (see above), the server keeps serving."""
    seen = reset(lsp, fuzz_model)
    for method, params in _instant_requests((-1, -4), (2**40, 0)):
        with pytest.raises(JsonRpcException):
            await lsp.raw_request(method, params, timeout=3)
    await check_untouched(lsp, fuzz_model, seen)


@pytest.mark.parametrize(
    ("start", "end"),
    [((-1, -4), (6, 0)), ((6, 0), (3, 0)), ((3, 0), (10_000, 0)), ((3, -1), (6, 99))],
)
async def test_odd_positions_in_commands_refactor_the_clamped_range_or_fail(
    lsp: Driver,
    fuzz_model: ScriptedModelServer,
    start: tuple[int, int],
    end: tuple[int, int],
) -> None:
    """Out-of-range positions clamp as LSP says; the edit that results is still exact."""
    seen = reset(lsp, fuzz_model)
    rng = {
        "start": {"line": start[0], "character": start[1]},
        "end": {"line": end[0], "character": end[1]},
    }
    kind, value = await command(lsp, "m21.refactor", [{"uri": URI, "version": 1, "range": rng}])
    if kind == "result" and value.get("applied"):
        # Exactly the clamped, ordered range was replaced by the model's code.
        a, b = sorted([clamped(TEXT, *start), clamped(TEXT, *end)])
        assert lsp.text(URI) == TEXT[:a] + "def f(x):\n    return 1 + x\n" + TEXT[b:]
        lsp.close(URI)
        lsp.open(URI, TEXT)
        assert await lsp.responsive()
        return
    await check_failed_cleanly(lsp, fuzz_model, seen, (kind, value), model_called=True)


def clamped(text: str, line: int, character: int) -> int:
    """Where a client means (line, character) in ``text``, clamped as LSP says (ASCII)."""
    lines = text.split("\n")
    if line >= len(lines):
        return len(text)
    start = sum(len(x) + 1 for x in lines[:line])
    return start + min(character, len(lines[line]))


async def test_commands_on_a_closed_document_fail_cleanly(
    lsp: Driver, fuzz_model: ScriptedModelServer
) -> None:
    seen = reset(lsp, fuzz_model)
    lsp.close(URI)
    try:
        outcome = await command(lsp, "m21.refactor", [arg()])
        assert outcome[0] == "error" or "not open" in outcome[1]["message"]
        actions = await answer(
            lsp,
            types.TEXT_DOCUMENT_CODE_ACTION,
            {
                "textDocument": {"uri": URI},
                "range": arg()["range"],
                "context": {"diagnostics": []},
            },
        )
        assert actions == ("result", []) or actions[0] == "error"
    finally:
        lsp.open(URI, TEXT)
    messages = len(lsp.messages)
    await check_failed_cleanly(lsp, fuzz_model, (seen[0], seen[1], seen[2]), outcome)
    assert len(lsp.messages) == messages


async def test_closing_the_document_while_the_model_works(
    lsp: Driver, fuzz_model: ScriptedModelServer
) -> None:
    seen = reset(lsp, fuzz_model)
    fuzz_model.default = Step(content=GOOD_REPLY, hold=True)
    pending = lsp.execute("m21.refactor", [arg()])
    assert await asyncio.to_thread(fuzz_model.wait_for_requests, seen[0] + 1)
    lsp.close(URI)
    await lsp.responsive()  # the close is handled before the model answers
    fuzz_model.release()
    result = await pending
    lsp.open(URI, TEXT)
    assert result["applied"] is False and result["kind"] == "stale", result
    await check_failed_cleanly(lsp, fuzz_model, seen, ("result", result), model_called=True)


async def test_changes_to_unknown_documents_and_odd_notifications_are_survived(
    lsp: Driver, fuzz_model: ScriptedModelServer
) -> None:
    seen = reset(lsp, fuzz_model)
    notifications: list[tuple[str, Any]] = [
        (
            types.TEXT_DOCUMENT_DID_CHANGE,
            {
                "textDocument": {"uri": "file:///fuzz/ghost.py", "version": 3},
                "contentChanges": [{"text": "x = 1\n"}],
            },
        ),
        (
            types.TEXT_DOCUMENT_DID_CHANGE,
            {
                "textDocument": {"uri": "file:///fuzz/ghost.py", "version": 4},
                "contentChanges": [
                    {
                        "range": {
                            "start": {"line": 50, "character": 0},
                            "end": {"line": 2, "character": 0},
                        },
                        "text": "y",
                    }
                ],
            },
        ),
        (types.TEXT_DOCUMENT_DID_CLOSE, {"textDocument": {"uri": "file:///fuzz/ghost.py"}}),
        (types.CANCEL_REQUEST, {"id": "no-such-request"}),
        (types.WINDOW_WORK_DONE_PROGRESS_CANCEL, {"token": "no-such-token"}),
        (types.WORKSPACE_DID_CHANGE_CONFIGURATION, {"settings": {"m21": {"maxTokens": "lots"}}}),
        (types.WORKSPACE_DID_CHANGE_CONFIGURATION, {"settings": "not an object"}),
        ("$/m21.unknownNotification", {"a": 1}),
    ]
    for method, params in notifications:
        lsp.raw_notify(method, params)
    assert await lsp.responsive()
    assert lsp.alive
    assert len(fuzz_model.requests) == seen[0]
    assert lsp.text(URI) == TEXT


async def test_a_huge_selection_is_refused_before_any_request(
    lsp: Driver, fuzz_model: ScriptedModelServer
) -> None:
    seen = reset(lsp, fuzz_model)
    uri = "file:///fuzz/huge.py"
    huge = "".join(f"value_{n} = {n}  # {'x' * 40}\n" for n in range(60_000))
    lsp.open(uri, huge)
    try:
        outcome = await command(
            lsp,
            "m21.refactor",
            [
                {
                    "uri": uri,
                    "version": 1,
                    "range": {
                        "start": {"line": 0, "character": 0},
                        "end": {"line": 60_000, "character": 0},
                    },
                }
            ],
        )
        actions = await lsp.code_actions(uri, 0, len(huge))  # still instant and offered
        assert actions
    finally:
        lsp.close(uri)
    kind, value = outcome
    assert kind == "result" and value["kind"] == "limit", value
    assert "maxSelection" in value["message"]
    await check_failed_cleanly(lsp, fuzz_model, seen, outcome)


BINARYISH = [
    "\x00\x01\x02\x03binary\xff\xfe\n",
    "x = '\ud800'\n",  # a lone surrogate, as JSON's \\ud800 escape delivers it
    "\u202e\u2066evil = 1\u2069\n",
    "a\x0cb = 1\n\u2028c = 2\n",
    "\ufeffdef f():\n\treturn '\x1b[31m'\n",
    "é" * 5000 + "\n",
]


@pytest.mark.parametrize("text", BINARYISH, ids=range(len(BINARYISH)))
@pytest.mark.parametrize("name", ["m21.refactor", "m21.explain"])
async def test_binary_looking_text_gets_an_answer(
    lsp: Driver, fuzz_model: ScriptedModelServer, text: str, name: str
) -> None:
    reset(lsp, fuzz_model)
    uri = "file:///fuzz/binary.py"
    lsp.open(uri, text)
    try:
        fuzz_model.default = Step(content="<think>hm</think>\n```python\nz = 3\n```\n")
        outcome = await command(
            lsp,
            name,
            [{"uri": uri, "version": 1, "range": lsp.range_of(uri, 0, len(text))}],
        )
        kind, value = outcome
        assert await lsp.responsive()
        if kind == "result" and value.get("reason") is None:
            assert value["kind"] in ("applied", "explained", "unchanged"), value
            if value["kind"] == "applied":
                assert lsp.text(uri).startswith("z = 3")
        elif kind == "result":
            assert value["kind"] != "internal", value
            assert value["message"].strip()
    finally:
        lsp.close(uri)
    assert lsp.alive
    assert lsp.text(URI) == TEXT


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 1, 2**31, -(2**40), 3.5, float("1e300")])
    if choice == 3:
        return rng.choice(["", URI, "file:///x", "\x00", "é" * 3, "untitled:1", "1"])
    if choice == 4:
        return rng.choice(["uri", "range", "start", "line", "character", "version"])
    if choice == 5:
        return {"line": rng.randrange(-2, 12), "character": rng.randrange(-2, 40)}
    if choice == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["uri", "version", "range", "start", "end", "instruction", "diagnostics", "line"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(1, 5))}


async def test_random_command_arguments_never_hurt_the_server(
    lsp: Driver, fuzz_model: ScriptedModelServer
) -> None:
    rng = random.Random(5)
    applied = 0
    for round_ in range(120):
        seen = reset(lsp, fuzz_model)
        arguments = [_random_json(rng) for _ in range(rng.randrange(3))]
        name = rng.choice(["m21.refactor", "m21.explain", "m21.fix"])
        if rng.random() < 0.5:
            arguments = [
                {
                    "uri": URI,
                    "version": rng.choice([1, None, "1", 2]),
                    "range": _random_json(rng),
                    **({"instruction": _random_json(rng)} if rng.random() < 0.3 else {}),
                }
            ]
        elif rng.random() < 0.4:
            # A well-formed refactor of whole lines (the first may be negative, the last
            # past the end), so that some requests reach the model and apply. Never an
            # empty range: that one means the block at the cursor, not the range.
            lines = sorted(rng.sample(range(-1, 13), 2))
            arguments = [
                {
                    "uri": URI,
                    "version": rng.choice([1, None]),
                    "range": {
                        "start": {"line": lines[0], "character": rng.choice([0, 0, -1])},
                        "end": {"line": lines[1], "character": 0},
                    },
                }
            ]
            name = "m21.refactor"
        kind, value = await command(lsp, name, json.loads(json.dumps(arguments)))
        assert await lsp.responsive(), (round_, arguments)
        if kind == "result":
            assert isinstance(value, dict) and value.get("kind") != "internal", (arguments, value)
        if kind == "result" and value.get("applied"):
            # A valid request slipped through: one edit, inside the range it named.
            assert len(lsp.apply_log) == seen[2] + 1, (arguments, value)
            check_applied_inside(lsp.text(URI), arguments[0]["range"])
            applied += 1
            continue
        # Anything else applied nothing: no edit was even sent, the text is as it was.
        assert len(lsp.apply_log) == seen[2], (arguments, value)
        assert lsp.text(URI) == TEXT, (arguments, value)
    assert lsp.alive
    assert applied, "no request was valid: the applied branch above was never checked"


def check_applied_inside(text: str, rng: dict[str, Any]) -> None:
    """``text`` is ``TEXT`` with the reply's code in place of the (clamped, ordered) range
    and nothing else changed: the lines above and below it are ``TEXT``'s."""
    a, b = sorted(clamped(TEXT, rng[k]["line"], rng[k]["character"]) for k in ("start", "end"))
    above = TEXT[: TEXT.rfind("\n", 0, a) + 1]
    below = TEXT[b:] if b == 0 or TEXT[b - 1] == "\n" else TEXT[TEXT.find("\n", b) + 1 :]
    assert text.startswith(above) and text.endswith(below), (rng, text)
    assert "return 1 + x" in text[len(above) : len(text) - len(below)], (rng, text)
