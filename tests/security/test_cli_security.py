"""The command line under attack: every path with a sentinel key (success, --json,
--apply, explain, doctor, demo, and each error status echoing the key), secret-looking
files, unsafe endpoints, and model output that must never run.

Everything printed (stdout and stderr, with M21_DEBUG on so details print too) is searched
for the key and for any 8-character piece of it. A few runs are real processes (so Python
warnings, logging and tracebacks would show); the rest call ``main()`` in this process,
which prints through the same code and is much faster.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from m21_lsp.cli import main
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from security_helpers import assert_no_leak

REPO = Path(__file__).resolve().parents[2]
SOURCE = "import os\n\n\ndef total(items):\n    s = 0\n    for i in items:\n        s += i\n    return s\n"
REPLY = "<think>use sum</think>\n```python\ndef total(items):\n    return sum(items)\n```\n"
EXPLANATION = "<think>hm</think>\nIt adds up the items."
LINES = ["--lines", "4-8"]


def cli(
    *args: str, key: str | None, base_url: str | None, cwd: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``m21-lsp`` as a real process with a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("M21_") and k != "AIMLAPI_KEY"}
    env["PYTHONPATH"] = str(REPO / "server") + os.pathsep + env.get("PYTHONPATH", "")
    env["M21_DEBUG"] = "1"
    if key is not None:
        env["M21_API_KEY"] = key
    if base_url is not None:
        env["M21_BASE_URL"] = base_url
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "m21_lsp", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_in_process(
    monkeypatch: pytest.MonkeyPatch, *argv: str, key: str, base_url: str, **extra: str
) -> tuple[int, str]:
    """The CLI's ``main()`` in this process, with a clean environment."""
    for var in list(os.environ):
        if var.startswith("M21_") or var == "AIMLAPI_KEY":
            monkeypatch.delenv(var)
    monkeypatch.setenv("M21_API_KEY", key)
    monkeypatch.setenv("M21_BASE_URL", base_url)
    monkeypatch.setenv("M21_DEBUG", "1")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue() + err.getvalue()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(SOURCE)
    return path


def test_the_cli_process_keeps_the_key_secret(
    model_server: ScriptedModelServer, sentinel_key: str, source: Path, tmp_path: Path
) -> None:
    key = sentinel_key
    echo = {"message": f"key {key} rejected (Bearer {key})", "statusCode": 401}
    runs: list[tuple[list[str], list[Step], int]] = [
        (["refactor", str(source), *LINES, "--json"], [Step(content=REPLY)], 0),
        (["refactor", str(source), *LINES], [Step(status=401, body=echo)], 1),
        (["doctor"], [], 0),
        (["refactor", str(source), *LINES, "--apply"], [Step(content=REPLY)], 0),
    ]
    for argv, steps, code in runs:
        model_server.enqueue(*steps)
        done = cli(*argv, key=key, base_url=model_server.base_url, cwd=tmp_path)
        assert done.returncode == code, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert_no_leak(done.stdout + done.stderr, key, f"the output of {argv[0]}")
    assert "sum(items)" in source.read_text()  # --apply really ran
    assert any(r.path.endswith("/models") for r in model_server.requests)  # doctor asked
    assert all(r.headers.get("authorization") == f"Bearer {key}" for r in model_server.requests)


def test_every_cli_path_keeps_the_key_secret(
    monkeypatch: pytest.MonkeyPatch,
    model_server: ScriptedModelServer,
    sentinel_key: str,
    source: Path,
) -> None:
    key = sentinel_key
    masked = key[:26] + "*" * 8 + key[-4:]
    refactor, explain = ["refactor", str(source), *LINES], ["explain", str(source), *LINES]
    runs: list[tuple[list[str], list[Step], int, dict[str, str]]] = [
        (refactor, [Step(content=REPLY)], 0, {}),
        (explain, [Step(content=EXPLANATION)], 0, {}),
        ([*explain, "--json"], [Step(content=EXPLANATION)], 0, {}),
        (refactor, [Step(status=401, body={"error": {"message": f"bad key {masked}"}})], 1, {}),
        (
            [*refactor, "--json"],
            [Step(status=403, body={"title": "Forbidden", "status": 403, "error": {"k": key}})],
            1,
            {},
        ),
        (explain, [Step(status=400, body=f"bad: {key}")], 1, {}),
        (
            refactor,
            [Step(status=500, body={"message": key}, headers={"Retry-After": "0"})] * 3,
            1,
            {},
        ),
        (
            refactor,
            [Step(content="x", base_resp={"status_code": 1004, "status_msg": f"auth {key}"})],
            1,
            {},
        ),
        (refactor, [Step(content=f"<think>{key}", finish_reason="length")], 1, {}),
        (refactor, [Step(content=f"<think>{key}</think>\nno code at all")], 1, {}),
        (["doctor"], [], 1, {"M21_MAX_TOKENS": "lots"}),
        (["demo"], [], 0, {}),
    ]
    for argv, steps, expected, extra in runs:
        model_server.enqueue(*steps)
        code, output = run_in_process(
            monkeypatch, *argv, key=key, base_url=model_server.base_url, **extra
        )
        assert code == expected, (argv, output)
        assert_no_leak(output, key, f"the output of {argv}")
    assert len([r for r in model_server.requests if r.path.endswith("/completions")]) == 12


