"""``m21.refactor`` / ``m21.fix`` / ``m21.explain``: the long model calls live here.

``m21.refactor`` with an ``action`` argument runs a user-defined action (``docs/actions.md``)
by name: Refactor with the action's instruction, scope and target, so it shares every
check, the preview and the cancel.

They run in ``workspace/executeCommand`` (never in a request a client times out, such as
``codeAction/resolve``), report work-done progress, and can be cancelled two ways:

* ``window/workDoneProgress/cancel``: the model call is cancelled (closing the HTTP stream)
  and the command answers normally with ``{"applied": false, "cancelled": true}``;
* ``$/cancelRequest``: pygls answers RequestCancelled by itself; the hook registered here
  cancels the model call too, because pygls would otherwise let it run to the end.

Each command body runs inside ``with Run(...) as run:``. :class:`Run` is the one place that
turns how the body ended into the command's outcome — a cancel into ``cancelled``, an
:class:`~m21_lsp.errors.M21Error` into one message and its kind, anything else into
``internal`` with the traceback in the log — so the refactor and explain commands cannot
drift apart in how they fail. Landing the edit (locks, versions, rebase, annotations,
Neovim's landing check) is :mod:`.apply`'s job; the result's shape is :mod:`.results`.

A client that would give up waiting (eglot, Helix, clients without progress: the rule is in
:mod:`.detach`) gets its answer when the model call begins, ``kind: "started"``;
:meth:`Run.finish` runs the rest in the background with the same outcome mapping, and the
outcome reaches the user as a message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import traceback
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from lsprotocol import types

from ..config import Settings
from ..errors import M21Error, SecretFileRefused, StaleDocument, UsageError, scrub
from ..limits import refused_path_reason
from ..model.types import Progress, Usage
from ..pipeline.types import RefactorRequest
from ..user_actions import Action, find
from . import detach, lazy, memory, preview
from .actions import target_range
from .apply import apply_refactor, write_target
from .documents import Documents, Snapshot
from .progress import WorkProgress
from .results import CommandResult

if TYPE_CHECKING:
    from .app import M21Server

T = TypeVar("T")


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


def parse_target(
    ls: M21Server, args: Sequence[Any], settings: Settings, *, scope: str = "selection"
) -> Target:
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
    start, end = target_range(snap, start, end, scope)
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
    """One command execution: its progress, its cancel wiring and its outcome.

    Used as ``with Run(ls, title) as run: ... return run.summary(...)`` followed by
    ``return run.outcome()``: a body that returns gives its own result; a body that raises
    ends here, in :meth:`__exit__`, which maps the exception to the result once for every
    command. An ``asyncio.CancelledError`` (pygls cancelled the request, or the server is
    going away) ends the progress with ``stopped`` and propagates.
    """

    def __init__(
        self, ls: M21Server, title: str, *, stopped: str = "Stopped; nothing was changed."
    ) -> None:
        self.ls = ls
        self.title = title
        self.stopped = stopped
        self.started = time.monotonic()
        self.cancel_reason: str | None = None
        self._task: asyncio.Future[Any] | None = None
        self._outcome: CommandResult | None = None
        self.msg_id = ls.protocol.msg_id
        if self.msg_id is not None:
            if ls.protocol.was_cancelled(self.msg_id):
                self.cancel_reason = "request"
            ls.protocol.cancel_hooks[self.msg_id] = lambda: self.cancel("request")
        # A client that would time out waiting is answered at once (see .detach).
        self.detached = detach.answers_at_once(ls)
        self.progress = WorkProgress(
            ls, title, on_cancel=lambda: self.cancel("progress"), show_outcome=self.detached
        )
        self.usage: Usage | None = None
        # The command's m21/preview (lsp/preview.py), once it knows its target; cleared in
        # close() unless the body marked it done.
        self.preview: preview.LivePreview | None = None
        self._me = asyncio.current_task()
        if self._me is not None:
            ls.running.add(self._me)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            if exc is None:
                return False
            if isinstance(exc, _Cancelled):
                self._outcome = self.was_cancelled(exc.by)
            elif isinstance(exc, M21Error):
                self._outcome = self.failed(exc)
            elif isinstance(exc, asyncio.CancelledError):
                self.progress.end(self.stopped)
                return False
            elif isinstance(exc, Exception):
                self._outcome = self.crashed(exc)
            else:
                return False  # KeyboardInterrupt, SystemExit: not ours to turn into a result
            return True
        finally:
            self.close()

    def outcome(self) -> CommandResult:
        """The result :meth:`__exit__` made of the exception that ended the body."""
        if self._outcome is None:
            raise RuntimeError(f"{self.title}: the command ended without a result")
        return self._outcome

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

    async def finish(self, work: Coroutine[Any, Any, CommandResult]) -> CommandResult:
        """The rest of the command once its arguments are checked and its progress begun.

        Awaited for a client that waits patiently. For one that would give up waiting
        (:mod:`.detach`) it becomes a background task and the command is answered now with
        ``kind: "started"``: the work, its edit and its outcome message go on without the
        request, whose cancel hook :meth:`close` removes as this answer leaves."""
        if not self.detached:
            return await work
        detach.keep(self.ls, asyncio.ensure_future(self._in_background(work)))
        return self.summary(
            kind="started", message="Started; the outcome will be shown as a message."
        )

    async def _in_background(self, work: Coroutine[Any, Any, CommandResult]) -> None:
        """Run ``work`` with the outcome mapping of :meth:`__exit__`; its result, which no
        request carries any more, goes to the log (the user got it as a message)."""
        with self:
            self._outcome = await work
        outcome = self.outcome()
        self.ls.log(f"{self.title} ({outcome['kind']}): {outcome['message']}")

    def on_model_progress(self, progress: Progress) -> None:
        """The pipeline's progress callback: work-done progress and the live preview."""
        self.progress.on_model_progress(progress)
        if self.preview is not None:
            self.preview.on_progress(progress)

    def close(self) -> None:
        if self.preview is not None:
            self.preview.clear()  # no-op after done(): a cancel, failure or no change
        if self.msg_id is not None:
            self.ls.protocol.cancel_hooks.pop(self.msg_id, None)
        if self._me is not None:
            self.ls.running.discard(self._me)
        memory.trim_soon()  # the run's documents and trees are garbage now

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
    ) -> CommandResult:
        """The result in the shape of :mod:`.results`; ``extra`` are the keys of ``kind``."""
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
        return cast(CommandResult, out)

    def failed(self, exc: M21Error) -> CommandResult:
        """One message with what to do; details only in the log; progress ended."""
        kind = types.MessageType.Warning if exc.kind == "stale" else types.MessageType.Error
        self.ls.show(f"{self.title}: {exc.message}", kind)
        self.ls.log(f"{self.title} failed ({exc.kind}): {exc.message} {exc.detail}".strip())
        self.progress.end(f"Failed: {exc.message}", failure_shown=True)
        return self.summary(kind=exc.kind, message=exc.message, failed=True)

    def crashed(self, exc: BaseException) -> CommandResult:
        text = "".join(traceback.format_exception(exc))
        self.ls.log(f"{self.title}: internal error\n{text}", types.MessageType.Error)
        message = f"Internal error ({type(exc).__name__}); nothing was changed. See the log."
        self.ls.show(f"{self.title}: {message}", types.MessageType.Error)
        self.progress.end(f"Failed: {message}", failure_shown=True)
        return self.summary(kind="internal", message=message, failed=True)

    def was_cancelled(self, by: str) -> CommandResult:
        message = "Cancelled; nothing was changed."
        self.progress.end(message)
        if by == "request":
            # pygls has already answered RequestCancelled; this result goes nowhere.
            raise asyncio.CancelledError
        return self.summary(kind="cancelled", message=message, cancelled=True)


