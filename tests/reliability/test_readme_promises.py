"""Two promises of the README, checked on the real server over stdio.

* "``textDocument/codeAction`` answers ... no model call, no parse": the server is
  ``debug_server.py`` (the real server plus a read-only count of the parses its own code
  made: libcst, ``ast.parse``, tree-sitter), the model is the scripted server, which counts
  requests. Many code actions, on Python and on JavaScript, warm and after typing, must leave
  both counts where they were; then one refactor must move both (the probes work).
* Nothing from a reply is executed: replies whose code, reasoning and explanation would
  write a marker file if they were ever run, imported or evaluated go through refactor,
  explain and hover (server) and refactor and explain (CLI); the marker never appears,
  while the edit with that code does land (it was handled as text).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_driver import Driver, server_env, start_driver, stop_driver
from lsprotocol import types
from m21_lsp.cli import main as cli_main
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

KEY = "sk-m21-promises-0123456789abcdef0123456789"
PY_URI = "file:///promises/mod.py"
JS_URI = "file:///promises/app.js"
PY_TEXT = (
    "import os\n\n\n"
    "def f(x):\n"
    '    """Add one."""\n'
    "    return x + 1\n\n\n"
    "class A:\n"
    "    def g(self, y):\n"
    "        if y:\n"
    "            return y * 2\n"
    "        return 0\n"
)
JS_TEXT = "function add(a, b) {\n  return a + b;\n}\n\nconst x = add(1, 2);\n"


@pytest_asyncio.fixture
async def debug_lsp(model_server: ScriptedModelServer) -> AsyncIterator[Driver]:
    driver = await start_driver(server_env(model_server.base_url, KEY), debug=True)
    yield driver
    await stop_driver(driver)


async def parses(driver: Driver) -> dict[str, int]:
    counts: dict[str, int] = await driver.execute("m21.debug.parses", [])
    return counts


@pytest.mark.asyncio
async def test_code_actions_make_no_model_call_and_no_parse(
    debug_lsp: Driver, model_server: ScriptedModelServer
) -> None:
    model_server.default = Step(content="```python\ndef f(x):\n    return 1 + x\n```\n")
    debug_lsp.open(PY_URI, PY_TEXT)
    debug_lsp.open(JS_URI, JS_TEXT, language_id="javascript")
    offered = 0
    for uri, text in ((PY_URI, PY_TEXT), (JS_URI, JS_TEXT)):
        for start in range(0, len(text), 3):
            for end in (start, min(len(text), start + 17)):
                offered += len(await debug_lsp.code_actions(uri, start, end))
        # After typing (a version the server has not seen), and after undoing it.
        for at in range(0, len(text), 11):
            debug_lsp.edit(uri, at, at, " ")
            offered += len(await debug_lsp.code_actions(uri, at, at + 5))
            debug_lsp.edit(uri, at, at + 1, "")
            offered += len(await debug_lsp.code_actions(uri, at, at))
    assert offered > 100  # the requests were answered with actions, not refused
    assert model_server.requests == [], "a code action called the model"
    assert await parses(debug_lsp) == {}, "a code action parsed the document"

    # The probes see what they count: one refactor asks the model and parses.
    start = PY_TEXT.index("def f")
    end = PY_TEXT.index("class A")
    assert debug_lsp.text(PY_URI) == PY_TEXT
    arg = {
        "uri": PY_URI,
        "version": debug_lsp.doc_version(PY_URI),
        "range": debug_lsp.range_of(PY_URI, start, end),
    }
    result = await debug_lsp.execute("m21.refactor", [arg])
    assert result["applied"] is True, result
    assert len(model_server.requests) == 1
    assert sum((await parses(debug_lsp)).values()) > 0


def marker_reply(marker: Path, where: str) -> tuple[str, str]:
    """Python that writes ``marker`` when run, imported or evaluated, at every level a
    careless pipeline could run it: module statements, a default argument evaluated at
    ``def`` time, a decorator, a class body; plus the same in the reasoning."""
    m = repr(str(marker))
    code = (
        f"__import__('pathlib').Path({m}).write_text('{where}: module level')\n\n\n"
        f"@(lambda fn: __import__('pathlib').Path({m}).write_text('{where}: decorator') and fn)\n"
        f"def f(x, _=__import__('pathlib').Path({m}).write_text('{where}: default')):\n"
        "    return x + 1\n"
    )
    think = (
        f"<think>Maybe this:\n```python\nopen({m}, 'w').write('{where}: reasoning')\n```\n"
        "no, keep it.</think>\n"
    )
    return code, f"{think}```python\n{code}```\n"


@pytest.mark.asyncio
async def test_nothing_from_a_reply_is_executed_by_the_server(
    debug_lsp: Driver, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    marker = tmp_path / "executed"
    code, reply = marker_reply(marker, "server refactor")
    model_server.default = Step(content=reply)
    debug_lsp.open(PY_URI, PY_TEXT)
    start, end = PY_TEXT.index("def f"), PY_TEXT.index("class A")
    rng = debug_lsp.range_of(PY_URI, start, end)
    result = await debug_lsp.execute("m21.refactor", [{"uri": PY_URI, "version": 1, "range": rng}])
    assert result["applied"] is True, result
    assert "write_text('server refactor: default')" in debug_lsp.text(PY_URI)  # landed as text

    explanation = (
        f"<think>```python\nopen({str(marker)!r}, 'w')\n```</think>\n"
        f"It adds one. Try it:\n\n```python\n{code}```\n"
        f"`__import__('pathlib').Path({str(marker)!r}).touch()`\n"
    )
    model_server.default = Step(content=explanation)
    debug_lsp.open(JS_URI, PY_TEXT)  # a second copy, unedited, for explain and hover
    rng = debug_lsp.range_of(JS_URI, start, end)
    explained = await debug_lsp.execute(
        "m21.explain", [{"uri": JS_URI, "version": 1, "range": rng}]
    )
    assert explained["kind"] == "explained", explained
    assert "It adds one" in explained["markdown"]
    hover: Any = await debug_lsp.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=JS_URI),
            position=types.Position(line=4, character=6),
        )
    )
    assert hover is not None and "It adds one" in str(hover.contents), hover
    assert not marker.exists(), marker.read_text()


def test_nothing_from_a_reply_is_executed_by_the_cli(
    model_server: ScriptedModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "executed"
    source = tmp_path / "mod.py"
    source.write_text(PY_TEXT, encoding="utf-8")
    for name in [k for k in __import__("os").environ if k.startswith("M21_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("M21_API_KEY", KEY)
    monkeypatch.setenv("M21_BASE_URL", model_server.base_url)
    code, reply = marker_reply(marker, "cli refactor")
    model_server.default = Step(content=reply)
    out, err = io.StringIO(), io.StringIO()
    assert cli_main(["refactor", str(source), "--lines", "4-6", "--apply"], out=out, err=err) == 0
    assert "write_text('cli refactor: default')" in source.read_text(encoding="utf-8")

    model_server.default = Step(content=f"It adds one.\n\n```python\n{code}```\n")
    out = io.StringIO()
    assert cli_main(["explain", str(source), "--lines", "4-6"], out=out, err=err) == 0
    assert "It adds one" in out.getvalue()
    assert not marker.exists(), marker.read_text()
