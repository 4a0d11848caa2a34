"""The CLI against failing endpoints: log lines, doctor's verdicts, and its messages.

Progress and retries are checked through ``m21-lsp`` run as a process with stderr piped
(not a terminal, as in CI or a log file); doctor and the messages run in-process, which is
the same code and faster. Expected texts are written here by hand.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from m21_lsp.cli import main
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

LINES = "6-13"  # total_price in fixtures/sources/sample_basic.py
LABEL = "Refactor with m2-1"
SPINNER = re.compile("[\r\x1b⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")


@pytest.fixture
def sample(tmp_path: Path, fixtures_dir: Path) -> Path:
    target = tmp_path / "shop.py"
    shutil.copyfile(fixtures_dir / "sources" / "sample_basic.py", target)
    return target


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("M21_") and k != "AIMLAPI_KEY"}
    env.update(extra)
    return env


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def cli_process(
    srv: ScriptedModelServer, key: str, *argv: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "m21_lsp", *argv],
        capture_output=True,
        text=True,
        env=clean_env(M21_API_KEY=key, M21_BASE_URL=srv.base_url, **extra),
        timeout=120,
    )


# --------------------------------------------------------------- progress in a log


def test_a_log_gets_one_line_per_retry_and_phase_and_no_spinner(
    model_server: ScriptedModelServer, sentinel_key: str, sample: Path
) -> None:
    model_server.enqueue(
        Step(status=429, headers={"Retry-After": "0"}, body={"message": "Slow down."}),
        Step(status=503, headers={"Retry-After": "0"}),
        Step(fixture="refactor_basic"),
    )
    done = cli_process(
        model_server, sentinel_key, "refactor", str(sample), "--lines", LINES, M21_TIMEOUT="30"
    )
    assert done.returncode == 0, done.stderr
    assert not SPINNER.search(done.stderr), repr(done.stderr)
    lines = done.stderr.splitlines()
    assert lines[:6] == [
        f"{LABEL}: waiting for the model",
        f"{LABEL}: rate limited: retrying in 0 s (attempt 2 of 3)",
        f"{LABEL}: waiting for the model",
        f"{LABEL}: the endpoint failed: retrying in 0 s (attempt 3 of 3)",
        f"{LABEL}: waiting for the model",
        f"{LABEL}: the model is thinking",
    ], done.stderr
    assert lines[6:8] == [f"{LABEL}: the model is writing", f"{LABEL}: checking the code"]
    (summary,) = lines[8:]
    assert re.fullmatch(
        rf"{LABEL}: done in \d+\.\d s \(1 model call\): 120 prompt \+ \d+ completion tokens"
        r" \(\d+ thinking\), 3 credits",
        summary,
    ), summary
    assert len(model_server.requests) == 3
    assert sentinel_key not in done.stderr + done.stdout


def test_a_retry_after_past_the_timeout_fails_at_once_in_one_sentence(
    model_server: ScriptedModelServer, sentinel_key: str, sample: Path
) -> None:
    model_server.enqueue(
        Step(
            status=429,
            headers={"Retry-After": "70"},
            body={"error": {"message": "Rate limit exceeded."}},
        ),
        Step(fixture="refactor_basic"),
    )
    before = sample.read_bytes()
    done = cli_process(
        model_server, sentinel_key, "refactor", str(sample), "--lines", LINES, M21_TIMEOUT="60"
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "m21-lsp: The model endpoint is rate limiting requests (HTTP 429: Rate limit exceeded) "
        "and asked to wait 70 s before retrying, longer than the timeout setting allows (60 s), "
        "so it was not retried. Try again later, or raise timeout (M21_TIMEOUT)."
    )
    assert len(model_server.requests) == 1
    assert sample.read_bytes() == before


def test_explain_in_a_log_ends_with_usage_not_reported(
    model_server: ScriptedModelServer, sentinel_key: str, sample: Path
) -> None:
    model_server.enqueue(Step(fixture="explain_basic", include_usage=False))
    done = cli_process(model_server, sentinel_key, "explain", str(sample), "--lines", LINES)
    assert done.returncode == 0, done.stderr
    last = done.stderr.splitlines()[-1]
    assert re.fullmatch(
        r"Explain with m2-1: done in \d+\.\d s \(1 model call\): usage not reported", last
    ), last
    assert " 0 prompt" not in done.stderr


def test_json_usage_is_null_and_flagged_when_not_reported(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic", include_usage=False))
    import json

    code, out, err = run("refactor", str(sample), "--lines", LINES, "--json")
    assert code == 0, err
    usage = json.loads(out)["usage"]
    assert usage["reported"] is False
    assert usage["promptTokens"] is None and usage["completionTokens"] is None
    assert "usage not reported" in err


# --------------------------------------------------------------------------- doctor


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (404, "baseUrl (M21_BASE_URL) is probably wrong"),
        (500, "had a server error (HTTP 500"),
        (503, "had a server error (HTTP 503"),
        (429, "is rate limiting requests (HTTP 429"),
        (405, "baseUrl (M21_BASE_URL) probably does not point at an OpenAI-compatible API"),
    ],
)
def test_doctor_fails_on_anything_but_2xx_and_names_the_setting(
    env: str, model_server: ScriptedModelServer, status: int, says: str
) -> None:
    model_server.models_step = Step(status=status)
    code, out, _ = run("doctor")
    assert code == 1, out
    assert says in out, out
    assert " answers (HTTP" not in out
    assert env not in out


def test_doctor_explains_a_404_from_a_base_url_without_v1(
    env: str, monkeypatch: pytest.MonkeyPatch, model_server: ScriptedModelServer
) -> None:
    root = f"http://127.0.0.1:{model_server.port}"
    monkeypatch.setenv("M21_BASE_URL", root)
    code, out, _ = run("doctor")
    assert code == 1
    assert (
        f"problem: {root}/models was not found (HTTP 404: no route GET /models). baseUrl "
        f"(M21_BASE_URL) is probably wrong: OpenAI-compatible endpoints usually end in /v1 "
        f"(try {root}/v1)."
    ) in out.splitlines(), out


def test_doctor_passes_when_the_model_is_listed(
    env: str, model_server: ScriptedModelServer
) -> None:
    code, out, _ = run("doctor")
    assert code == 0, out
    assert f"endpoint: {model_server.base_url} answers (HTTP 200 for /models)." in out
    assert "model: minimax/m2-1 is among the 2 models the endpoint lists." in out


def test_doctor_warns_when_the_model_is_not_listed(
    env: str, monkeypatch: pytest.MonkeyPatch, model_server: ScriptedModelServer
) -> None:
    monkeypatch.setenv("M21_MODEL", "minimax/m2.1")
    code, out, _ = run("doctor")
    assert code == 0, out  # a warning: some endpoints serve models they do not list
    assert (
        "warning: the endpoint lists 2 models and 'minimax/m2.1' is not among them; check "
        "model (M21_MODEL). Did you mean 'minimax/m2-1' or 'MiniMax-M2.1'?"
    ) in out.splitlines(), out


def test_doctor_says_when_it_cannot_check_the_model(
    env: str, model_server: ScriptedModelServer
) -> None:
    model_server.models = []
    code, out, _ = run("doctor")
    assert code == 0
    assert "model: minimax/m2-1 not checked (the endpoint lists no models)." in out


def test_doctor_fails_on_a_web_page(env: str, model_server: ScriptedModelServer) -> None:
    model_server.models_step = Step(
        status=200, body="<html><body>Welcome</body></html>", headers={"Content-Type": "text/html"}
    )
    code, out, _ = run("doctor")
    assert code == 1
    assert "answered with a web page, not a model list" in out and "/v1" in out


# ------------------------------------------------------------------------ messages


def test_a_syntax_error_names_the_line_of_the_edited_file_and_stops_a_sentence(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.default = Step(fixture="invalid_python")
    code, _, err = run("refactor", str(sample), "--lines", LINES)
    assert code == 1
    message = err.splitlines()[-1]
    assert "Syntax error at line 9 of the file as it would be after the edit, column" in message
    assert ". Nothing was changed." in message, message
    assert not re.search(r"[^.] Nothing was changed", message), message


def test_a_reply_cut_off_in_its_thinking_is_not_called_codeless(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.default = Step(
        content="<think>The loop could become sum() if", finish_reason="stop"
    )
    code, _, err = run("refactor", str(sample), "--lines", LINES)
    assert code == 1
    (message,) = [line for line in err.splitlines() if line.startswith("m21-lsp: ")]
    assert message.startswith(
        "m21-lsp: The model endpoint sent only reasoning and no answer, although it reported "
        "the reply as complete (finish reason 'stop')."
    ), err
    assert "If the endpoint stopped at maxTokens (8192) without saying so" in message
    assert "code block" not in err


@pytest.mark.parametrize(
    ("var", "value", "reason"),
    [
        ("M21_BASE_URL", "http://10.0.0.1/v1", "uses plain http"),
        ("M21_TIMEOUT", "soon", "must be a number"),
    ],
)
def test_a_bad_environment_value_is_reported_once(
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    sample: Path,
    model_server: ScriptedModelServer,
    var: str,
    value: str,
    reason: str,
) -> None:
    monkeypatch.setenv(var, value)
    code, out, err = run("refactor", str(sample), "--lines", LINES)
    assert code == 1
    assert err.count(value) == 1, err
    assert f"{var}={value!r} {reason}" in err, err
    assert "keeping" not in err  # the CLI stops; it keeps nothing
    code, out, _ = run("doctor")
    assert code == 1
    assert out.count(value) == 1, out
    if var == "M21_BASE_URL":  # the key goes neither there nor to the default endpoint
        assert "endpoint: not checked, because M21_BASE_URL is invalid." in out