# ---------------------------------------------------------------------------- refactor
async def run_refactor(ls: M21Server, args: Sequence[Any], *, fix: bool = False) -> CommandResult:
    if not fix and len(args) == 1 and isinstance(args[0], Mapping) and "action" in args[0]:
        return await run_action(ls, args)
    await ls.wait_for_settings()
    settings = ls.settings
    verb = "Fix" if fix else "Refactor"
    with Run(ls, f"{verb} with {settings.model_label}") as run:
        target = parse_target(ls, args, settings)
        if fix and not target.diagnostics:
            raise UsageError("Fix needs the diagnostics to fix; use the quick fix action.")
        await run.progress.begin(target.snap.uri.rsplit("/", 1)[-1])
        return await run.finish(_refactor_and_apply(ls, run, target, settings))
    return run.outcome()


async def _refactor_and_apply(
    ls: M21Server, run: Run, target: Target, settings: Settings
) -> CommandResult:
    """The model's edit for ``target``, checked by the pipeline and landed (Refactor, Fix
    and user actions alike): one place decides what "no change" and "applied" mean."""
    req = target.request()
    run.preview = preview.start(ls, "refactor", target.snap, target.start, target.end)
    async with ls.clients.use(settings) as client:
        result = await run.model(
            lazy.pipeline().refactor(req, settings, client, run.on_model_progress)
        )
    run.usage = result.usage
    if not result.changed:
        message = f"{settings.model_label} suggested no change."
        run.progress.end(message)
        return run.summary(kind="unchanged", message=message, warnings=result.warnings)
    run.preview.done(result.replacement)
    run.progress.stop_cancellable("applying the edit")
    return await apply_refactor(ls, run, target.snap, req, result, settings)


