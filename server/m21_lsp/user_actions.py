"""User-defined actions: the value of the ``actions`` setting, read strictly, entry by entry.

Why entry by entry: one typo in a team's list of ten actions must not take the other nine
away, so :func:`parse_actions` keeps every good entry and returns one problem per bad one,
naming its index and title. The contract editors rely on is ``docs/actions.md``.

This module is imported by :mod:`m21_lsp.config` at start-up, so it stays light: standard
library only.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

DEFAULT_KIND = "refactor.rewrite"
SCOPES = ("selection", "function", "file")
TARGET_MODES = ("append",)
PLACEHOLDERS = ("stem", "name", "ext", "dir")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
_LANGUAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+#-]*$")
_FIELD = re.compile(r"\{([^{}]*)\}")
_KEYS = ("title", "instruction", "kind", "languages", "scope", "name", "target")
_MAX_INSTRUCTION = 4000


# Language ids that different editors send for one language.
_SAME_LANGUAGE = {"sh": "shellscript", "bash": "shellscript"}


@dataclass(frozen=True)
class Target:
    """Where an action writes instead of replacing the selection (create or append)."""

    file: str
    mode: str = "append"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "mode": self.mode}


@dataclass(frozen=True)
class Action:
    """One action, as the light bulb, ``m21.refactor`` (with ``action``) and the CLI use it."""

    name: str
    title: str
    instruction: str
    kind: str = DEFAULT_KIND
    languages: tuple[str, ...] = ()
    scope: str = "selection"
    target: Target | None = None

    def applies_to(self, language_id: str) -> bool:
        """Whether the action is offered for ``language_id``; the names editors use for one
        language (Neovim's ``sh``/``bash`` for VS Code's ``shellscript``) count as one."""
        if not self.languages:
            return True
        same = _SAME_LANGUAGE.get(language_id, language_id)
        return any(_SAME_LANGUAGE.get(lang, lang) == same for lang in self.languages)

    def as_dict(self) -> dict[str, Any]:
        """The entry as JSON, in the setting's own shape (doctor, ``m21-lsp actions``)."""
        out: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "instruction": self.instruction,
            "kind": self.kind,
            "languages": list(self.languages),
            "scope": self.scope,
        }
        if self.target is not None:
            out["target"] = self.target.as_dict()
        return out


# The built-ins, none on by default (the light bulb keeps Refactor and Explain until a user
# asks for more). "defaults" in the list brings the two a user asks for most often;
# "idiomatic" and "tests" are there to be named.
BUILTINS: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            name="type-hints",
            title="Add type hints",
            instruction=(
                "Add precise type hints to every function signature and to variables whose "
                "type is not obvious. Do not change behaviour, names or formatting otherwise."
            ),
            languages=("python",),
            scope="function",
        ),
        Action(
            name="docstrings",
            title="Add docstrings",
            instruction=(
                "Add a concise docstring (or doc comment, in this language's convention) to "
                "each function and class that lacks one, saying what it does and why. "
                "Change no code."
            ),
            scope="function",
        ),
        Action(
            name="idiomatic",
            title="Make this idiomatic",
            instruction=(
                "Rewrite this code the way an experienced developer in this language would, "
                "using its idioms and standard library, keeping the behaviour and the names."
            ),
        ),
        Action(
            name="tests",
            title="Write tests for this",
            instruction=(
                "Write pytest tests for the selected code: cover normal cases and edge cases. "
                "Import what you test from its module. Reply with test code only."
            ),
            languages=("python",),
            scope="function",
            target=Target(file="tests/test_{stem}.py"),
        ),
    )
}
DEFAULT_NAMES = ("type-hints", "docstrings")
DEFAULT_ACTIONS: tuple[Action, ...] = tuple(BUILTINS[n] for n in DEFAULT_NAMES)


