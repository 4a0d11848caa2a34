"""``m21.refactor`` / ``m21.fix`` / ``m21.explain``: the long model calls live here.

They run in ``workspace/executeCommand`` (never in a request a client times out, such as
``codeAction/resolve``), report work-done progress, and can be cancelled two ways:

* ``window/workDoneProgress/cancel``: the model call is cancelled (closing the HTTP stream)
  and the command answers normally with ``{"applied": false, "cancelled": true}``;
* ``$/cancelRequest``: pygls answers RequestCancelled by itself; the hook registered here
  cancels the model call too, because pygls would otherwise let it run to the end.

A finished refactor is moved onto the document as it is *now* (``pipeline.rebase``), or
refused when the selected code changed, then sent as a versioned ``workspace/applyEdit``
for exactly the version the edit was computed on, so a client that checks versions (VS
Code) refuses a stale edit. Neovim applies versioned edits without advertising them and
skips stale ones while answering "applied" (:mod:`.neovim`), so it gets them too, and an
"applied" answer counts only once the client's next ``didChange`` shows the edit
(:mod:`.landing`); otherwise the user is told that the code changed and to run it again.

Confirmation: with ``confirmEdits`` on and a client that supports change annotations, the
edits carry an annotation with ``needsConfirmation``. VS Code then opens its Refactor
Preview with the change *unticked*; the annotation's label says so —
``"Refactor with m2-1: tick to apply"`` — and its description carries any warnings (names
lost or undefined, not syntax-checked).

Every command answers with a JSON summary::

    {"applied": bool, "cancelled": bool, "kind": str, "reason": str | None,
     "message": str, "seconds": float, "usage": {...} | None, "warnings": [str]}

``kind`` is ``"applied"``, ``"explained"``, ``"cancelled"``, ``"declined"``,
``"unchanged"``, ``"unsupported"`` (the client cannot take a server's edit: the
``WorkspaceEdit`` is in ``edit``) or an error kind from :mod:`m21_lsp.errors` (``"auth"``, ``"timeout"``…);
``reason`` repeats the kind for failures and is None otherwise.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types

from ..config import Settings
from ..edits import OffsetEdit
from ..errors import M21Error, SecretFileRefused, StaleDocument, UsageError, scrub
from ..limits import refused_path_reason
from ..model_types import Usage
from ..pipeline_types import RefactorRequest, RefactorResult
from . import lazy
from .actions import target_range
from .documents import Documents, Snapshot, to_range
from .landing import edit_landed
from .neovim import applies_document_changes, neovim_version, wire_version
from .progress import WorkProgress

if TYPE_CHECKING:
    from .app import M21Server

T = TypeVar("T")

ANNOTATION_ID = "m21-edit"
APPLY_ATTEMPTS = 3


# ---------------------------------------------------------------------------- arguments
@dataclass(frozen=True)
class Target:
    snap: Snapshot
    start: int
    end: int
    instruction: str | None
    diagnostics: tuple[str, ...]

    def request(self) -> RefactorRequest:
        return RefactorRequest(
            text=self.snap.text,
            start=self.start,
            end=self.end,
            instruction=self.instruction,
            language_id=self.snap.language_id,
            path=self.snap.path,
            diagnostics=self.diagnostics,
        )


def _position(value: Any, what: str) -> types.Position:
    if (
        not isinstance(value, Mapping)
        or not isinstance(value.get("line"), int)
        or not isinstance(value.get("character"), int)
        or not 0 <= value["line"] < 2**31
        or not 0 <= value["character"] < 2**31
    ):
        raise UsageError(f"The command's {what} must be {{line, character}}, each 0 or more.")
    return types.Position(line=value["line"], character=value["character"])


def parse_target(ls: M21Server, args: Sequence[Any], settings: Settings) -> Target:
    """Read ``[{uri, version?, range, instruction?, diagnostics?}]`` against the open document."""
    if len(args) != 1 or not isinstance(args[0], Mapping):
        raise UsageError(
            "The command takes one argument: {uri, version, range, instruction?}. "
            "Use the code action, which fills it in."
        )
    arg = args[0]
    uri = arg.get("uri")
    rng = arg.get("range")
    if not isinstance(uri, str) or not isinstance(rng, Mapping):
        raise UsageError("The command's argument needs a 'uri' and a 'range'.")
    snap = ls.documents.get(ls.workspace, uri)
    if snap is None:
        raise UsageError(f"{uri} is not open in the editor, so there is nothing to work on.")
    version = arg.get("version")
    if version is not None and snap.version is not None and version != snap.version:
        raise StaleDocument(
            "The document changed since the action was offered, so nothing was done. "
            "Run the action again on the current code."
        )
    reason = refused_path_reason(settings, snap.path)
    if reason:
        raise SecretFileRefused(reason)
    lsp_range = types.Range(
        start=_position(rng.get("start"), "range.start"),
        end=_position(rng.get("end"), "range.end"),
    )
    start, end = snap.offsets(lsp_range, Documents.encoding(ls.workspace))
    start, end = target_range(snap, start, end)
    instruction = arg.get("instruction")
    if instruction is not None and not isinstance(instruction, str):
        raise UsageError("The command's 'instruction' must be a string.")
    diagnostics = arg.get("diagnostics") or ()
    if not isinstance(diagnostics, (list, tuple)) or not all(
        isinstance(d, str) for d in diagnostics
    ):
        raise UsageError("The command's 'diagnostics' must be a list of strings.")
    return Target(snap, start, end, (instruction or "").strip() or None, tuple(diagnostics))


# ---------------------------------------------------------------------------- one run
class _Cancelled(Exception):
    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


class Run:
    """One command execution: its progress, its cancel wiring and its summary."""

    def __init__(self, ls: M21Server, title: str) -> None:
        self.ls = ls
        self.title = title
        self.started = time.monotonic()
        self.cancel_reason: str | None = None
        self._task: asyncio.Future[Any] | None = None
        self.msg_id = ls.protocol.msg_id
        if self.msg_id is not None:
            if ls.protocol.was_cancelled(self.msg_id):
                self.cancel_reason = "request"
            ls.protocol.cancel_hooks[self.msg_id] = lambda: self.cancel("request")
        self.progress = WorkProgress(ls, title, on_cancel=lambda: self.cancel("progress"))
        self.usage: Usage | None = None
        self._me = asyncio.current_task()
        if self._me is not None:
            ls.running.add(self._me)

    def cancel(self, by: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = by
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def model(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run the pipeline call as its own task, so a cancel closes its HTTP stream."""
        if self.cancel_reason is not None:
            coro.close()
            raise _Cancelled(self.cancel_reason)
        task = asyncio.ensure_future(coro)
        self._task = task
        try:
            return await task
        except asyncio.CancelledError:
            if self.cancel_reason is not None and task.cancelled():
                raise _Cancelled(self.cancel_reason) from None
            raise
        finally:
            self._task = None

    def close(self) -> None:
        if self.msg_id is not None:
            self.ls.protocol.cancel_hooks.pop(self.msg_id, None)
        if self._me is not None:
            self.ls.running.discard(self._me)

    def summary(
        self,
        *,
        kind: str,
        message: str,
        applied: bool = False,
        cancelled: bool = False,
        failed: bool = False,
        warnings: Sequence[str] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "applied": applied,
            "cancelled": cancelled,
            "kind": kind,
            "reason": kind if failed else None,
            "message": scrub(message),
            "seconds": round(time.monotonic() - self.started, 3),
            "usage": self.usage.as_dict() if self.usage is not None else None,
            "warnings": [scrub(w) for w in warnings],
        }
        out.update(extra)
        return out

    def failed(self, exc: M21Error) -> dict[str, Any]:
        """One message with what to do; details only in the log; progress ended."""
        kind = types.MessageType.Warning if exc.kind == "stale" else types.MessageType.Error
        self.ls.show(f"{self.title}: {exc.message}", kind)
        self.ls.log(f"{self.title} failed ({exc.kind}): {exc.message} {exc.detail}".strip())
        self.progress.end(f"Failed: {exc.message}", failure_shown=True)
        return self.summary(kind=exc.kind, message=exc.message, failed=True)

    def crashed(self, exc: BaseException) -> dict[str, Any]:
        text = "".join(traceback.format_exception(exc))
        self.ls.log(f"{self.title}: internal error\n{text}", types.MessageType.Error)
        message = f"Internal error ({type(exc).__name__}); nothing was changed. See the log."
        self.ls.show(f"{self.title}: {message}", types.MessageType.Error)
        self.progress.end(f"Failed: {message}", failure_shown=True)
        return self.summary(kind="internal", message=message, failed=True)

    def was_cancelled(self, by: str) -> dict[str, Any]:
        message = "Cancelled; nothing was changed."
        self.progress.end(message)
        if by == "request":
            # pygls has already answered RequestCancelled; this result goes nowhere.
            raise asyncio.CancelledError
        return self.summary(kind="cancelled", message=message, cancelled=True)


