"""The scripted replies stay consistent with the source fixtures they claim to refactor.

Tests elsewhere splice these replies into ``fixtures/sources``; if either side drifts, those
tests would fail for the wrong reason. This pins the pairing in one place.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from m21_lsp.model.reasoning import strip_reasoning
from m21_lsp.testing.scripted_server import load_reply

# reply -> (source fixture, function it replaces, name the reply's code defines)
TARGETS = {
    "refactor_basic": ("sample_basic.py", "total_price", "total_price"),
    "refactor_no_open_tag": ("sample_basic.py", "total_price", "total_price"),
    "refactor_thinking_tag": ("sample_basic.py", "total_price", "total_price"),
    "refactor_prose_around": ("sample_basic.py", "total_price", "total_price"),
    "refactor_with_example": ("sample_basic.py", "total_price", "total_price"),
    "refactor_tilde_fence": ("sample_basic.py", "total_price", "total_price"),
    "refactor_outer_fence": ("sample_basic.py", "total_price", "total_price"),
    "refactor_whole_file": ("sample_basic.py", "total_price", "total_price"),
    "refactor_think_in_code": ("sample_basic.py", "format_tag", "format_tag"),
    "refactor_load_items_import": ("sample_basic.py", "load_items", "load_items"),
    "refactor_drops_name": ("sample_basic.py", "total_price", "compute_total"),
    "refactor_undefined_name": ("sample_basic.py", "total_price", "total_price"),
    "refactor_tabs_get": ("tabs_indented.py", "get", "get"),
    "refactor_grow_async": ("shapes_classes.py", "grow", "grow"),
    "refactor_unicode_greet": ("unicode_text.py", "greet", "greet"),
}
FENCE = re.compile(r"(?ms)^(`{3,}|~{3,})[\w+-]*\n(.*?)^\1[ \t]*$")


def defined_functions(code: str) -> set[str]:
    return {
        node.name
        for node in ast.walk(ast.parse(code))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


@pytest.mark.parametrize("reply", sorted(TARGETS))
def test_reply_targets_a_function_of_its_source(reply: str, fixtures_dir: Path) -> None:
    source, replaced, defined = TARGETS[reply]
    source_text = (fixtures_dir / "sources" / source).read_text(encoding="utf-8")
    assert replaced in defined_functions(source_text)
    split = strip_reasoning(load_reply(reply))
    assert split.closed and split.reasoning
    first_block = FENCE.search(split.text)
    assert first_block is not None
    assert defined in defined_functions(first_block.group(2))


def test_the_named_replies_exist(fixtures_dir: Path) -> None:
    others = {
        "explain_basic",
        "invalid_python",
        "no_fences",
        "refactor_truncated",
        "refactor_truncated_code",
    }
    names = {p.stem for p in (fixtures_dir / "replies").glob("*.md")}
    assert names >= set(TARGETS) | others


def test_the_broken_replies_are_broken_as_described() -> None:
    invalid = FENCE.search(strip_reasoning(load_reply("invalid_python")).text)
    assert invalid is not None
    with pytest.raises(SyntaxError):
        ast.parse(invalid.group(2))
    assert FENCE.search(strip_reasoning(load_reply("no_fences")).text) is None
    assert not strip_reasoning(load_reply("refactor_truncated")).closed
    truncated_code = strip_reasoning(load_reply("refactor_truncated_code")).text
    assert truncated_code.count("```") == 1
