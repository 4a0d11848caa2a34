"""``m21-lsp actions`` and ``m21-lsp refactor --action NAME`` against the scripted model.

Expected texts come from the fixture replies, written out here by hand.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from m21_lsp.cli import main
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

NEW_FUNCTION = '''def total_price(items, tax_rate):
    """Sum price * qty over items with a positive quantity, then add tax."""
    subtotal = sum(item["price"] * item["qty"] for item in items if item["qty"] > 0)
    return round(subtotal * (1 + tax_rate), 2)
'''
TESTS_FILE = """from shop import total_price


def test_total_price_of_nothing_is_zero():
    assert total_price([], 0.2) == 0


def test_total_price_skips_zero_quantities_and_adds_tax():
    items = [{"price": 10, "qty": 2}, {"price": 5, "qty": 0}]
    assert total_price(items, 0.5) == 30
"""
LINES = "6-13"
HINTS = {"title": "Add hints", "instruction": "Add type hints, please.", "languages": ["python"]}


@pytest.fixture
def project(tmp_path: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copyfile(fixtures_dir / "sources" / "sample_basic.py", tmp_path / "shop.py")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def _cli_env(env: str) -> None:
    """Every test here runs in the CLI tests' environment (tests/core/conftest.py)."""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_actions_lists_the_environment_ones_then_the_built_ins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("M21_ACTIONS", json.dumps([HINTS]))
    code, out, _ = run("actions", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(a["name"], a["from"]) for a in listed][:2] == [
        ("add-hints", "M21_ACTIONS"),
        ("type-hints", "built-in"),
    ]
    assert {a["name"] for a in listed} >= {"docstrings", "idiomatic", "tests"}
    code, out, _ = run("actions")
    assert code == 0 and out.splitlines()[0].startswith("add-hints")


def test_a_bad_actions_variable_stops_the_cli_naming_the_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("M21_ACTIONS", json.dumps([{"title": "x", "instruction": "y", "oops": 1}]))
    code, _, err = run("actions")
    assert code == 1
    assert "M21_ACTIONS[0] ('x'): unknown key(s) 'oops'" in err


def test_refactor_action_sends_its_instruction_and_applies(
    project: Path, model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("M21_ACTIONS", json.dumps([HINTS]))
    model_server.enqueue(Step(fixture="refactor_basic"))
    code, _, err = run("refactor", "shop.py", "--lines", LINES, "--action", "add-hints", "--apply")
    assert code == 0, err
    assert NEW_FUNCTION in (project / "shop.py").read_text(encoding="utf-8")
    (request,) = model_server.requests
    user = "\n".join(m["content"] for m in request.json["messages"] if m["role"] == "user")
    assert "Add type hints, please." in user
    assert "Add hints with m2-1" in err


def test_an_unknown_or_wrong_language_action_is_a_usage_error(
    project: Path, model_server: ScriptedModelServer
) -> None:
    code, _, err = run("refactor", "shop.py", "--lines", LINES, "--action", "nope")
    assert code == 2 and "no action named 'nope'" in err and "type-hints" in err
    (project / "app.js").write_text("function f() {\n  return 1;\n}\n", encoding="utf-8")
    code, _, err = run("refactor", "app.js", "--lines", "1-3", "--action", "type-hints")
    assert code == 2 and "is for python, not javascript" in err
    assert model_server.requests == []


def test_a_target_action_prints_what_it_would_create_then_creates_it_with_apply(
    project: Path, model_server: ScriptedModelServer, fixtures_dir: Path
) -> None:
    model_server.enqueue(Step(fixture="action_write_tests"), Step(fixture="action_write_tests"))
    code, out, err = run("refactor", "shop.py", "--lines", LINES, "--action", "tests")
    assert code == 0, err
    assert "+def test_total_price_of_nothing_is_zero():" in out
    size = len(TESTS_FILE.encode("utf-8"))
    assert f"Would create tests/test_shop.py ({size} bytes)" in err
    assert not (project / "tests").exists()

    code, _, err = run("refactor", "shop.py", "--lines", LINES, "--action", "tests", "--apply")
    assert code == 0, err
    assert (project / "tests" / "test_shop.py").read_text(encoding="utf-8") == TESTS_FILE
    assert f"Created tests/test_shop.py ({size} bytes)" in err
    original = (fixtures_dir / "sources" / "sample_basic.py").read_bytes()
    assert (project / "shop.py").read_bytes() == original  # the source is never rewritten


def test_a_target_action_appends_to_an_existing_file(
    project: Path, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(Step(fixture="action_write_tests"))
    (project / "tests").mkdir()
    old = "def test_old():\n    assert True\n"
    (project / "tests" / "test_shop.py").write_text(old, encoding="utf-8")
    code, out, err = run(
        "refactor", "shop.py", "--lines", LINES, "--action", "tests", "--apply", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["applied"] is True and report["existed"] is True
    written = (project / "tests" / "test_shop.py").read_text(encoding="utf-8")
    assert written == report["text"]
    assert written.index("def test_old():") < written.index("def test_total_price_of_nothing")
    assert "from shop import total_price\n" in written
