"""``textDocument/hover``: explanations already made, or (``hover: auto``) made on demand.

``cached`` (default) answers only from :class:`.hover_cache.HoverCache`, with no model call,
so hovering stays free and instant. ``auto`` explains the enclosing function when nothing is
cached, with work-done progress (the client's ``workDoneToken`` when it sent one); the hover
request's own ``$/cancelRequest`` cancels it, which pygls does by cancelling this coroutine,
and that closes the model's HTTP stream. ``off`` never answers.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types

from ..errors import M21Error
from ..limits import refused_path_reason
from ..pipeline.types import RefactorRequest
from ..text import selection
from . import lazy
from .documents import Documents, Snapshot
from .progress import WorkProgress

if TYPE_CHECKING:
    from .app import M21Server


def _markdown(snap: Snapshot, start: int, end: int, text: str, encoding: str) -> types.Hover:
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
        range=snap.range(start, end, encoding),  # type: ignore[arg-type]
    )


async def hover(ls: M21Server, params: types.HoverParams) -> types.Hover | None:
    settings = ls.settings
    if settings.hover == "off":
        return None
    snap = ls.documents.get(ls.workspace, params.text_document.uri)
    if snap is None:
        return None
    encoding = Documents.encoding(ls.workspace)
    offset = snap.offset(params.position, encoding)
    found = ls.hover_cache.find(snap.uri, snap.text, offset, settings.model)
    if found is not None:
        return _markdown(snap, found.start, found.end, found.markdown, encoding)
    if settings.hover != "auto" or refused_path_reason(settings, snap.path):
        return None
    start, end = selection.expand_range(snap.text, offset, offset)
    if end - start <= 1 or not snap.text[start:end].strip():
        return None
    return await _explain_for_hover(ls, params, snap, start, end)


async def _explain_for_hover(
    ls: M21Server, params: types.HoverParams, snap: Snapshot, start: int, end: int
) -> types.Hover | None:
    settings = ls.settings
    task = asyncio.current_task()
    progress = WorkProgress(
        ls,
        f"Explain with {settings.model_label}",
        token=params.work_done_token,
        on_cancel=(lambda: task.cancel()) if task is not None else None,
    )
    req = RefactorRequest(
        text=snap.text, start=start, end=end, language_id=snap.language_id, path=snap.path
    )
    await progress.begin("for hover")
    try:
        async with ls.clients.use(settings) as client:
            result = await lazy.pipeline().explain(
                req, settings, client, progress.on_model_progress
            )
    except asyncio.CancelledError:
        progress.end("Cancelled.")
        if progress.cancelled_by_client:
            return None  # a progress cancel: answer the hover with nothing
        raise  # $/cancelRequest: pygls answers RequestCancelled
    except M21Error as exc:
        ls.show(f"Explain with {settings.model_label}: {exc.message}", types.MessageType.Error)
        ls.log(f"hover explain failed ({exc.kind}): {exc.message} {exc.detail}".strip())
        progress.end(f"Failed: {exc.message}", failure_shown=True)
        return None
    ls.hover_cache.put(snap.uri, snap.text[start:end], settings.model, result.markdown)
    progress.end("Explanation ready.")
    encoding = Documents.encoding(ls.workspace)
    return _markdown(snap, start, end, result.markdown, encoding)
