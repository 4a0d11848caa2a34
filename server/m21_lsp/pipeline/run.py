"""prompt → model → extract → shape/validate → edits, shared by the CLI and the server.

Nothing here knows about LSP or the terminal: callers hand in a :class:`RefactorRequest`
with string offsets and get back a checked :class:`RefactorResult` (or an ``M21Error``
whose message the user can act on). The invariant that matters most: every path that does
not end in a valid candidate raises, so no caller can ever turn a failure into an empty or
partial replacement.

CPU-heavy steps (shaping, libcst, diffing) run in a worker thread so that a language server
keeps answering while a refactor is being checked.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Protocol

from .. import limits
from ..config import Settings
from ..errors import (
    InvalidPython,
    InvalidSyntax,
    M21Error,
    ReplyError,
    StaleDocument,
    StructureError,
    UsageError,
    sentence,
)
from ..limits import refused_path_reason
from ..model.types import Completion, Progress, ProgressCallback, Usage
from . import edits as edits_mod
from . import extract, outline, pairs, prompt, redact, shape, syntax, validate
from .types import ExplainResult, RefactorRequest, RefactorResult

__all__ = [
    "ExplainResult",
    "RefactorRequest",
    "RefactorResult",
    "explain",
    "rebase",
    "refactor",
    "refused_path_reason",
]

NOT_CHECKED_WARNING = (
    "Not syntax-checked: there is no grammar for this language, so the edit was not "
    "validated before editing."
)


def _grammar_key(req: RefactorRequest) -> str | None:
    """The tree-sitter grammar that checks a non-Python request, if one is shipped."""
    return None if req.is_python else syntax.language_for(req.language_id, req.path)


class CompletionClient(Protocol):
    """What the pipeline needs from a model client (``client.ModelClient`` is one)."""

    async def complete(
        self, messages: list[dict[str, str]], *, on_progress: ProgressCallback | None = None
    ) -> Completion: ...


def _report(on_progress: ProgressCallback | None, progress: Progress) -> None:
    if on_progress is not None:
        on_progress(progress)


def _check_request(req: RefactorRequest, settings: Settings) -> str:
    """Refuse malformed or oversized requests before anything is sent."""
    limits.check_path(settings, req.path)
    limits.check_encodable(req.text)
    if not 0 <= req.start <= req.end <= len(req.text):
        raise UsageError(
            f"The range {req.start}-{req.end} is outside the document ({len(req.text)} characters)."
        )
    selection = req.selection
    if not selection.strip():
        raise UsageError("The selection is empty. Select the code to work on and try again.")
    limits.check_selection(settings, selection)
    return selection


def _context(req: RefactorRequest, settings: Settings) -> dict[str, Any]:
    """What every prompt is told about where the selection lives: one place for refactor,
    fix, actions and explain."""
    return {
        "context_lines": settings.context_lines,
        "language_id": req.language_id,
        "path": req.path,
    }


async def refactor(
    req: RefactorRequest,
    settings: Settings,
    client: CompletionClient,
    on_progress: ProgressCallback | None = None,
) -> RefactorResult:
    """Ask the model for a replacement of the selection and return a checked edit.

    An invalid Python candidate gets ``settings.repair_turns`` repair turns, each a new model
    call that sees its own earlier reply (reasoning included) and the parser's message.
    """
    started = time.monotonic()
    selection = _check_request(req, settings)
    messages = prompt.refactor_messages(
        req.text,
        req.start,
        req.end,
        instruction=req.instruction,
        diagnostics=req.diagnostics,
        edit_format=settings.edit_format,
        **_context(req, settings),
    )
    limits.check_prompt(settings, prompt.estimate_tokens(messages))
    # The one way to the model: secrets out as placeholders, back in the reply.
    guarded = redact.guard(client, settings, path=req.path, strict=True)

    usage = Usage()
    calls = 0
    repairs_left = settings.repair_turns
    pair_repairs_left = min(1, settings.repair_turns)  # repairTurns 0 turns all repairs off
    while True:
        completion = await guarded.complete(messages, on_progress=on_progress)
        calls += 1
        usage.add(completion.usage)
        _report(on_progress, Progress("checking"))
        reply_text = completion.text
        found = pairs.parse_pairs(completion.text, completion.tool_calls)
        if found is not None:
            applied = _applied_pairs(req, selection, found)
            if isinstance(applied, list):
                if pair_repairs_left <= 0:
                    raise pairs.refusal(applied, calls)
                pair_repairs_left -= 1
                _report(
                    on_progress,
                    Progress("repairing", message="asking the model to fix its replacement pairs"),
                )
                shown, _ = prompt.dedent_selection(req.text, req.start, req.end)
                messages = prompt.pair_repair_messages(
                    messages, _raw_reply(completion), pairs.repair_message(applied, shown)
                )
                continue
            reply_text = applied
        try:
            candidate = await asyncio.to_thread(_checked_candidate, req, selection, reply_text)
            break
        except InvalidSyntax as exc:
            if repairs_left <= 0:
                tried = "" if calls == 1 else f" (after {calls - 1} repair turn(s))"
                if isinstance(exc, InvalidPython):
                    raise InvalidPython(
                        f"The model's code is not valid Python{tried}: {sentence(exc.message)} "
                        "Nothing was changed. Try again, or give a more specific instruction.",
                        detail=exc.detail,
                        line=exc.line,
                    ) from exc
                raise InvalidSyntax(
                    f"The model's code is not valid {exc.language}{tried}: "
                    f"{sentence(exc.message)} Nothing was changed. Try again, select the whole "
                    "block the code belongs to, or give a more specific instruction.",
                    detail=exc.detail,
                    line=exc.line,
                    language=exc.language,
                ) from exc
            repairs_left -= 1
            _report(on_progress, Progress("repairing"))
            messages = prompt.repair_messages(messages, _raw_reply(completion), exc.message)

    guarded.check_edit(req.text, candidate.new_text, selection, candidate.replacement)
    warnings: list[str] = []
    checked = req.is_python or _grammar_key(req) is not None
    if req.is_python:
        warnings = await asyncio.to_thread(
            validate.name_warnings,
            selection,
            candidate.replacement,
            candidate.new_text,
            candidate.changed_spans[-1],
        )
    elif not checked:
        warnings.append(NOT_CHECKED_WARNING)
    minimal = await asyncio.to_thread(edits_mod.minimal_edits, req.text, candidate.new_text)
    return RefactorResult(
        base_text=req.text,
        new_text=candidate.new_text,
        edits=minimal,
        replacement=candidate.replacement,
        selection=(req.start, req.end),
        warnings=warnings,
        syntax_checked=checked,
        usage=usage,
        model_calls=calls,
        seconds=time.monotonic() - started,
        secrets_kept_out=guarded.kept_out,
    )


def _applied_pairs(
    req: RefactorRequest, selection: str, found: list[pairs.Pair]
) -> str | list[pairs.PairProblem]:
    """A pair reply turned into the whole-selection reply it stands for (a fenced block of
    the selection as the prompt showed it, with the pairs applied), or its problems.

    From here on the reply is checked exactly like one the model wrote out whole.
    """
    shown, _ = prompt.dedent_selection(req.text, req.start, req.end)
    result = pairs.apply_pairs(found, shown)
    if isinstance(result, list):
        return pairs.outside_problems(result, req.text, selection)
    fence = prompt.fence_for(result)
    body = result if result.endswith("\n") else result + "\n"
    return f"{fence}\n{body}{fence}\n"


def _raw_reply(completion: Completion) -> str:
    """The reply as the model wrote it, for a repair turn: structured tool calls are
    written back in the XML form the prompt asked for (no tool protocol is used)."""
    if not completion.tool_calls:
        return completion.raw
    return completion.raw + "".join(
        pairs.render_call(call.name, call.arguments) for call in completion.tool_calls
    )


# The readings of a reply tried in turn, until one gives an edit that parses and keeps the
# file's structure: (take enclosing blocks out of the reply, re-indent level by level even
# when the reply's indentation looks consistent).
_READINGS = ((True, False), (False, False), (True, True), (False, True))
_MOVE_WORDS = re.compile(r"(?i)\b(move|nest|indent|dedent|unnest)\b")


def _checked_candidate(req: RefactorRequest, selection: str, reply_text: str) -> shape.Candidate:
    """The first reading of the reply whose edit parses and passes the structural guard.

    When none does, the first reading's failure is raised: an :class:`InvalidPython` or,
    for a language with a tree-sitter grammar, an :class:`InvalidSyntax` (so the caller can
    ask for a repair), or a :class:`StructureError` saying what the reply did; the document
    is never touched either way. A language without a grammar is not checked.
    """
    first_error: M21Error | None = None
    seen: set[tuple[object, ...]] = set()
    readings = _READINGS if req.is_python else _READINGS[1:2]
    allow_moves = bool(req.instruction and _MOVE_WORDS.search(req.instruction))
    for unwrap_blocks, force in readings:
        try:
            code = extract.extract_code(
                reply_text, selection, document=req.text, start=req.start, python=unwrap_blocks
            )
            candidate = shape.build_candidate(
                req.text, req.start, req.end, code, is_python=req.is_python, force_reindent=force
            )
            if candidate.key in seen:
                continue
            seen.add(candidate.key)
            if not req.is_python:
                key = _grammar_key(req)
                if key is not None:
                    syntax.check_candidate(
                        key,
                        req.text,
                        candidate.start,
                        candidate.end,
                        candidate.new_text,
                        candidate.changed_spans,
                    )
                return candidate
            validate.check_python(candidate.new_text, candidate.changed_spans)
            span = candidate.changed_spans[-1]
            problem = outline.check(
                req.text,
                (candidate.start, candidate.end),
                candidate.new_text,
                span,
                allow_moves=allow_moves,
            )
            if problem is None:
                return candidate
            raise StructureError(
                f"The model's code was not applied: {problem}. Nothing was changed. Try "
                "again, or select the whole block the code belongs to."
            )
        except M21Error as exc:
            if first_error is None:
                first_error = exc
            elif isinstance(first_error, InvalidPython) and isinstance(exc, StructureError):
                first_error = exc  # a reading that parses says more than one that does not
    assert first_error is not None
    raise first_error


def _spans_in_result(moved: list[edits_mod.OffsetEdit]) -> list[tuple[int, int]]:
    """Where each edit's new text sits in the document after applying all of them."""
    spans: list[tuple[int, int]] = []
    shift = 0
    for edit in sorted(moved, key=lambda e: e.start):
        start = edit.start + shift
        spans.append((start, start + len(edit.new_text)))
        shift += len(edit.new_text) - (edit.end - edit.start)
    return spans