def slug(title: str) -> str:
    """``"Add type hints"`` -> ``"add-type-hints"``: the CLI name when none is given."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _string(entry: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise ValueError(f"needs a {key!r} (a non-empty string)")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string")
    return value.strip()


def _target(value: Any) -> Target | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"file": value}
    if not isinstance(value, Mapping):
        raise ValueError('target must be an object like {"file": "tests/test_{stem}.py"}')
    unknown = sorted(set(value) - {"file", "mode"})
    if unknown:
        raise ValueError(f"target has unknown key(s) {', '.join(map(repr, unknown))}")
    file = value.get("file")
    if not isinstance(file, str) or not file.strip():
        raise ValueError("target.file must be a non-empty relative path")
    file = file.strip()
    for placeholder in _FIELD.findall(file):
        if placeholder not in PLACEHOLDERS:
            raise ValueError(
                f"target.file has an unknown placeholder {{{placeholder}}}; use "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            )
    path = PurePosixPath(file.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:", file) or ".." in path.parts:
        raise ValueError("target.file must be a relative path inside the workspace (no '..')")
    mode = value.get("mode", "append")
    if mode not in TARGET_MODES:
        raise ValueError("target.mode must be one of " + ", ".join(TARGET_MODES))
    return Target(file=file, mode=mode)


def parse_entry(entry: Any) -> list[Action]:
    """One entry of the list: a built-in's name, ``"defaults"``, or an action object."""
    if isinstance(entry, str):
        name = entry.strip()
        if name == "defaults":
            return list(DEFAULT_ACTIONS)
        if name in BUILTINS:
            return [BUILTINS[name]]
        raise ValueError(
            f"{entry!r} is not a built-in action; use one of "
            + ", ".join(("defaults", *BUILTINS))
            + " or an object {title, instruction}"
        )
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"must be an object {{title, instruction, ...}} or a built-in's name, "
            f"got {type(entry).__name__}"
        )
    unknown = sorted(set(entry) - set(_KEYS))
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_KEYS)}"
        )
    title = _string(entry, "title", required=True)
    instruction = _string(entry, "instruction", required=True)
    assert title is not None and instruction is not None
    if len(instruction) > _MAX_INSTRUCTION:
        raise ValueError(f"instruction is longer than {_MAX_INSTRUCTION} characters")
    kind = _string(entry, "kind", required=False) or DEFAULT_KIND
    if not _KIND.match(kind):
        raise ValueError(f"kind {kind!r} is not a code action kind like 'refactor.rewrite'")
    languages = entry.get("languages")
    if languages is None:
        langs: tuple[str, ...] = ()
    elif isinstance(languages, str):
        langs = (languages.strip(),)
    elif isinstance(languages, Sequence) and all(isinstance(x, str) for x in languages):
        langs = tuple(x.strip() for x in languages)
    else:
        raise ValueError("languages must be a list of language ids like ['python']")
    if any(not _LANGUAGE.match(x) for x in langs):
        raise ValueError("languages must be language ids like 'python', 'typescript'")
    scope = entry.get("scope", "selection")
    if scope not in SCOPES:
        raise ValueError("scope must be one of " + ", ".join(SCOPES))
    name = _string(entry, "name", required=False) or slug(title)
    if not _NAME.match(name):
        raise ValueError(f"name {name!r} must be lower-case letters, digits, '-' or '_'")
    return [
        Action(
            name=name,
            title=title,
            instruction=instruction,
            kind=kind,
            languages=langs,
            scope=scope,
            target=_target(entry.get("target")),
        )
    ]


def _label(entry: Any) -> str:
    if isinstance(entry, Mapping) and isinstance(entry.get("title"), str):
        return f" ({entry['title']!r})"
    if isinstance(entry, str):
        return f" ({entry!r})"
    return ""