# ---------------------------------------------------------------------------- actions
def action_named(args: Sequence[Any], settings: Settings) -> Action:
    """The action the command's ``action`` names, looked up in the settings in force now:
    the instruction never travels through the client."""
    name = args[0].get("action") if len(args) == 1 and isinstance(args[0], Mapping) else None
    if not isinstance(name, str) or not name:
        raise UsageError("The command's 'action' must be an action's name: use the code action.")
    action = find(settings.actions, name)
    if action is None:
        known = ", ".join(a.name for a in settings.actions) or "none"
        raise UsageError(f"There is no action named {name!r} (actions: {known}).")
    return action


async def run_action(ls: M21Server, args: Sequence[Any]) -> CommandResult:
    await ls.wait_for_settings()
    settings = ls.settings
    try:
        action = action_named(args, settings)
        title = f"{action.title} with {settings.model_label}"
    except UsageError:
        action, title = None, f"Action with {settings.model_label}"
    with Run(ls, title) as run:
        if action is None:
            action = action_named(args, settings)  # raises again, inside Run: one message
        target = dataclasses.replace(
            parse_target(ls, args, settings, scope=action.scope),
            instruction=action.instruction,
            diagnostics=(),
        )
        if not action.applies_to(target.snap.language_id):
            raise UsageError(
                f"{action.title!r} is for {', '.join(action.languages)}, "
                f"not {target.snap.language_id}."
            )
        await run.progress.begin(target.snap.uri.rsplit("/", 1)[-1])
        if action.target is not None:
            return await run.finish(write_target(ls, run, target, action, settings))
        return await run.finish(_refactor_and_apply(ls, run, target, settings))
    return run.outcome()


# ---------------------------------------------------------------------------- explain
async def run_explain(ls: M21Server, args: Sequence[Any]) -> CommandResult:
    await ls.wait_for_settings()
    settings = ls.settings
    with Run(ls, f"Explain with {settings.model_label}", stopped="Stopped.") as run:
        target = parse_target(ls, args, settings)
        await run.progress.begin(target.snap.uri.rsplit("/", 1)[-1])
        return await run.finish(_explain(ls, run, target, settings))
    return run.outcome()


async def _explain(ls: M21Server, run: Run, target: Target, settings: Settings) -> CommandResult:
    """The model's explanation of ``target``, cached for hover and shown as a message."""
    req = target.request()
    run.preview = preview.start(ls, "explain", target.snap, target.start, target.end)
    async with ls.clients.use(settings) as client:
        result = await run.model(
            lazy.pipeline().explain(req, settings, client, run.on_model_progress)
        )
    run.usage = result.usage
    run.preview.done(result.markdown)
    code = target.snap.text[target.start : target.end]
    ls.hover_cache.put(target.snap.uri, code, settings.model, result.markdown)
    if settings.hover == "off":
        where = "the log" if run.detached else "the command's result and the log"
        message = f"Explanation ready (hover is off: it is in {where})."
    else:
        message = "Explanation ready: hover the selection to read it."
    ls.log(f"{run.title}:\n{result.markdown}", types.MessageType.Info)
    ls.show(message)
    run.progress.end("Explanation ready.", failure_shown=True)
    return run.summary(kind="explained", message=message, markdown=result.markdown)