def test_the_cli_refuses_secret_looking_files(
    monkeypatch: pytest.MonkeyPatch,
    model_server: ScriptedModelServer,
    sentinel_key: str,
    tmp_path: Path,
) -> None:
    model_server.default = Step(content=REPLY)
    names = [
        ".env",
        ".env.local",
        "x.pem",
        "deploy.key",
        "id_rsa",
        "secrets.yaml",
        "credentials.py",
    ]
    for name in names:
        secret = tmp_path / name
        secret.write_text(SOURCE)
        for argv in (
            ["refactor", str(secret), *LINES, "--apply"],
            ["explain", str(secret), *LINES],
        ):
            code, output = run_in_process(
                monkeypatch, *argv, key=sentinel_key, base_url=model_server.base_url
            )
            assert code == 1, (name, output)
            assert "secretGlobs" in output and "M21_SECRET_GLOBS" in output, output
            assert secret.read_text() == SOURCE
    assert model_server.requests == []


def test_secret_globs_can_be_changed_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    model_server: ScriptedModelServer,
    sentinel_key: str,
    tmp_path: Path,
) -> None:
    model_server.default = Step(content=EXPLANATION)
    path = tmp_path / ".env"
    path.write_text(SOURCE)
    code, output = run_in_process(
        monkeypatch,
        "explain",
        str(path),
        *LINES,
        key=sentinel_key,
        base_url=model_server.base_url,
        M21_SECRET_GLOBS="*.pem",
    )
    assert code == 0, output
    assert len(model_server.requests) == 1


@pytest.mark.parametrize("command", ["refactor", "explain", "doctor"])
def test_plain_http_to_another_host_is_refused_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch, sentinel_key: str, source: Path, command: str
) -> None:
    for url in ["http://203.0.113.9/v1", "http://api.aimlapi.com/v1", "http://10.0.0.1:8080/v1"]:
        argv = [command] if command == "doctor" else [command, str(source), *LINES]
        code, output = run_in_process(monkeypatch, *argv, key=sentinel_key, base_url=url)
        assert code == 1, (url, output)
        assert "https" in output
        assert source.read_text() == SOURCE
        assert_no_leak(output, sentinel_key)


def test_model_output_is_never_executed_by_the_cli(
    monkeypatch: pytest.MonkeyPatch,
    model_server: ScriptedModelServer,
    sentinel_key: str,
    source: Path,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "EXECUTED"
    code = (
        f"open({str(marker)!r}, 'w').write('imported')\n"
        f"def total(items, _=open({str(marker)!r}, 'w')):\n"
        f"    __import__('os').system('touch {marker}')\n"
        "    return sum(items)\n"
    )
    trap = f"<think>x</think>\n```python\n{code}```\n"
    broken = trap.replace("return sum(items)", "return sum(items")
    model_server.enqueue(
        Step(content=trap),  # --apply: the file gets it, as text
        Step(content=broken),  # invalid, then a repair turn that is invalid again
        Step(content=broken),
        Step(content=trap),  # explain
    )

    def run(*argv: str) -> int:
        code, _output = run_in_process(
            monkeypatch, *argv, key=sentinel_key, base_url=model_server.base_url
        )
        return code

    assert run("refactor", str(source), *LINES, "--apply") == 0
    assert "__import__('os').system" in source.read_text()
    source.write_text(SOURCE)
    assert run("refactor", str(source), *LINES) == 1
    assert run("explain", str(source), *LINES) == 0
    assert len(model_server.requests) == 4
    assert not marker.exists(), "model output was executed"