# ---------------------------------------------------------------------------- refactor
async def run_refactor(ls: M21Server, args: Sequence[Any], *, fix: bool = False) -> dict[str, Any]:
    await ls.wait_for_settings()
    settings = ls.settings
    verb = "Fix" if fix else "Refactor"
    run = Run(ls, f"{verb} with {settings.model_label}")
    try:
        target = parse_target(ls, args, settings)
        if fix and not target.diagnostics:
            raise UsageError("Fix needs the diagnostics to fix; use the quick fix action.")
        await run.progress.begin(target.snap.uri.rsplit("/", 1)[-1])
        req = target.request()
        async with ls.clients.use(settings) as client:
            result = await run.model(
                lazy.pipeline().refactor(req, settings, client, run.progress.on_model_progress)
            )
        run.usage = result.usage
        if not result.changed:
            message = f"{settings.model_label} suggested no change."
            run.progress.end(message)
            return run.summary(kind="unchanged", message=message, warnings=result.warnings)
        run.progress.stop_cancellable("applying the edit")
        return await _apply(ls, run, target, req, result, settings)
    except _Cancelled as exc:
        return run.was_cancelled(exc.by)
    except M21Error as exc:
        return run.failed(exc)
    except asyncio.CancelledError:
        run.progress.end("Stopped; nothing was changed.")
        raise
    except Exception as exc:
        return run.crashed(exc)
    finally:
        run.close()


