"""Requests and results of the pipeline, shared by the CLI and the language server."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.types import Usage
from .edits import OffsetEdit


@dataclass(frozen=True)
class RefactorRequest:
    """A selection in a document, by string offsets into ``text`` (CRLF kept as is).

    ``diagnostics`` are messages from other tools (ruff, pyright…) to fix; when present the
    request is a "Fix with m2-1" quick fix rather than a free refactor.
    """

    text: str
    start: int
    end: int
    instruction: str | None = None
    language_id: str = "python"
    path: str | None = None
    diagnostics: tuple[str, ...] = ()

    @property
    def selection(self) -> str:
        return self.text[self.start : self.end]

    @property
    def is_python(self) -> bool:
        return self.language_id in ("python", "py") or bool(
            self.path and self.path.endswith((".py", ".pyi"))
        )


@dataclass
class RefactorResult:
    """A checked edit, ready to show or apply.

    ``edits`` are minimal and relative to ``base_text`` (the text the request was made on);
    ``new_text`` is the whole document after applying them. ``selection`` is the
    ``(start, end)`` of the code the model was shown, in ``base_text``: if the user changes
    any of it before the edit lands, the edit is refused (it was written for other code).
    ``warnings`` (names lost or undefined, not syntax-checked) must be shown to the user
    with the edit.
    """

    base_text: str
    new_text: str
    edits: list[OffsetEdit]
    replacement: str
    selection: tuple[int, int]
    warnings: list[str] = field(default_factory=list)
    syntax_checked: bool = True
    usage: Usage = field(default_factory=Usage)
    model_calls: int = 1
    seconds: float = 0.0
    # How many secrets were replaced by placeholders before sending (pipeline/redact.py).
    secrets_kept_out: int = 0

    @property
    def changed(self) -> bool:
        return self.new_text != self.base_text


@dataclass
class ExplainResult:
    markdown: str
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    secrets_kept_out: int = 0
