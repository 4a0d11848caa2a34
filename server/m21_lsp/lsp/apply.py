"""Landing a finished refactor in the editor: lock, rebase, send, and believe only what lands.

A finished refactor is moved onto the document as it is *now* (``pipeline.rebase``), or
refused when the selected code changed, then sent as a versioned ``workspace/applyEdit``
for exactly the version the edit was computed on, so a client that checks versions (VS
Code) refuses a stale edit. Neovim applies versioned edits without advertising them and
skips stale ones while answering "applied" (:mod:`.neovim`), so it gets them too, and
*from Neovim without the m21 plugin* an "applied" answer counts only once the client's next
``didChange`` shows the edit (:mod:`.landing`); otherwise the user is told that the code
changed and to run it again. Every other client's "applied" is believed at once: waiting for
its ``didChange`` would hold up the answer (eglot sends it from an idle timer, which cannot
fire while Emacs waits for that answer) and, if it came late, call an applied edit "not
applied". The next edit of the document waits for that ``didChange`` instead
(``Documents.wait_for_landing``).

Edits for one document are serialised (``Documents.edit_lock``): the next edit is computed
on the text the client really has, not on one an edit still on its way will change.

Confirmation: with ``confirmEdits`` on and a client that supports change annotations, the
edits carry an annotation with ``needsConfirmation``. VS Code then opens its Refactor
Preview with the change *unticked*; the annotation's label says so —
``"Refactor with m2-1: tick to apply"`` — and its description carries any warnings (names
lost or undefined, not syntax-checked).

This module knows nothing about progress wiring or cancellation; it answers through the
run it is given (:class:`CommandRun`, which :class:`~.commands.Run` is), whose outcome
mapping covers what it raises. The dependency goes one way: :mod:`.commands` calls this
module, and this module names only the protocol it needs from its caller.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from lsprotocol import types
from pygls import uris
from pygls.exceptions import JsonRpcException

from ..config import Settings
from ..errors import SecretFileRefused, StaleDocument, UsageError, scrub
from ..limits import refused_path_reason
from ..model.types import Usage
from ..pipeline.edits import OffsetEdit, minimal_edits
from ..pipeline.redact import kept_out_text
from ..pipeline.types import RefactorRequest, RefactorResult
from ..text.positions import LineIndex
from ..user_actions import Action, resolve_target, target_request, target_text
from . import lazy
from .documents import Documents, Snapshot, to_range
from .landing import edit_landed
from .neovim import applied_needs_proof, applies_document_changes, neovim_version, wire_version
from .progress import WorkProgress
from .results import CommandResult

if TYPE_CHECKING:
    from .app import M21Server

T = TypeVar("T")


class CommandRun(Protocol):
    """What landing an edit needs from the command it belongs to: its title and progress,
    the model call (so a cancel reaches it), the usage to report, the result's shape.

    :class:`~.commands.Run` is the implementation; naming only this protocol here keeps
    :mod:`.commands` → :mod:`.apply` the one direction between the two modules.
    """

    title: str
    progress: WorkProgress
    usage: Usage | None

    async def model(self, coro: Coroutine[Any, Any, T]) -> T: ...

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
    ) -> CommandResult: ...


ANNOTATION_ID = "m21-edit"
APPLY_ATTEMPTS = 3
# How long an applied edit may take to come back as didChange: Neovim without the plugin
# that reports none has not applied it (it answers "applied" for edits it skipped or the user
# declined); for other clients, how long the next edit waits for the previous one's.
APPLY_SETTLE_SECONDS = 10.0
# Eglot answers an edit for an older version with an error, and sends the didChange of the
# typing that made it older from an idle timer half a second after the last key: wait this
# long for it before calling the refusal final.
REFUSAL_SETTLE_SECONDS = 1.5


async def _current(ls: M21Server, uri: str) -> Snapshot:
    snap = ls.documents.get(ls.workspace, uri)
    if snap is None:
        raise StaleDocument("The document was closed while m2-1 was working; nothing was applied.")
    return snap


async def apply_refactor(
    ls: M21Server,
    run: CommandRun,
    snap: Snapshot,
    req: RefactorRequest,
    result: RefactorResult,
    settings: Settings,
) -> CommandResult:
    """Land ``result`` (computed on ``snap``) on the document, holding its edit lock."""
    async with ls.documents.edit_lock(snap.uri):
        await ls.documents.wait_for_landing(ls.workspace, snap.uri, APPLY_SETTLE_SECONDS)
        return await _apply_locked(ls, run, snap.uri, req, result, settings)


async def _apply_locked(
    ls: M21Server,
    run: CommandRun,
    uri: str,
    req: RefactorRequest,
    result: RefactorResult,
    settings: Settings,
) -> CommandResult:
    """Rebase, send and settle one edit while holding the document's edit lock."""
    for _attempt in range(APPLY_ATTEMPTS):
        snap = await _current(ls, uri)
        edits, _new_text = await lazy.pipeline().rebase(
            result, snap.text, is_python=req.is_python, language_id=req.language_id, path=req.path
        )
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
        try:
            response = await ls.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label=run.title)
            )
        except JsonRpcException as exc:
            # Eglot refuses with an error, not ``applied: false`` (a stale version, or the
            # user's "no"); the typing that made the version stale may still be on its way.
            response = types.ApplyWorkspaceEditResult(applied=False, failure_reason=exc.message)
            await ls.documents.wait_for_change(ls.workspace, snap, REFUSAL_SETTLE_SECONDS)
        if response.applied and not applied_needs_proof(ls.client_info, ls.client_capabilities):
            ls.documents.expect_landing(snap)
            return _applied(ls, run, snap, edits, result)
        if response.applied:
            # Neovim without the plugin: keep the lock until its didChange shows the edit,
            # and believe "applied" only if that text has the edit (it says applied for an
            # edit it skipped because the buffer was newer, or that the user declined).
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
    ls: M21Server, run: CommandRun, snap: Snapshot, edits: list[OffsetEdit], result: RefactorResult
) -> CommandResult:
    lines = sum(e.new_text.count("\n") for e in edits) or len(edits)
    kept = f"; {kept_out_text(result.secrets_kept_out)}" if result.secrets_kept_out else ""
    message = f"Applied ({lines} line{'s' if lines != 1 else ''} changed{kept})."
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


