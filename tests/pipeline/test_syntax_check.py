"""The tree-sitter check on non-Python edits, through the pipeline with a scripted client.

Every expected document is written by hand in ``syntax_cases`` (head + new function +
tail), never produced by the code under test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from m21_lsp.config import Settings
from m21_lsp.errors import InvalidSyntax
from m21_lsp.model.types import Completion
from m21_lsp.pipeline import run, syntax
from m21_lsp.pipeline.types import RefactorRequest
from syntax_cases import CASES, Case

SERVER = Path(__file__).resolve().parents[2] / "server"


class Scripted:
    """A model client that answers with the given replies in turn and records the calls."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls: list[list[dict[str, str]]] = []

    async def complete(self, messages, *, on_progress=None) -> Completion:
        self.calls.append(messages)
        raw = self.replies.pop(0)
        return Completion(raw=raw, text=raw, reasoning="", finish_reason="stop")


def _settings() -> Settings:
    return dataclasses.replace(
        Settings(api_key="sk-test-key-0000", base_url="http://127.0.0.1:9/v1"), repair_turns=1
    )


def _request(case: Case) -> RefactorRequest:
    start = len(case.head)
    return RefactorRequest(
        text=case.source,
        start=start,
        end=start + len(case.old),
        instruction="tidy the loop",
        language_id=case.language_id,
        path=case.path,
    )


def _refactor(case: Case, *replies: str) -> tuple[run.RefactorResult, Scripted]:
    client = Scripted(*replies)
    result = asyncio.run(run.refactor(_request(case), _settings(), client))
    return result, client


IDS = [c.language_id for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_valid_refactor_is_applied_and_marked_checked(case: Case) -> None:
    result, client = _refactor(case, case.reply(case.new))
    assert result.new_text == case.expected
    assert result.syntax_checked is True
    assert not any("Not syntax-checked" in w for w in result.warnings)
    assert len(client.calls) == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dropped_brace_is_refused_after_the_repair_turn(case: Case) -> None:
    client = Scripted(case.reply(case.broken), case.reply(case.broken))
    with pytest.raises(InvalidSyntax) as caught:
        asyncio.run(run.refactor(_request(case), _settings(), client))
    name = syntax.grammar_for(syntax.language_for(case.language_id)).name
    message = caught.value.message
    assert f"not valid {name} (after 1 repair turn(s))" in message
    assert "line " in message and "Nothing was changed" in message
    assert caught.value.line is not None
    assert caught.value.kind == "invalid_syntax"
    assert len(client.calls) == 2
    # The repair turn showed the model its own reply and the parser's complaint.
    repair = client.calls[1]
    assert case.broken.strip() in repair[-2]["content"]
    assert "line " in repair[-1]["content"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dropped_brace_fixed_on_repair_is_applied(case: Case) -> None:
    result, client = _refactor(case, case.reply(case.broken), case.reply(case.new))
    assert result.new_text == case.expected
    assert result.model_calls == 2
    assert len(client.calls) == 2


JS = CASES[0]


def test_unclosed_comment_that_swallows_the_next_declaration_is_refused() -> None:
    # No ERROR node: the comment runs on to the `*/` of a later comment and hides the
    # function between; only the top-level declarations outside the selection tell.
    head = "function a() {\n  return 1;\n}\n\n"
    old = "function b() {\n  return 2;\n}\n"
    tail = "\nfunction c() {\n  return 3;\n}\n\n/* exported: a, b, c */\n"
    text = head + old + tail
    new_code = "function b() {\n  return 2;\n} /* shorter\n"
    start = len(head)
    new_text = head + new_code + tail
    with pytest.raises(InvalidSyntax) as caught:
        syntax.check_edit(
            "javascript",
            text,
            (start, start + len(old)),
            new_text,
            [(start, start + len(new_code))],
        )
    assert "top-level declaration outside the selection" in caught.value.message
    assert caught.value.line == 9  # function c, in the original


def test_change_outside_the_edited_span_is_refused() -> None:
    go = CASES[3]
    start = len(go.head)
    new_text = go.head.replace("Price int", "Cost int") + go.new + go.tail
    shift = len("Cost") - len("Price")
    with pytest.raises(InvalidSyntax) as caught:
        syntax.check_edit(
            "go",
            go.source,
            (start, start + len(go.old)),
            new_text,
            [(start + shift, start + shift + len(go.new))],
        )
    assert "top-level declaration outside the selection" in caught.value.message
    assert caught.value.line == 5  # type Item struct


def test_errors_already_in_the_file_do_not_block_an_edit() -> None:
    # A stray `)` after the selection was there before; the edit adds none.
    head = "function a() {\n  return 1;\n}\n\n"
    old = "function b() {\n  return 2;\n}\n"
    tail = "\nconst broken = f(1));\n"
    new_code = "const b = () => 2;\n"
    start = len(head)
    syntax.check_edit(
        "javascript",
        head + old + tail,
        (start, start + len(old)),
        head + new_code + tail,
        [(start, start + len(new_code))],
    )


def test_non_ascii_text_before_the_edit_keeps_offsets_right() -> None:
    head = "// prix en €, remise « été »\nconst t = 'ça';\n\n"
    old = "function b() {\n  return 2;\n}\n"
    start = len(head)
    new_code = "function b() {\n  return 2 + 0;\n"
    with pytest.raises(InvalidSyntax) as caught:
        syntax.check_edit(
            "javascript",
            head + old,
            (start, start + len(old)),
            head + new_code,
            [(start, start + len(new_code))],
        )
    assert caught.value.line is not None and caught.value.line >= 4


@pytest.mark.parametrize(
    ("language_id", "path", "key"),
    [
        ("javascriptreact", None, "javascript"),
        ("typescriptreact", None, "tsx"),
        ("shellscript", None, "bash"),
        ("jsonc", None, "json"),
        ("golang", None, "go"),
        ("ts", "/w/a.ts", "typescript"),
        ("text", "/w/main.go", "go"),
        ("plaintext", "/w/lib.RS", "rust"),
        ("svelte", "/w/App.svelte", None),
        ("python", "/w/a.py", None),
        ("", None, None),
    ],
)
def test_language_ids_and_extensions(language_id: str, path: str | None, key: str | None) -> None:
    assert syntax.language_for(language_id, path) == key


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("lua", "local x = 1\n", "local x = (1\n"),
        ("json", '{"a": [1, 2]}\n', '{"a": [1, 2}\n'),
        ("toml", 'a = "b"\n', 'a = "b\n'),
        ("yaml", "a: [1, 2]\n", "a: [1, 2\n"),
        ("bash", "if true; then echo hi; fi\n", "if true; then echo hi;\n"),
    ],
)
def test_the_other_grammars_load_and_check(key: str, good: str, bad: str) -> None:
    syntax.check_edit(key, good, (0, len(good)), good, [(0, len(good))])
    with pytest.raises(InvalidSyntax):
        syntax.check_edit(key, good, (0, len(good)), bad, [(0, len(bad))])