# How long an applied edit may take to come back as didChange; a client that reports none
# has not applied it (Neovim answers "applied" for edits it skipped or the user declined).
APPLY_SETTLE_SECONDS = 10.0


async def _current(ls: M21Server, uri: str) -> Snapshot:
    snap = ls.documents.get(ls.workspace, uri)
    if snap is None:
        raise StaleDocument("The document was closed while m2-1 was working; nothing was applied.")
    return snap


async def _apply(
    ls: M21Server,
    run: Run,
    target: Target,
    req: RefactorRequest,
    result: RefactorResult,
    settings: Settings,
) -> dict[str, Any]:
    async with ls.documents.edit_lock(target.snap.uri):
        return await _apply_locked(ls, run, target, req, result, settings)


async def _apply_locked(
    ls: M21Server,
    run: Run,
    target: Target,
    req: RefactorRequest,
    result: RefactorResult,
    settings: Settings,
) -> dict[str, Any]:
    """Rebase, send and settle one edit while holding the document's edit lock."""
    uri = target.snap.uri
    for _attempt in range(APPLY_ATTEMPTS):
        snap = await _current(ls, uri)
        edits, _new_text = await lazy.pipeline().rebase(result, snap.text, is_python=req.is_python)
        now = await _current(ls, uri)
        if now.version != snap.version or now.text != snap.text:
            continue  # the user typed during the re-check: rebase onto the newest text
        edit = workspace_edit(ls, snap, edits, settings, run.title, result.warnings)
        if not _client_applies_edits(ls):
            message = (
                "This editor does not accept edits from a server (no workspace.applyEdit); "
                "the edit is in this command's result under 'edit'."
            )
            run.progress.end(message)
            return run.summary(
                kind="unsupported",
                message=message,
                warnings=result.warnings,
                edit=ls.protocol._converter.unstructure(edit),
            )
        response = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=run.title)
        )
        if response.applied:
            # Keep the lock until the client's didChange shows the edit, so that the next
            # edit for this document is computed on the text the client really has; and
            # believe "applied" only if that text has the edit (Neovim says applied for an
            # edit it skipped because the buffer was newer).
            if not await ls.documents.wait_for_change(ls.workspace, snap, APPLY_SETTLE_SECONDS):
                ls.log(f"{uri}: no didChange within {APPLY_SETTLE_SECONDS}s of an applied edit")
                message = (
                    "The editor answered that it applied the edit, but the document did not "
                    "change, so nothing was applied (was the change declined?). Run the "
                    "refactor again to retry."
                )
                run.progress.end(message)
                return run.summary(kind="declined", message=message, warnings=result.warnings)
            now = await _current(ls, uri)
            if not edit_landed(snap.text, edits, now.text):
                raise StaleDocument(
                    "The edit was not applied because the code changed while it was on its "
                    "way to the editor. Run the refactor again on the current code."
                )
            return _applied(ls, run, snap, edits, result)
        after = await _current(ls, uri)
        if after.version == snap.version and after.text == snap.text:
            reason = response.failure_reason or "the editor did not apply it"
            message = f"The edit was not applied ({reason})."
            run.progress.end(message)
            return run.summary(kind="declined", message=message, warnings=result.warnings)
        # The document moved on between our check and the client's: try again.
    raise StaleDocument(
        "The document kept changing while the edit was being applied, so nothing was "
        "applied. Run the refactor again."
    )


