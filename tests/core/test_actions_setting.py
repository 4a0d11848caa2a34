"""The ``actions`` setting read strictly, entry by entry (server/m21_lsp/user_actions.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from m21_lsp import config
from m21_lsp.user_actions import BUILTINS, parse_actions, resolve_target, slug

HINTS = {"title": "Add type hints", "instruction": "Add hints."}


def test_an_object_gets_its_defaults_and_a_slug_name() -> None:
    (action,), problems = parse_actions([HINTS])
    assert problems == []
    assert (action.name, action.kind, action.languages, action.scope, action.target) == (
        "add-type-hints",
        "refactor.rewrite",
        (),
        "selection",
        None,
    )
    assert slug("  Make *this* idiomatic!") == "make-this-idiomatic"


def test_defaults_are_off_and_named_built_ins_come_in() -> None:
    assert config.Settings().actions == ()
    actions, problems = parse_actions(["defaults", "tests"])
    assert problems == []
    assert [a.name for a in actions] == ["type-hints", "docstrings", "tests"]
    assert actions[2].target is not None and actions[2].target.file == "tests/test_{stem}.py"


def test_a_later_entry_with_the_same_name_replaces_an_earlier_one_in_place() -> None:
    mine = {"title": "Docs", "instruction": "Google style.", "name": "docstrings"}
    actions, _ = parse_actions(["defaults", mine])
    assert [a.name for a in actions] == ["type-hints", "docstrings"]
    assert actions[1].instruction == "Google style."
    assert actions[1] != BUILTINS["docstrings"]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"title": "T"}, "needs a 'instruction'"),
        ({"instruction": "x"}, "needs a 'title'"),
        ({"title": "T", "instruction": "x", "kind": "not a kind"}, "is not a code action kind"),
        ({"title": "T", "instruction": "x", "languages": [3]}, "languages must be a list"),
        ({"title": "T", "instruction": "x", "scope": "module"}, "scope must be one of"),
        ({"title": "T", "instruction": "x", "name": "Bad Name"}, "must be lower-case"),
        ({"title": "T", "instruction": "x", "colour": "red"}, "unknown key(s) 'colour'"),
        ({"title": "T", "instruction": "x", "target": {"file": "/etc/x"}}, "relative path"),
        ({"title": "T", "instruction": "x", "target": {"file": "{base}.py"}}, "{base}"),
        ({"title": "T", "instruction": "x", "target": {"file": "a", "mode": "w"}}, "mode"),
        (7, "got int"),
        ("nope", "'nope' is not a built-in action"),
    ],
)
def test_each_bad_entry_is_named_and_dropped_and_the_rest_kept(entry: object, reason: str) -> None:
    actions, problems = parse_actions([HINTS, entry], "actions")
    assert [a.name for a in actions] == ["add-type-hints"]
    (problem,) = problems
    assert problem.startswith("actions[1]") and problem.endswith("(entry ignored)")
    assert reason in problem


def test_a_value_that_is_not_a_list_keeps_the_previous_actions() -> None:
    first, problems = config.apply_overrides(config.Settings(), {"actions": [HINTS]}, source="init")
    assert problems == []
    second, problems = config.apply_overrides(first, {"actions": {"a": 1}}, source="workspace")
    assert second.actions == first.actions
    assert problems == [
        "workspace: actions must be a list of actions ({title, instruction, ...} or a name); "
        "keeping the previous actions"
    ]


def test_the_environment_holds_json_and_names_the_variable() -> None:
    settings, problems = config.from_env({"M21_ACTIONS": json.dumps([HINTS, {"title": "x"}])})
    assert [a.name for a in settings.actions] == ["add-type-hints"]
    (problem,) = problems
    assert problem.startswith("environment: M21_ACTIONS[1] ('x'): needs a 'instruction'")
    _, problems = config.from_env({"M21_ACTIONS": "[{"})
    assert problems and "M21_ACTIONS is not valid JSON" in problems[0]
    assert config.Settings().public_dict()["actions"] == []


def test_a_target_resolves_its_placeholders_inside_the_root(tmp_path: Path) -> None:
    doc = tmp_path / "pkg" / "shop.py"
    assert resolve_target("tests/{dir}/test_{stem}.{ext}", doc, tmp_path) == (
        tmp_path / "tests" / "pkg" / "test_shop.py",
        "tests/pkg/test_shop.py",
    )
    # Outside the root: relative to the file's own directory.
    assert resolve_target("{name}.md", doc, tmp_path / "elsewhere")[1] == "shop.py.md"
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(ValueError, match="outside"):
        resolve_target("link/etc/passwd", tmp_path / "a.py", tmp_path)


def test_shell_actions_match_every_editors_name_for_shell_script() -> None:
    """Neovim sends ``sh``/``bash`` where VS Code sends ``shellscript``: an action for one is
    offered for the others, and still not for an unrelated language."""
    entry = {"title": "Quote vars", "instruction": "Quote expansions.", "languages": ["sh"]}
    (action,), problems = parse_actions([entry])
    assert not problems
    assert action.applies_to("shellscript") and action.applies_to("bash")
    assert action.applies_to("sh")
    assert not action.applies_to("python")