def parse_actions(value: Any, setting: str = "actions") -> tuple[tuple[Action, ...], list[str]]:
    """The list of actions and one problem per bad entry (each ending "(entry ignored)").

    A JSON string (the environment variable) is decoded first. A value that is not a list
    at all raises ValueError: the caller keeps the previous list and says so. Later entries
    with the same name replace earlier ones in place (so a user's "docstrings" replaces the
    built-in one that "defaults" brought in).
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError("must be a list of actions ({title, instruction, ...} or a name)")
    by_name: dict[str, Action] = {}
    problems: list[str] = []
    for index, entry in enumerate(value):
        try:
            parsed = parse_entry(entry)
        except ValueError as exc:
            problems.append(f"{setting}[{index}]{_label(entry)}: {exc} (entry ignored)")
            continue
        for action in parsed:
            by_name[action.name] = action
    return tuple(by_name.values()), problems


def find(actions: Sequence[Action], name: str) -> Action | None:
    return next((a for a in actions if a.name == name), None)


# ---------------------------------------------------------------------------- targets
def resolve_target(pattern: str, doc: Path, root: Path | None) -> tuple[Path, str]:
    """The target file of ``pattern`` for the document ``doc``, and the path as shown.

    Relative to ``root`` (the workspace folder, or the CLI's working directory) when ``doc``
    is inside it, else to ``doc``'s directory. A result outside that folder (a symlinked
    directory could point out) raises ValueError.
    """
    doc = doc.resolve()
    base = root.resolve() if root is not None else doc.parent
    if not doc.is_relative_to(base):
        base = doc.parent
    rel_dir = doc.parent.relative_to(base).as_posix() or "."
    values = {"stem": doc.stem, "name": doc.name, "ext": doc.suffix.lstrip("."), "dir": rel_dir}
    relative = pattern
    for key, value in values.items():
        relative = relative.replace("{" + key + "}", value)
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"The action's target {relative!r} is outside {base}; nothing was done.")
    return path, path.relative_to(base).as_posix()


def _separator(existing: str) -> str:
    """Two blank lines between what a file has and what is added (PEP 8's top level)."""
    if not existing:
        return ""
    return ("" if existing.endswith("\n") else "\n") + "\n\n"


def target_request(
    action: Action,
    code: str,
    *,
    source: Path,
    path: Path,
    shown: str,
    existing: str,
    language_id: str,
) -> Any:
    """The :class:`~m21_lsp.pipeline.types.RefactorRequest` for a target action.

    The document is the target file with the selected ``code`` (dedented) at its end as the
    selection, so the pipeline's checks (the Python parse, the structural guard) run on the
    file that will change; the checked document is the new content of the target file.
    """
    from .pipeline.types import RefactorRequest

    code = textwrap.dedent(code)
    prefix = existing + _separator(existing)
    instruction = (
        f"{action.instruction}\n\nThe selected code is from {source.name}. Your reply is added "
        f"at the end of {shown} in place of the selected code, which stays where it is: reply "
        f"with only the new code for {shown}."
    )
    return RefactorRequest(
        text=prefix + code,
        start=len(prefix),
        end=len(prefix) + len(code),
        instruction=instruction,
        language_id=language_id if path.suffix == source.suffix else "",
        path=str(path),
    )


_IMPORT_LINE = re.compile(r"^(import|from)\s")


def target_text(existing: str, request: Any, new_text: str) -> str | None:
    """The target file after a finished run, or None when the model added nothing."""
    if new_text == request.text or not new_text[request.start :].strip():
        return None
    if not new_text.endswith("\n"):
        new_text += "\n"
    if not existing and str(request.path).endswith((".py", ".pyi")):
        new_text = _blank_lines_after_imports(new_text)
    return new_text


def _blank_lines_after_imports(text: str) -> str:
    """Two blank lines between a new file's leading imports and its first definition.

    Why here: the pipeline moves the reply's imports to the top of the document, and in a
    document that had none (a file being created) nothing separates them from the code.
    """
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and _IMPORT_LINE.match(lines[i]):
        i += 1
    if 0 < i < len(lines) and lines[i].strip() and not lines[i][0].isspace():
        lines[i:i] = ["\n", "\n"]
    return "".join(lines)
