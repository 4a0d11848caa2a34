"""``m21-lsp serve`` answers ``initialize`` without importing libcst, httpx or tree-sitter.

Those cost most of a second, and an editor shows nothing from the server before the
``initialize`` answer; ``lsp/lazy.py`` imports them in a thread once ``initialized`` has
arrived. The server is started through the console script, as an editor starts it, with
``PYTHONPROFILEIMPORTTIME`` set: Python then writes one stderr line per module it imports.
The client sends ``initialize``, waits for the answer and ends the session without ever
sending ``initialized``, so everything on stderr was imported on the way to that answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest

# detect-secrets too: it keeps secrets out of prompts, and is loaded after start-up.
HEAVY = ("libcst", "httpx", "httpcore", "tree_sitter", "detect_secrets")
WAIT_S = 60  # a safety net for a hung server, never a timing assertion


def _framed(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_message(stream: IO[bytes]) -> dict[str, Any]:
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if not length:
        raise AssertionError("the server closed its output before answering initialize")
    message: dict[str, Any] = json.loads(stream.read(length))
    return message


def _console_script() -> list[str]:
    """``m21-lsp serve`` from this interpreter's environment (what editors run)."""
    script = Path(sys.executable).with_name("m21-lsp")
    if not script.exists():
        pytest.fail(f"{script} is missing: install the package (pip install -e '.[test]').")
    return [str(script), "serve"]


def imported_before_initialize_answer(command: list[str]) -> list[str]:
    """Every module ``command`` imported until it answered ``initialize``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M21_", "AIMLAPI"))}
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    # Drained on a thread: a full stderr pipe would stop the server before it answers.
    err = bytearray()
    drain = threading.Thread(target=lambda: err.extend(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    drain.start()
    # A hung server is killed after WAIT_S, which ends the read below with an error.
    watchdog = threading.Timer(WAIT_S, proc.kill)
    watchdog.start()
    try:
        initialize = {"processId": os.getpid(), "rootUri": None, "capabilities": {}}
        proc.stdin.write(_framed({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                  "params": initialize}))  # fmt: skip
        proc.stdin.flush()
        while "id" not in (answer := _read_message(proc.stdout)):
            pass  # a log message before the answer
        assert answer["id"] == 1 and "capabilities" in answer["result"], answer
        proc.stdin.write(_framed({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        proc.stdin.write(_framed({"jsonrpc": "2.0", "method": "exit"}))
        proc.stdin.flush()
        proc.wait(timeout=WAIT_S)
        drain.join(WAIT_S)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return [
        line.rsplit("|", 1)[-1].strip()
        for line in bytes(err).decode("utf-8", "replace").splitlines()
        if line.startswith("import time:") and "|" in line
    ]


def test_serve_answers_initialize_without_the_heavy_imports() -> None:
    modules = imported_before_initialize_answer(_console_script())
    # The probe works: the server's own modules and pygls were seen being imported.
    assert "m21_lsp.lsp.server" in modules and "pygls.lsp.server" in modules, modules[-20:]
    heavy = sorted({m for m in modules if m.split(".")[0] in HEAVY})
    assert not heavy, f"imported before the initialize answer: {heavy}"
    assert "m21_lsp.pipeline.run" not in modules
