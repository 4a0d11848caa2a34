"""The command line against the scripted loopback model server.

Expected texts are written out here by hand from the fixture reply, never produced by the
code under test. Every failure path also checks that the file on disk is unchanged.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from m21_lsp.cli import main, parse_lines, parse_range
from m21_lsp.errors import UsageError
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

OLD_FUNCTION = """def total_price(items, tax_rate):
    total = 0
    for i in range(len(items)):
        item = items[i]
        if item["qty"] > 0:
            total = total + item["price"] * item["qty"]
    total = total + total * tax_rate
    return round(total, 2)
"""
NEW_FUNCTION = '''def total_price(items, tax_rate):
    """Sum price * qty over items with a positive quantity, then add tax."""
    subtotal = sum(item["price"] * item["qty"] for item in items if item["qty"] > 0)
    return round(subtotal * (1 + tax_rate), 2)
'''
LINES = "6-13"  # total_price in fixtures/sources/sample_basic.py


@pytest.fixture
def sample(tmp_path: Path, fixtures_dir: Path) -> Path:
    target = tmp_path / "shop.py"
    shutil.copyfile(fixtures_dir / "sources" / "sample_basic.py", target)
    return target


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_refactor_prints_a_diff_and_leaves_the_file_alone(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic"))
    before = sample.read_bytes()
    code, out, err = run("refactor", str(sample), "--lines", LINES, "-i", "use sum()")
    assert code == 0, err
    assert sample.read_bytes() == before
    assert out.startswith("--- a/shop.py\n+++ b/shop.py\n")
    removed = [
        line[1:] for line in out.splitlines() if line.startswith("-") and not line.startswith("---")
    ]
    added = [
        line[1:] for line in out.splitlines() if line.startswith("+") and not line.startswith("+++")
    ]
    assert "    for i in range(len(items)):" in removed
    assert '    """Sum price * qty over items with a positive quantity, then add tax."""' in added
    assert not any("think" in line.lower() for line in added)
    body = model_server.requests[0].json
    assert body["model"] == "minimax/m2-1" and body["stream"] is True
    assert "use sum()" in json.dumps(body["messages"])


def test_apply_rewrites_exactly_the_selection(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic"))
    expected = sample.read_text().replace(OLD_FUNCTION, NEW_FUNCTION)
    code, _, err = run("refactor", str(sample), "--lines", LINES, "--apply")
    assert code == 0, err
    assert sample.read_text() == expected


def test_apply_keeps_crlf_line_endings(
    env: str, tmp_path: Path, fixtures_dir: Path, model_server: ScriptedModelServer
) -> None:
    source = (fixtures_dir / "sources" / "sample_basic.py").read_text()
    target = tmp_path / "crlf.py"
    target.write_bytes(source.replace("\n", "\r\n").encode())
    model_server.enqueue(Step(fixture="refactor_basic"))
    code, _, err = run("refactor", str(target), "--lines", LINES, "--apply")
    assert code == 0, err
    expected = source.replace(OLD_FUNCTION, NEW_FUNCTION).replace("\n", "\r\n")
    assert target.read_bytes() == expected.encode()


def test_json_output_carries_edits_usage_and_applies_cleanly(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(Step(fixture="refactor_basic"))
    code, out, err = run("refactor", str(sample), "--lines", LINES, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["applied"] is False and data["changed"] is True and data["syntaxChecked"] is True
    assert data["usage"]["completionTokens"] > 0
    text = sample.read_text()
    for edit in sorted(data["edits"], key=lambda e: e["startOffset"], reverse=True):
        text = text[: edit["startOffset"]] + edit["newText"] + text[edit["endOffset"] :]
    assert text == sample.read_text().replace(OLD_FUNCTION, NEW_FUNCTION)
    # Only the changed lines are edited: the def line itself is untouched.
    assert all(e["range"]["start"]["line"] >= 6 for e in data["edits"])


def test_explain_prints_markdown_without_reasoning(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(Step(fixture="explain_basic"))
    code, out, err = run("explain", str(sample), "--lines", LINES)
    assert code == 0, err
    assert out.startswith("### What `total_price` does")
    assert "<think>" not in out and "The user wants an explanation" not in out


@pytest.mark.parametrize(
    ("step", "kind_text"),
    [
        (Step(status=401, body={"message": "Invalid API key", "statusCode": 401}), "M21_API_KEY"),
        (Step(status=403, body={"message": "No credits", "statusCode": 403}), "credit"),
        (Step(fixture="no_fences"), "code"),
        (Step(fixture="refactor_truncated", finish_reason="length"), "maxTokens"),
    ],
    ids=["401", "403", "no-code", "truncated"],
)
def test_failures_exit_1_with_advice_and_touch_nothing(
    env: str, sample: Path, model_server: ScriptedModelServer, step: Step, kind_text: str
) -> None:
    model_server.default = step
    before = sample.read_bytes()
    code, out, err = run("refactor", str(sample), "--lines", LINES, "--apply")
    assert code == 1
    assert kind_text.lower() in err.lower()
    assert out == ""
    assert sample.read_bytes() == before
    assert env not in err


def test_invalid_python_gets_one_repair_turn_then_a_clear_error(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.default = Step(fixture="invalid_python")
    before = sample.read_bytes()
    code, _, err = run("refactor", str(sample), "--lines", LINES, "--apply")
    assert code == 1
    assert "not valid Python" in err and "line" in err
    assert sample.read_bytes() == before
    assert len(model_server.requests) == 2  # the first call and one repair turn
    repair = model_server.requests[1].json["messages"]
    assert repair[-2]["role"] == "assistant" and repair[-2]["content"].startswith("<think>")
    assert repair[-1]["role"] == "user"


def test_repair_turn_that_succeeds_is_applied(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(Step(fixture="invalid_python"), Step(fixture="refactor_basic"))
    code, _, err = run("refactor", str(sample), "--lines", LINES, "--apply")
    assert code == 0, err
    assert sample.read_text().count(NEW_FUNCTION) == 1


def test_no_key_names_the_variables_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, sample: Path, model_server: ScriptedModelServer
) -> None:
    monkeypatch.delenv("M21_API_KEY", raising=False)
    monkeypatch.delenv("AIMLAPI_KEY", raising=False)
    monkeypatch.setenv("M21_BASE_URL", model_server.base_url)
    code, _, err = run("refactor", str(sample), "--lines", LINES)
    assert code == 1
    assert "M21_API_KEY" in err and "AIMLAPI_KEY" in err
    assert model_server.requests == []


def test_secret_looking_file_is_refused(
    env: str, tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    secret = tmp_path / ".env.local"
    secret.write_text("TOKEN=abc\nOTHER=def\n")
    code, _, err = run("refactor", str(secret), "--lines", "1-2")
    assert code == 1 and "secrets file" in err
    assert model_server.requests == []


@pytest.mark.parametrize("spec", ["0-3", "5-2", "7-999", "x"])
def test_bad_line_ranges_are_usage_errors(
    env: str, sample: Path, spec: str, model_server: ScriptedModelServer
) -> None:
    code, _, err = run("refactor", str(sample), "--lines", spec)
    assert code == 2 and "--lines" in err
    assert model_server.requests == []


def test_lines_are_inclusive_whole_lines() -> None:
    text = "a\r\nbb\ncc\n"
    assert parse_lines("2-3", text) == (3, 9)
    assert parse_lines("1", text) == (0, 3)
    with pytest.raises(UsageError):
        parse_lines("4-4", text)


def test_range_counts_code_points_end_exclusive() -> None:
    text = "x = '😀é漢'\nsecond\n"
    # Columns are code points: the emoji is one column.
    start, end = parse_range("1:6-1:9", text)
    assert text[start:end] == "😀é漢"
    start, end = parse_range("1:1-2:1", text)
    assert text[start:end] == "x = '😀é漢'\n"
    with pytest.raises(UsageError):
        parse_range("1:20-2:1", text)
    with pytest.raises(UsageError):
        parse_range("2:1-1:1", text)


def apply_while_user_edits(
    sample: Path, model_server: ScriptedModelServer, old: str, new: str
) -> tuple[tuple[int, str, str], str]:
    """Run ``refactor --apply`` and change the file on disk while the model "thinks"."""
    model_server.enqueue(Step(fixture="refactor_basic", hold=True))
    result: dict[str, tuple[int, str, str]] = {}
    worker = threading.Thread(
        target=lambda: result.setdefault(
            "r", run("refactor", str(sample), "--lines", LINES, "--apply")
        )
    )
    worker.start()
    assert model_server.wait_for_requests(1)
    edited = sample.read_text().replace(old, new)
    sample.write_text(edited)
    model_server.release()
    worker.join(timeout=60)
    return result["r"], edited


def test_apply_moves_the_edit_when_the_file_changed_elsewhere_meanwhile(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    """The user edits another part of the file while the model is still thinking."""
    (code, _, err), edited = apply_while_user_edits(
        sample, model_server, "def load_items(path):", "def load_items(path, strict=False):"
    )
    assert code == 0, err
    assert sample.read_text() == edited.replace(OLD_FUNCTION, NEW_FUNCTION)


def test_apply_refuses_when_the_selection_itself_changed(
    env: str, sample: Path, model_server: ScriptedModelServer
) -> None:
    (code, _, err), edited = apply_while_user_edits(
        sample, model_server, "total = 0", "total = 0.0"
    )
    assert code == 1 and "changed" in err
    assert sample.read_text() == edited


def test_doctor_shows_key_as_set_only(env: str, model_server: ScriptedModelServer) -> None:
    code, out, _ = run("doctor")
    assert "apiKey: set" in out
    assert env not in out
    assert f"baseUrl: {model_server.base_url}" in out
    assert code in (0, 1)


def test_console_script_demo_works_offline_without_a_key(tmp_path: Path) -> None:
    clean_env = {
        k: v for k, v in os.environ.items() if not k.startswith("M21_") and k != "AIMLAPI_KEY"
    }
    proc = subprocess.run(
        [sys.executable, "-m", "m21_lsp", "demo"],
        capture_output=True,
        text=True,
        env=clean_env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "RECORDED" in proc.stdout and "recorded, not live" in proc.stdout
    assert "+    subtotal = sum(" in proc.stdout
    assert "-    for i in range(len(items)):" in proc.stdout


def test_usage_errors_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "m21_lsp", "refactor", "x.py"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--lines" in proc.stderr
