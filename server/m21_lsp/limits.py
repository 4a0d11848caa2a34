"""Caps checked before any request is sent, and files that are never sent at all.

Every refusal names the setting that raises the cap, because a limit the user cannot find
is indistinguishable from a bug. The cap on concurrent model calls (maxConcurrentRequests)
lives in :class:`m21_lsp.model.client.ModelClient`, which the server shares between commands;
callers over the cap wait and report the "waiting" phase naming that setting.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from .config import Settings
from .errors import LimitExceeded, SecretFileRefused, UsageError

__all__ = [
    "check_encodable",
    "check_path",
    "check_prompt",
    "check_selection",
    "is_secret_path",
    "refused_path_reason",
    "secret_glob_match",
]


def check_selection(settings: Settings, selection: str) -> None:
    """Refuse selections larger than the configured caps."""
    if len(selection) > settings.max_selection_chars:
        raise LimitExceeded(
            f"The selection has {len(selection):,} characters; the limit is "
            f"{settings.max_selection_chars:,}. Select less, or raise maxSelectionChars "
            "(M21_MAX_SELECTION_CHARS)."
        )
    lines = selection.count("\n") + 1
    if lines > settings.max_selection_lines:
        raise LimitExceeded(
            f"The selection has {lines:,} lines; the limit is {settings.max_selection_lines:,}. "
            "Select less, or raise maxSelectionLines (M21_MAX_SELECTION_LINES)."
        )


def check_prompt(settings: Settings, estimated_tokens: int) -> None:
    """Refuse prompts whose estimated size is over the cap."""
    if estimated_tokens > settings.max_prompt_tokens:
        raise LimitExceeded(
            f"The prompt would be about {estimated_tokens:,} tokens; the limit is "
            f"{settings.max_prompt_tokens:,}. Select less, lower contextLines, or raise "
            "maxPromptTokens (M21_MAX_PROMPT_TOKENS)."
        )


def _path_of(path_or_uri: str) -> str:
    if "://" in path_or_uri or path_or_uri.startswith(("file:", "untitled:")):
        parts = urlsplit(path_or_uri)
        return unquote(parts.path)
    return path_or_uri


def secret_glob_match(path_or_uri: str | None, globs: Sequence[str]) -> str | None:
    """The glob that ``path_or_uri``'s file name (or path) matches, if any."""
    if not path_or_uri:
        return None
    return _secret_glob_match(path_or_uri, tuple(globs))


# Every codeAction asks this for the same few open files with the same globs; matching
# them all again cost ~0.2 ms per request. The answer depends on nothing else.
@functools.lru_cache(maxsize=256)
def _secret_glob_match(path_or_uri: str, globs: tuple[str, ...]) -> str | None:
    path = _path_of(path_or_uri)
    name = os.path.basename(path)
    for pattern in globs:
        if fnmatch.fnmatch(name, pattern) or ("/" in pattern and fnmatch.fnmatch(path, pattern)):
            return pattern
    return None


def refused_path_reason(settings: Settings, path_or_uri: str | None) -> str | None:
    """Why this file must never be sent to the model, or None when it may be."""
    pattern = secret_glob_match(path_or_uri, settings.secret_globs)
    if pattern is None:
        return None
    return (
        f"{os.path.basename(_path_of(path_or_uri or ''))} looks like a secrets file (matches "
        f"{pattern!r}), so it is never sent to the model. Change secretGlobs "
        "(M21_SECRET_GLOBS) if this is wrong."
    )


def check_path(settings: Settings, path_or_uri: str | None) -> None:
    reason = refused_path_reason(settings, path_or_uri)
    if reason:
        raise SecretFileRefused(reason)


def is_secret_path(settings: Settings, path_or_uri: str | None) -> bool:
    """True when the file must never be sent (the code actions are not even offered)."""
    return secret_glob_match(path_or_uri, settings.secret_globs) is not None


def check_encodable(text: str) -> None:
    """Refuse text that cannot be sent as UTF-8 (a lone surrogate, which a client's JSON
    ``\\ud800`` escape can put in a document): httpx and libcst would fail on it later with
    an internal error instead of a message."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise UsageError(
            f"The document contains text that is not valid Unicode (a lone surrogate, "
            f"U+{ord(text[exc.start]):04X}, on line {line}), so it cannot be sent to the "
            "model. Remove that character and try again."
        ) from None