_PROBE = """
import sys, asyncio
{body}
leaked = sorted({{m.split(".")[0] for m in sys.modules if m.startswith("tree_sitter")}})
print(",".join(leaked) or "none")
"""


def _probe(body: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SERVER), "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=120,
    )
    return out.stdout.strip()


def test_server_start_up_does_not_import_tree_sitter() -> None:
    assert _probe("import m21_lsp.lsp.app") == "none"


def test_python_refactor_does_not_import_tree_sitter() -> None:
    body = """
import dataclasses
from m21_lsp.config import Settings
from m21_lsp.model.types import Completion
from m21_lsp.pipeline import run
from m21_lsp.pipeline.types import RefactorRequest

class C:
    async def complete(self, messages, *, on_progress=None):
        raw = "```python\\ndef f():\\n    return 2\\n```\\n"
        return Completion(raw=raw, text=raw, reasoning="", finish_reason="stop")

text = "def f():\\n    return 1\\n"
req = RefactorRequest(text=text, start=0, end=len(text), path="/w/a.py")
settings = Settings(api_key="sk-test-key-0000", base_url="http://127.0.0.1:9/v1")
result = asyncio.run(run.refactor(req, settings, C()))
assert result.new_text == "def f():\\n    return 2\\n", result.new_text
"""
    assert _probe(body) == "none"


def test_a_go_refactor_imports_only_the_go_grammar() -> None:
    body = """
from m21_lsp.pipeline import syntax
syntax.check_edit("go", "package a\\n", (0, 10), "package b\\n", [(0, 10)])
"""
    assert _probe(body) == "tree_sitter,tree_sitter_go"


def test_an_edit_moved_onto_a_changed_go_document_is_checked_again() -> None:
    """``rebase`` re-parses a moved non-Python edit in the document as it is now: an edit
    that no longer parses there is refused as stale, one that does is moved as before."""
    from m21_lsp.errors import StaleDocument
    from m21_lsp.pipeline.edits import OffsetEdit
    from m21_lsp.pipeline.types import RefactorResult

    base = "package m\n\nfunc a() int {\n\treturn 1\n}\n\nfunc b() int {\n\treturn 2\n}\n"
    start = base.index("\treturn 2")
    broken = RefactorResult(
        base_text=base,
        new_text="",
        edits=[OffsetEdit(start, start + len("\treturn 2\n}"), "\treturn (2\n}")],
        replacement="",
        selection=(base.index("func b"), len(base)),
    )
    current = base.replace("return 1", "return 10")  # the user typed above, not in b
    with pytest.raises(StaleDocument) as info:
        asyncio.run(run.rebase(broken, current, is_python=False, language_id="go"))
    assert "no longer fits" in info.value.message
    fine = dataclasses.replace(
        broken, edits=[OffsetEdit(start, start + len("\treturn 2"), "\treturn 2 + 0")]
    )
    _, moved_text = asyncio.run(run.rebase(fine, current, is_python=False, language_id="go"))
    assert moved_text == current.replace("return 2", "return 2 + 0")