# ---------------------------------------------------------------------------- targets
def _workspace_root(ls: M21Server, doc: Path) -> Path | None:
    """The innermost workspace folder holding ``doc`` (targets are relative to it)."""
    roots: list[Path] = []
    for folder in (ls.workspace.folders or {}).values():
        if folder.uri.startswith("file:"):
            roots.append(Path(uris.to_fs_path(folder.uri) or "").resolve())
    if ls.workspace.root_path:
        roots.append(Path(ls.workspace.root_path).resolve())
    inside = [r for r in roots if doc.resolve().is_relative_to(r)]
    return max(inside, key=lambda r: len(r.parts)) if inside else None


def _client_creates_files(ls: M21Server) -> bool:
    caps = ls.client_capabilities.workspace
    edit_caps = caps.workspace_edit if caps is not None else None
    if not (caps and caps.apply_edit and edit_caps and edit_caps.document_changes):
        return False
    operations = edit_caps.resource_operations or []
    return any(getattr(op, "value", op) == "create" for op in operations)


async def write_target(
    ls: M21Server, run: CommandRun, target: Any, action: Action, settings: Settings
) -> CommandResult:
    """Ask for the new code of the action's target file and create or append to it.

    The model is shown the target file as the document (so its checks, the Python parse and
    the structural guard, run on the file that will change) with the selected code placed
    at its end as the selection; the checked file is what is written, as the minimal edits
    from what the file holds now (the reply's imports may join the file's own).
    """
    assert action.target is not None
    snap: Snapshot = target.snap
    if not snap.path:
        raise UsageError("This document has no file path, so there is nowhere to write to.")
    source = Path(snap.path)
    try:
        path, shown = resolve_target(action.target.file, source, _workspace_root(ls, source))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    reason = refused_path_reason(settings, str(path))
    if reason:
        raise SecretFileRefused(reason)
    uri = uris.from_fs_path(str(path)) or path.as_uri()
    open_doc = ls.documents.get(ls.workspace, uri)
    existed = open_doc is not None or path.exists()
    if open_doc is not None:
        existing, version = open_doc.text, open_doc.version
    else:
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        version = None
    req = target_request(
        action,
        snap.text[target.start : target.end],
        source=source,
        path=path,
        shown=shown,
        existing=existing,
        language_id=snap.language_id,
    )
    async with ls.clients.use(settings) as client:
        result = await run.model(
            lazy.pipeline().refactor(req, settings, client, run.progress.on_model_progress)
        )
    run.usage = result.usage
    new_text = target_text(existing, req, result.new_text)
    if new_text is None:
        message = f"{settings.model_label} wrote nothing new for {shown}; nothing was created."
        run.progress.end(message)
        return run.summary(kind="unchanged", message=message)
    # Mostly an append; the pipeline may also have moved an import up to the file's imports.
    changes = minimal_edits(existing, new_text)
    size = len(new_text.encode("utf-8"))
    keys = {"targetUri": uri, "targetPath": shown, "bytes": size, "existed": existed}
    verb = "append to" if existed else "create"
    if not _client_creates_files(ls):
        message = (
            f"This editor cannot create files from a server (no workspace edit resource "
            f"operation 'create'), so nothing was applied: it would {verb} {shown} "
            f"({size} bytes). The text is in this command's result under 'text'."
        )
        run.progress.end(message)
        return run.summary(kind="wouldCreate", message=message, text=new_text, **keys)
    encoding = Documents.encoding(ls.workspace)
    index = LineIndex(existing)
    annotate = settings.confirm_edits and bool(
        ls.client_capabilities.workspace
        and ls.client_capabilities.workspace.workspace_edit
        and ls.client_capabilities.workspace.workspace_edit.change_annotation_support
    )
    annotation = ANNOTATION_ID if annotate else None
    text_edits: list[Any] = []
    for change in sorted(changes, key=lambda e: (e.start, e.end)):
        rng = to_range(index, change.start, change.end, encoding)
        text_edits.append(
            types.AnnotatedTextEdit(
                range=rng, new_text=change.new_text, annotation_id=ANNOTATION_ID
            )
            if annotate
            else types.TextEdit(range=rng, new_text=change.new_text)
        )
    edit = types.WorkspaceEdit(
        document_changes=[
            types.CreateFile(
                uri=uri,
                options=types.CreateFileOptions(ignore_if_exists=True),
                annotation_id=annotation,
            ),
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=wire_version(ls.client_info, version)
                ),
                edits=text_edits,
            ),
        ],
        change_annotations={
            ANNOTATION_ID: types.ChangeAnnotation(
                label=f"{run.title}: {verb} {shown}",
                needs_confirmation=True,
                description=f"{size} bytes added to {shown}.",
            )
        }
        if annotate
        else None,
    )
    run.progress.stop_cancellable(f"writing {shown}")
    try:
        response = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=run.title)
        )
    except JsonRpcException as exc:  # eglot refuses with an error (see _apply_locked)
        response = types.ApplyWorkspaceEditResult(applied=False, failure_reason=exc.message)
    if not response.applied:
        reason = response.failure_reason or "the editor did not apply it"
        message = f"{shown} was not written ({reason})."
        run.progress.end(message)
        return run.summary(kind="declined", message=message)
    message = f"{'Added to' if existed else 'Created'} {shown} ({size} bytes)."
    run.progress.end(message)
    return run.summary(kind="created", message=message, applied=True, **keys)
