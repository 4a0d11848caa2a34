"""Emacs end-to-end: Debian's emacs-nox + elpa-eglot (1.9) in batch mode, with the real server.

Eglot neither resolves code actions nor shows work-done progress, so this proves the plain
client path: the action's `command` alone does the work, and the server tells the user that
it started and how it ended with `window/showMessage`. The file is checked on disk after
eglot applied the server's edit and saved.

Eglot runs with its defaults: `workspace/executeCommand` is a synchronous request that gives
up after `jsonrpc-default-request-timeout` (10 s), and the scripted model takes longer than
that to send its first byte, as M2.1 does while it thinks. The server answers the command at
once (server/m21_lsp/lsp/detach.py); keys typed while the model works (at the end of a line
outside the selection, with `execute-kbd-macro`) must land, and the edit lands around them.

Batch Emacs, not `emacs -nw` under tmux: its timers, process output and keyboard macros are
Emacs's own, and a scenario's steps come back as JSON rather than a screen to scrape. The one
thing batch Emacs does not do is run idle timers, so the harness sends the didChange after
typing itself, as eglot's idle timer would half a second after the last key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from m21_editor_case import (
    EXPLAIN_REPLY,
    EXPLANATION_SENTENCE,
    NEW_FUNCTION,
    OLD_FUNCTION,
    REASONING,
    REFACTOR_REPLY,
    SOURCE,
    assert_no_key,
    expected_after_refactor,
    line_span,
    write_project,
)
from m21_lsp.testing.scripted_server import Step

pytestmark = pytest.mark.editor

HARNESS = Path(__file__).resolve().parent / "emacs" / "test-eglot.el"
REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 45  # upper bound of each wait inside Emacs (not eglot's timeout: that is 10 s)
PROCESS_TIMEOUT = 180
# The model's first byte comes after this long: more than eglot's 10 s request timeout.
MODEL_SECONDS = 12.0
TYPED_REFACTOR = "  # typed while m2-1 refactored"
TYPED_EXPLAIN = "  # typed while m2-1 explained"
APPLIED = re.compile(r"Refactor with m2-1: Applied \(\d+ lines? changed\)\.")


@pytest.fixture
def emacs(editor_binary) -> str:
    path = editor_binary("emacs", "emacs-nox")
    probe = subprocess.run(
        [path, "--batch", "--eval", "(require 'eglot)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        reason = "eglot is not installed for Emacs (install the Debian package elpa-eglot)"
        if os.environ.get("M21_REQUIRE_EDITORS") == "1":
            pytest.fail(f"M21_REQUIRE_EDITORS=1 but {reason}")
        pytest.skip(reason)
    return path


def _project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


def _run_emacs(emacs: str, env: dict[str, str], cwd: Path, result_path: Path) -> tuple[dict, str]:
    """Run the batch harness; returns its JSON result and everything Emacs printed."""
    proc = subprocess.Popen(
        [emacs, "--batch", "-l", str(HARNESS)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a hang kills Emacs and the server it started
    )
    try:
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"emacs did not finish within {PROCESS_TIMEOUT}s\n{out}{err}")
    output = out + err
    if not result_path.exists():
        pytest.fail(f"emacs exited {proc.returncode} without a result\n{output}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    assert result["ok"] is True and proc.returncode == 0, (
        f"scenario failed (exit {proc.returncode}): {result.get('error')}\n"
        f"steps: {result.get('steps')}\nshown: {result.get('shown')}\n{output}"
    )
    return result, output


def _assert_no_key(key: str, output: str, result_path: Path) -> None:
    assert_no_key(key, output, result_path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("setup", ["command", "documented-snippet"])
def test_eglot_refactor_and_explain_through_commands(
    setup, emacs, editor_env, m21_server_cmd, model_server, tmp_path
):
    """``command``: eglot started with the test's server command. ``documented-snippet``:
    editors/emacs/m21-eglot.el (the snippet docs/editors.md shows) and eglot's own guess,
    which starts `m21-lsp` from PATH as a user's Emacs would."""
    target = _project(tmp_path)
    result_path = tmp_path / "result.json"
    model_server.enqueue(
        Step(content=REFACTOR_REPLY, first_byte_delay=MODEL_SECONDS),
        Step(content=EXPLAIN_REPLY, first_byte_delay=MODEL_SECONDS),
    )
    lines = expected_after_refactor(SOURCE).split("\n")
    assert lines[2] == "import json", lines[:3]
    lines[0] += TYPED_EXPLAIN
    lines[2] += TYPED_REFACTOR
    expected = "\n".join(lines)

    env = dict(editor_env)
    env.update(
        M21_FILE=str(target),
        M21_RESULT=str(result_path),
        M21_SERVER_CMD=json.dumps(m21_server_cmd),
        M21_RANGE="{},{}".format(*line_span(SOURCE, OLD_FUNCTION)),
        M21_EXPLAIN_RANGE="{},{}".format(*line_span(expected, NEW_FUNCTION)),
        M21_WAIT_SECONDS=str(WAIT_SECONDS),
        M21_TYPE_REFACTOR=f"3:{TYPED_REFACTOR}",
        M21_TYPE_EXPLAIN=f"1:{TYPED_EXPLAIN}",
    )
    if setup == "documented-snippet":
        if shutil.which("m21-lsp", path=editor_env["PATH"]) is None:
            pytest.fail("m21-lsp is not on PATH: `pip install -e .` installs it")
        env["M21_SNIPPET"] = str(REPO_ROOT / "editors" / "emacs" / "m21-eglot.el")
    result, output = _run_emacs(emacs, env, target.parent, result_path)

    # The edit eglot applied from workspace/applyEdit around the keys typed meanwhile, saved.
    assert result["refactor_rewrite_typed_while_working"] is True, result["steps"]
    assert result["refactor_explain_typed_while_working"] is True, result["steps"]
    assert target.read_text(encoding="utf-8") == expected
    assert result["modified"] is True
    assert "workspace/applyEdit" in result["requested"]
    if setup == "documented-snippet":
        assert result["contact"].startswith('("m21-lsp" "serve" "--stdio"'), result["contact"]

    # No progress for eglot: a start message and an outcome message instead.
    assert "$/progress" not in result["notified"]
    assert "window/workDoneProgress/create" not in result["requested"]
    start, outcome = result["refactor_messages"]
    assert start == "Refactor with m2-1: started…", result["refactor_messages"]
    assert APPLIED.fullmatch(outcome), result["refactor_messages"]

    # Explain: messages, then the explanation on hover over the same code, reasoning stripped.
    assert list(result["explain_messages"]) == [
        "Explain with m2-1: started…",
        "Explanation ready: hover the selection to read it.",
    ]
    assert EXPLANATION_SENTENCE in (result["hover"] or "")
    assert REASONING not in (result["hover"] or "")

    assert len(model_server.requests) == 2
    sent = json.dumps(model_server.requests[0].json["messages"])
    assert "for i in range(len(items))" in sent, "the selection did not reach the model"
    _assert_no_key(editor_env["M21_API_KEY"], output, result_path)


