"""``m21-lsp refactor`` on Go and TypeScript files: the tree-sitter check applies to the
CLI too (the language comes from the file's extension). Expected files are written by hand
in ``tests/pipeline/syntax_cases.py``; every refusal leaves the file byte for byte."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from m21_lsp.cli import main
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from syntax_cases import CASES, Case

BY_ID = {c.language_id: c for c in CASES}


@pytest.fixture
def env(env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI tests' environment, with one repair turn (what these tests count on)."""
    monkeypatch.setenv("M21_REPAIR_TURNS", "1")
    return env


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _write(tmp_path: Path, case: Case) -> tuple[Path, str]:
    target = tmp_path / Path(case.path).name
    target.write_text(case.source, encoding="utf-8")
    first = case.head.count("\n") + 1
    last = first + case.old.count("\n") - 1
    return target, f"{first}-{last}"


@pytest.mark.parametrize(("language", "name"), [("go", "go"), ("typescript", "ts")])
def test_dropped_brace_is_refused_and_the_file_untouched(
    env: str, tmp_path: Path, model_server: ScriptedModelServer, language: str, name: str
) -> None:
    target, lines = _write(tmp_path, BY_ID[language])
    model_server.default = Step(fixture=f"syntax_{name}_dropped_brace")
    before = target.read_bytes()
    code, out, err = run("refactor", str(target), "--lines", lines, "--apply")
    assert code == 1
    assert "not valid" in err and "line " in err and "after 1 repair turn" in err
    assert out == ""
    assert target.read_bytes() == before
    assert len(model_server.requests) == 2
    assert env not in err


@pytest.mark.parametrize(
    ("language", "name", "fixture"),
    [("go", "go", "syntax_go_range"), ("typescript", "ts", "syntax_ts_reduce")],
)
def test_fixed_on_repair_is_applied(
    env: str,
    tmp_path: Path,
    model_server: ScriptedModelServer,
    language: str,
    name: str,
    fixture: str,
) -> None:
    case = BY_ID[language]
    target, lines = _write(tmp_path, case)
    model_server.enqueue(Step(fixture=f"syntax_{name}_dropped_brace"), Step(fixture=fixture))
    code, out, err = run("refactor", str(target), "--lines", lines, "--apply", "--json")
    assert code == 0, err
    assert json.loads(out)["syntaxChecked"] is True
    assert target.read_text(encoding="utf-8") == case.expected
