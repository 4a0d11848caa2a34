"""Landing a finished refactor in the editor: lock, rebase, send, and believe only what lands.

A finished refactor is moved onto the document as it is *now* (``pipeline.rebase``), or
refused when the selected code changed, then sent as a versioned ``workspace/applyEdit``
for exactly the version the edit was computed on, so a client that checks versions (VS
Code) refuses a stale edit. Neovim applies versioned edits without advertising them and
skips stale ones while answering "applied" (:mod:`.neovim`), so it gets them too, and an
"applied" answer counts only once the client's next ``didChange`` shows the edit
(:mod:`.landing`); otherwise the user is told that the code changed and to run it again.

Edits for one document are serialised (``Documents.edit_lock``): the next edit is computed
on the text the client really has, not on one an edit still on its way will change.

Confirmation: with ``confirmEdits`` on and a client that supports change annotations, the
edits carry an annotation with ``needsConfirmation``. VS Code then opens its Refactor
Preview with the change *unticked*; the annotation's label says so —
``"Refactor with m2-1: tick to apply"`` — and its description carries any warnings (names
lost or undefined, not syntax-checked).

This module knows nothing about progress wiring or cancellation; it answers through the
:class:`~.commands.Run` it is given, whose outcome mapping covers what it raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..config import Settings
from ..errors import StaleDocument, scrub
from ..pipeline.edits import OffsetEdit
from ..pipeline.types import RefactorRequest, RefactorResult
from . import lazy
from .documents import Documents, Snapshot, to_range
from .landing import edit_landed
from .neovim import applies_document_changes, neovim_version, wire_version
from .results import CommandResult

if TYPE_CHECKING:
    from .app import M21Server
    from .commands import Run

ANNOTATION_ID = "m21-edit"
APPLY_ATTEMPTS = 3
# How long an applied edit may take to come back as didChange; a client that reports none
# has not applied it (Neovim answers "applied" for edits it skipped or the user declined).
APPLY_SETTLE_SECONDS = 10.0


async def _current(ls: M21Server, uri: str) -> Snapshot:
    snap = ls.documents.get(ls.workspace, uri)
    if snap is None:
        raise StaleDocument("The document was closed while m2-1 was working; nothing was applied.")
    return snap


async def apply_refactor(
    ls: M21Server,
    run: Run,
    snap: Snapshot,
    req: RefactorRequest,
    result: RefactorResult,
    settings: Settings,
) -> CommandResult:
    """Land ``result`` (computed on ``snap``) on the document, holding its edit lock."""
    async with ls.documents.edit_lock(snap.uri):
        return await _apply_locked(ls, run, snap.uri, req, result, settings)


async def _apply_locked(
    ls: M21Server,
    run: Run,
    uri: str,
    req: RefactorRequest,
    result: RefactorResult,
    settings: Settings,
) -> CommandResult:
    """Rebase, send and settle one edit while holding the document's edit lock."""
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
) -> CommandResult:
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