async def rebase(
    result: RefactorResult,
    current_text: str,
    *,
    is_python: bool,
    language_id: str | None = None,
    path: str | None = None,
) -> tuple[list[edits_mod.OffsetEdit], str]:
    """Move a finished edit onto the document as it is now, or refuse.

    The user may have typed while the model worked. The edit is moved only when their
    changes leave the selected code and every edited region untouched (the model's code
    was written for the selection as it was, so a change anywhere in it voids the reply,
    even on a line the model kept), and a moved Python edit is checked again, because
    hoisted imports and the replacement now sit in a different module; so is an edit in a
    language with a grammar (``language_id``/``path`` say which), against the current text.
    """
    if current_text == result.base_text:
        return result.edits, result.new_text
    moved = await asyncio.to_thread(
        edits_mod.rebase_edits,
        result.base_text,
        current_text,
        result.edits,
        selection=result.selection,
    )
    if moved is None:
        raise StaleDocument(
            "The selected code changed while m2-1 was working, so nothing was applied. "
            "Run the refactor again on the current code."
        )
    new_text = edits_mod.apply_edits(current_text, moved)
    key = None if is_python else syntax.language_for(language_id, path)
    if key is not None and moved:
        old_range = (min(e.start for e in moved), max(e.end for e in moved))
        try:
            await asyncio.to_thread(
                syntax.check_edit, key, current_text, old_range, new_text, _spans_in_result(moved)
            )
        except InvalidSyntax as exc:
            raise StaleDocument(
                "The document changed while m2-1 was working and the edit no longer fits it "
                f"({exc.message}), so nothing was applied. Run the refactor again.",
                detail=exc.detail,
            ) from exc
    if is_python:
        try:
            await asyncio.to_thread(validate.check_python, new_text, _spans_in_result(moved))
        except InvalidPython as exc:
            raise StaleDocument(
                "The document changed while m2-1 was working and the edit no longer fits it "
                f"({exc.message}), so nothing was applied. Run the refactor again.",
                detail=exc.detail,
            ) from exc
    return moved, new_text


async def explain(
    req: RefactorRequest,
    settings: Settings,
    client: CompletionClient,
    on_progress: ProgressCallback | None = None,
) -> ExplainResult:
    """Ask the model to explain the selection; the markdown has its reasoning stripped."""
    started = time.monotonic()
    _check_request(req, settings)
    messages = prompt.explain_messages(req.text, req.start, req.end, **_context(req, settings))
    limits.check_prompt(settings, prompt.estimate_tokens(messages))
    guarded = redact.guard(client, settings, path=req.path, strict=False)
    completion = await guarded.complete(messages, on_progress=on_progress)
    markdown = completion.text.strip()
    if not markdown:
        raise ReplyError(
            "The model returned an empty explanation. Try again, or select a smaller piece of code."
        )
    return ExplainResult(
        markdown=markdown,
        usage=completion.usage,
        seconds=time.monotonic() - started,
        secrets_kept_out=guarded.kept_out,
    )
