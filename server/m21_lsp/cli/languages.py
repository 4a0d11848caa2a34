"""Which language a file is, from its suffix: the CLI has no editor to say so."""

from __future__ import annotations

from pathlib import Path

# File suffixes to LSP language ids, for an action's ``languages``.
LANGUAGE_IDS = {
    "py": "python", "pyi": "python", "js": "javascript", "mjs": "javascript",
    "cjs": "javascript", "jsx": "javascriptreact", "ts": "typescript",
    "tsx": "typescriptreact", "rs": "rust", "go": "go", "java": "java", "c": "c",
    "h": "c", "cc": "cpp", "cpp": "cpp", "hpp": "cpp", "lua": "lua", "json": "json",
    "toml": "toml", "yaml": "yaml", "yml": "yaml", "sh": "shellscript", "bash": "shellscript",
}  # fmt: skip


def language_of(path: Path) -> str:
    """The language id the pipeline is given: ``python`` or the bare suffix."""
    return "python" if path.suffix in (".py", ".pyi") else (path.suffix.lstrip(".") or "text")


def language_id(path: Path) -> str:
    """The LSP language id an editor would give ``path``, for matching an action."""
    return LANGUAGE_IDS.get(path.suffix.lstrip("."), language_of(path))
