"""One model call from the terminal: checked settings, a client, progress, a summary.

Shared by ``refactor`` and ``explain``; imported only when one of them runs, so ``serve``
and ``actions`` never load the pipeline or httpx.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeVar

from .. import config
from ..errors import M21Error
from ..pipeline import run as pipeline
from ..pipeline.types import RefactorRequest, RefactorResult
from .progress import TerminalProgress, summary

_R = TypeVar("_R")


def settings_for_run() -> config.Settings:
    """The settings a model call needs, refused before anything is read or sent."""
    settings = config.load()
    settings.require_key()
    problem = config.check_endpoint(settings.base_url)
    if problem:
        raise M21Error(problem)
    return settings


async def with_model(
    settings: config.Settings, err: TextIO, verb: str, call: Callable[[Any, Any], Awaitable[_R]]
) -> tuple[_R, TerminalProgress]:
    """``call(client, progress)`` with a model client and the terminal's progress line,
    cleared whatever happens; the progress is returned for the summary line after it."""
    from ..model.client import ModelClient  # httpx: only when a command needs the model

    progress = TerminalProgress(err, f"{verb} with {settings.model_label}")
    try:
        async with ModelClient(settings) as client:
            result = await call(client, progress)
    finally:
        progress.clear()
    return result, progress


async def refactor_with_progress(
    req: RefactorRequest, settings: config.Settings, err: TextIO, verb: str
) -> RefactorResult:
    """One checked refactor, with its timing/usage summary printed after it."""
    result, progress = await with_model(
        settings, err, verb, lambda client, p: pipeline.refactor(req, settings, client, p)
    )
    progress.line(summary(result.seconds, result.usage, result.model_calls))
    return result
