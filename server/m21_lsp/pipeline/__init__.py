"""The refactor and explain pipeline: prompt → model → extract → shape → validate → edits.

Read the modules in that order; :mod:`.run` strings them together and is what the CLI and
the language server call. ``refactor``, ``explain`` and ``rebase`` are re-exported here, but
lazily: the server imports :mod:`.types` while it starts, and importing :mod:`.run` pulls in
libcst and httpx, which cost most of a second that an editor would spend waiting for the
``initialize`` answer (see :mod:`m21_lsp.lsp.lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import explain, rebase, refactor

__all__ = ["explain", "rebase", "refactor"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