def _client_applies_edits(ls: M21Server) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.apply_edit)


def _applied(
    ls: M21Server, run: Run, snap: Snapshot, edits: list[OffsetEdit], result: RefactorResult
) -> dict[str, Any]:
    lines = sum(e.new_text.count("\n") for e in edits) or len(edits)
    message = f"Applied ({lines} line{'s' if lines != 1 else ''} changed)."
    if result.warnings:
        ls.show(
            f"{run.title}: applied, with warnings: " + "; ".join(result.warnings),
            types.MessageType.Warning,
        )
    run.progress.end(message, failure_shown=bool(result.warnings))
    return run.summary(
        kind="applied",
        message=message,
        applied=True,
        warnings=result.warnings,
        version=snap.version,
        edits=len(edits),
        syntaxChecked=result.syntax_checked,
        modelCalls=result.model_calls,
        pipelineSeconds=round(result.seconds, 4),
    )


def workspace_edit(
    ls: M21Server,
    snap: Snapshot,
    edits: list[OffsetEdit],
    settings: Settings,
    title: str,
    warnings: Sequence[str] = (),
) -> types.WorkspaceEdit:
    """Versioned ``documentChanges`` when the client takes them, plain ``changes`` otherwise."""
    encoding = Documents.encoding(ls.workspace)
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    ranges = [to_range(snap.index, e.start, e.end, encoding) for e in ordered]
    caps = ls.client_capabilities.workspace
    edit_caps = caps.workspace_edit if caps is not None else None
    if not applies_document_changes(ls.client_info, edit_caps):
        return types.WorkspaceEdit(
            changes={
                snap.uri: [
                    types.TextEdit(range=r, new_text=e.new_text)
                    for r, e in zip(ranges, ordered, strict=True)
                ]
            }
        )
    annotate = (
        settings.confirm_edits
        and edit_caps is not None
        and edit_caps.change_annotation_support is not None
    )
    document = types.OptionalVersionedTextDocumentIdentifier(
        uri=snap.uri, version=wire_version(ls.client_info, snap.version)
    )
    if not annotate:
        text_edits: list[Any] = [
            types.TextEdit(range=r, new_text=e.new_text)
            for r, e in zip(ranges, ordered, strict=True)
        ]
        return types.WorkspaceEdit(
            document_changes=[types.TextDocumentEdit(text_document=document, edits=text_edits)]
        )
    annotated: list[Any] = [
        types.AnnotatedTextEdit(range=r, new_text=e.new_text, annotation_id=ANNOTATION_ID)
        for r, e in zip(ranges, ordered, strict=True)
    ]
    description = "; ".join(warnings) if warnings else "Checked by m21-lsp before sending."
    return types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(text_document=document, edits=annotated)],
        change_annotations={
            ANNOTATION_ID: types.ChangeAnnotation(
                # VS Code's preview starts unticked; Neovim shows the label in its prompt.
                label=title if neovim_version(ls.client_info) else f"{title}: tick to apply",
                needs_confirmation=True,
                description=scrub(description),
            )
        },
    )


# ---------------------------------------------------------------------------- explain
async def run_explain(ls: M21Server, args: Sequence[Any]) -> dict[str, Any]:
    await ls.wait_for_settings()
    settings = ls.settings
    run = Run(ls, f"Explain with {settings.model_label}")
    try:
        target = parse_target(ls, args, settings)
        await run.progress.begin(target.snap.uri.rsplit("/", 1)[-1])
        req = target.request()
        async with ls.clients.use(settings) as client:
            result = await run.model(
                lazy.pipeline().explain(req, settings, client, run.progress.on_model_progress)
            )
        run.usage = result.usage
        code = target.snap.text[target.start : target.end]
        ls.hover_cache.put(target.snap.uri, code, settings.model, result.markdown)
        if settings.hover == "off":
            message = "Explanation ready (hover is off: it is in the command's result and the log)."
        else:
            message = "Explanation ready: hover the selection to read it."
        ls.log(f"{run.title}:\n{result.markdown}", types.MessageType.Info)
        ls.show(message)
        run.progress.end("Explanation ready.", failure_shown=True)
        return run.summary(kind="explained", message=message, markdown=result.markdown)
    except _Cancelled as exc:
        return run.was_cancelled(exc.by)
    except M21Error as exc:
        return run.failed(exc)
    except asyncio.CancelledError:
        run.progress.end("Stopped.")
        raise
    except Exception as exc:
        return run.crashed(exc)
    finally:
        run.close()