def test_eglot_rejected_key_is_one_clear_error_and_no_edit(
    emacs, editor_env, m21_server_cmd, model_server, tmp_path
):
    """The endpoint rejects the key and echoes it back in its error body: eglot gets the start
    message and one error saying what to do, the key scrubbed from it, and the file stays."""
    key = editor_env["M21_API_KEY"]
    target = _project(tmp_path)
    result_path = tmp_path / "result.json"
    model_server.default = Step(
        status=401, body={"message": f"Invalid API key: {key}", "statusCode": 401}
    )
    env = dict(editor_env)
    env.update(
        M21_FILE=str(target),
        M21_RESULT=str(result_path),
        M21_SERVER_CMD=json.dumps(m21_server_cmd),
        M21_RANGE="{},{}".format(*line_span(SOURCE, OLD_FUNCTION)),
        M21_ONLY_REFACTOR="1",
        M21_WAIT_SECONDS=str(WAIT_SECONDS),
    )
    result, output = _run_emacs(emacs, env, target.parent, result_path)

    assert target.read_text(encoding="utf-8") == SOURCE
    assert not result["modified"]
    assert "workspace/applyEdit" not in result["requested"]
    shown = result["shown"]
    assert len(shown) == 2, shown
    assert shown[0]["type"] == 3 and "started" in shown[0]["message"]
    assert shown[1]["type"] == 1, shown  # an error, once
    assert "M21_API_KEY" in shown[1]["message"], "the error does not say what to fix"
    assert model_server.requests, "the server never called the model"
    _assert_no_key(key, output, result_path)
