"""``m21-lsp``: the pipeline from the command line, plus ``serve`` for editors.

Exit codes: 0 success; 1 configuration, model, reply or validation failure (message on
stderr, file untouched); 2 usage errors (bad arguments or ranges); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TextIO, TypeVar

from . import __version__, config, version
from .errors import M21Error, UsageError, clause, scrub
from .model.types import Progress, Usage
from .pipeline import run as pipeline
from .pipeline.types import RefactorRequest, RefactorResult
from .text.positions import LineIndex
from .user_actions import BUILTINS, Action, find, resolve_target, target_request, target_text

_R = TypeVar("_R")

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# --------------------------------------------------------------------------- ranges


def parse_lines(spec: str, text: str) -> tuple[int, int]:
    """``A-B`` (1-based, inclusive, whole lines with the last line's newline) → offsets."""
    try:
        first_s, _, last_s = spec.partition("-")
        first = int(first_s)
        last = int(last_s) if last_s else first
    except ValueError:
        raise UsageError(f"--lines {spec!r}: expected A-B, e.g. --lines 10-24.") from None
    starts = LineIndex(text).line_starts
    count = len(starts) if not text.endswith(("\n", "\r")) else len(starts) - 1
    if not 1 <= first <= last <= max(count, 1):
        raise UsageError(f"--lines {spec!r}: the file has {count} lines (1-based, inclusive).")
    end = starts[last] if last < len(starts) else len(text)
    return starts[first - 1], end


def parse_range(spec: str, text: str) -> tuple[int, int]:
    """``L1:C1-L2:C2``: 1-based lines and code-point columns, end exclusive, exact."""
    try:
        a, b = spec.split("-")
        l1, c1 = (int(x) for x in a.split(":"))
        l2, c2 = (int(x) for x in b.split(":"))
    except ValueError:
        raise UsageError(f"--range {spec!r}: expected L1:C1-L2:C2, e.g. --range 3:5-9:1.") from None
    index = LineIndex(text)

    def offset(line: int, col: int) -> int:
        if not 1 <= line <= index.line_count or col < 1:
            raise UsageError(f"--range {spec!r}: position {line}:{col} is outside the file.")
        start = index.line_start(line - 1)
        content_end = index.line_end(line - 1)
        if start + col - 1 > content_end:
            raise UsageError(
                f"--range {spec!r}: line {line} has {content_end - start} columns; "
                f"column {col} is past its end."
            )
        return start + col - 1

    start, end = offset(l1, c1), offset(l2, c2)
    if end < start:
        raise UsageError(f"--range {spec!r}: the end comes before the start.")
    return start, end


# --------------------------------------------------------------------------- progress


class TerminalProgress:
    """Progress on stderr: a spinner on a terminal, plain lines anywhere else.

    A model call can sit for minutes in a retry wait or in the model's thinking. On a
    terminal the spinner shows that; in a log or CI, where a spinner is noise, each retry,
    each wait and each change of phase is one line, so the log says what happened and when.
    Retries and waits are kept as lines on a terminal too (the spinner would overwrite them).
    """

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    # What a log line says when the phase changes (counts would make one line per token).
    PHASE_LINES: ClassVar[dict[str, str]] = {
        "connecting": "waiting for the model",
        "thinking": "the model is thinking",
        "writing": "the model is writing",
        "checking": "checking the code",
        "repairing": "asking the model to fix a syntax error",
    }

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.enabled = _is_terminal(stream)
        self.frame = 0
        self._phase = ""
        self._last_line = ""

    def __call__(self, progress: Progress) -> None:
        line = self._line_for(progress)
        if line:
            self.line(line)
        if not self.enabled:
            return
        self.frame = (self.frame + 1) % len(self.FRAMES)
        text = f"{self.FRAMES[self.frame]} {self.label}: {progress.describe()}"
        self.stream.write("\r\x1b[2K" + text[:120])
        self.stream.flush()

    def _line_for(self, progress: Progress) -> str:
        """The line this report deserves, or "" (a repeat, or a spinner-only update)."""
        phase, self._phase = self._phase, progress.phase
        if progress.message:
            return progress.message
        if self.enabled or progress.phase == phase:
            return ""
        return self.PHASE_LINES.get(progress.phase, "")

    def line(self, text: str) -> None:
        """One permanent line (never the same twice in a row)."""
        text = f"{self.label}: {scrub(text)}"
        if text == self._last_line:
            return
        self._last_line = text
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _summary(seconds: float, usage: Usage, calls: int = 1) -> str:
    """'done in 2.1 s (1 model call): 1,200 prompt + 34 completion tokens'."""
    return (
        f"done in {seconds:.1f} s ({calls} model call{'s' if calls != 1 else ''}): "
        f"{usage.describe()}"
    )


# --------------------------------------------------------------------------- helpers


def _read(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; m21-lsp only edits UTF-8 files.") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror}).") from None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step so that a crash never leaves half a file.

    The new text is written and synced to a temporary file next to the file (the same
    file system, so the rename is atomic), given the file's mode, then renamed over it.
    A symbolic link is followed, so the link stays and the file it names is rewritten.
    Hard links to the old file keep the old text (a rename cannot update them). Any
    failure before the rename leaves the file as it was and is reported as such.
    """
    target = path.resolve()
    tmp: str | None = None
    try:
        mode = target.stat().st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".m21", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise M21Error(f"{path}: cannot write it ({reason}); the file was not changed.") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def unified_diff(old: str, new: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )


def _edits_json(text: str, result_edits: Sequence[Any]) -> list[dict[str, Any]]:
    index = LineIndex(text)
    out = []
    for edit in result_edits:
        sl, sc = index.position_at(edit.start, "utf-16")
        el, ec = index.position_at(edit.end, "utf-16")
        out.append(
            {
                "range": {
                    "start": {"line": sl, "character": sc},
                    "end": {"line": el, "character": ec},
                },
                "newText": edit.new_text,
                "startOffset": edit.start,
                "endOffset": edit.end,
            }
        )
    return out


def _selection(
    args: argparse.Namespace, text: str, action: Action | None = None
) -> tuple[int, int]:
    if args.lines:
        return parse_lines(args.lines, text)
    if args.range:
        return parse_range(args.range, text)
    if action is not None and action.scope == "file":
        return 0, len(text)
    raise UsageError("Give --lines A-B or --range L1:C1-L2:C2 (only a 'file' action needs none).")


# File suffixes to LSP language ids, for an action's ``languages`` (the CLI has no editor
# to say which language a file is).
_LANGUAGE_IDS = {
    "py": "python", "pyi": "python", "js": "javascript", "mjs": "javascript",
    "cjs": "javascript", "jsx": "javascriptreact", "ts": "typescript",
    "tsx": "typescriptreact", "rs": "rust", "go": "go", "java": "java", "c": "c",
    "h": "c", "cc": "cpp", "cpp": "cpp", "hpp": "cpp", "lua": "lua", "json": "json",
    "toml": "toml", "yaml": "yaml", "yml": "yaml", "sh": "shellscript", "bash": "shellscript",
}  # fmt: skip


def _action_for(name: str, settings: config.Settings, path: Path) -> Action:
    """The action named ``name``: the settings' (``M21_ACTIONS``) first, then a built-in."""
    action = find(settings.actions, name) or BUILTINS.get(name)
    if action is None:
        known = ", ".join(dict.fromkeys([a.name for a in settings.actions] + list(BUILTINS)))
        raise UsageError(f"There is no action named {name!r} (actions: {known}).")
    language = _LANGUAGE_IDS.get(path.suffix.lstrip("."), _language_of(path))
    if not action.applies_to(language):
        raise UsageError(
            f"{action.title!r} is for {', '.join(action.languages)}, not {language} ({path.name})."
        )
    return action


def _language_of(path: Path) -> str:
    return "python" if path.suffix in (".py", ".pyi") else (path.suffix.lstrip(".") or "text")


def _settings_for_run() -> config.Settings:
    settings = config.load()
    settings.require_key()
    problem = config.check_endpoint(settings.base_url)
    if problem:
        raise M21Error(problem)
    return settings


# --------------------------------------------------------------------------- commands


async def _run_refactor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:

    if not (args.action or args.lines or args.range):
        raise UsageError("refactor needs one of the arguments --lines, --range (or --action).")
    path = Path(args.path)
    text = _read(path)
    action: Action | None = None
    if args.action:
        settings = _settings_for_run()
        action = _action_for(args.action, settings, path)
        start, end = _selection(args, text, action)
    else:
        start, end = _selection(args, text)
        settings = _settings_for_run()
    if action is not None and action.target is not None:
        return await _run_target_action(args, action, settings, path, text, start, end, out, err)
    req = RefactorRequest(
        text=text,
        start=start,
        end=end,
        instruction=action.instruction if action else args.instruction,
        language_id=_language_of(path),
        path=str(path),
    )
    verb = action.title if action else "Refactor"
    result = await _refactor_with_progress(req, settings, err, verb)
    for warning in result.warnings:
        print(f"warning: {warning}", file=err)
    new_text = result.new_text
    applied = False
    if args.apply and result.changed:
        current = _read(path)
        edits, new_text = await pipeline.rebase(
            result, current, is_python=req.is_python, language_id=req.language_id, path=req.path
        )
        write_atomically(path, new_text)
        applied = True
        base = current
    else:
        edits, base = result.edits, text
    diff = unified_diff(base, new_text, path.name)
    if args.json:
        json.dump(
            _result_json(result, path, applied, diff, _edits_json(base, edits)), out, indent=2
        )
        out.write("\n")
    elif not result.changed:
        print("The model returned the selection unchanged; nothing to do.", file=err)
    elif args.apply:
        print(f"Applied to {path} ({len(edits)} edit(s)).", file=err)
    else:
        out.write(diff)
    return EXIT_OK


async def _with_model(
    settings: config.Settings, err: TextIO, verb: str, call: Callable[[Any, Any], Awaitable[_R]]
) -> tuple[_R, TerminalProgress]:
    """``call(client, progress)`` with a model client and the terminal's progress line,
    cleared whatever happens; the progress is returned for the summary line after it."""
    from .model.client import ModelClient  # httpx: only when a command needs the model

    progress = TerminalProgress(err, f"{verb} with {settings.model_label}")
    try:
        async with ModelClient(settings) as client:
            result = await call(client, progress)
    finally:
        progress.clear()
    return result, progress


async def _refactor_with_progress(
    req: RefactorRequest, settings: config.Settings, err: TextIO, verb: str
) -> RefactorResult:
    """One checked refactor, with its timing/usage summary printed after it."""
    result, progress = await _with_model(
        settings, err, verb, lambda client, p: pipeline.refactor(req, settings, client, p)
    )
    progress.line(_summary(result.seconds, result.usage, result.model_calls))
    return result


async def _run_target_action(
    args: argparse.Namespace,
    action: Action,
    settings: config.Settings,
    path: Path,
    text: str,
    start: int,
    end: int,
    out: TextIO,
    err: TextIO,
) -> int:
    """An action with a target: print the target's diff, or create/append to it (--apply)."""
    from .limits import refused_path_reason

    assert action.target is not None
    try:
        target, shown = resolve_target(action.target.file, path, Path.cwd())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    reason = refused_path_reason(settings, str(target))
    if reason:
        raise UsageError(reason)
    existed = target.exists()
    existing = _read(target) if existed else ""
    req = target_request(
        action,
        text[start:end],
        source=path,
        path=target,
        shown=shown,
        existing=existing,
        language_id=_LANGUAGE_IDS.get(path.suffix.lstrip("."), _language_of(path)),
    )
    result = await _refactor_with_progress(req, settings, err, action.title)
    new_text = target_text(existing, req, result.new_text)
    applied = False
    if new_text is not None and args.apply:
        if (_read(target) if target.exists() else "") != existing:
            raise M21Error(f"{shown} changed while the model was working; nothing was written.")
        _create_or_replace(target, new_text, existed)
        applied = True
    diff = unified_diff(existing, new_text or existing, shown)
    size = len((new_text or "").encode("utf-8"))
    if args.json:
        report = {
            "path": str(path),
            "action": action.name,
            "target": str(target),
            "targetPath": shown,
            "existed": existed,
            "changed": new_text is not None,
            "applied": applied,
            "bytes": size,
            "text": new_text,
            "usage": result.usage.as_dict(),
            "modelCalls": result.model_calls,
            "seconds": round(result.seconds, 3),
            "diff": diff,
        }
        json.dump(report, out, indent=2)
        out.write("\n")
    elif new_text is None:
        print(f"The model wrote nothing new for {shown}; nothing to do.", file=err)
    elif applied:
        print(f"{'Added to' if existed else 'Created'} {shown} ({size} bytes).", file=err)
    else:
        out.write(diff)
        print(f"Would {'append to' if existed else 'create'} {shown} ({size} bytes); "
              "--apply writes it.", file=err)  # fmt: skip
    return EXIT_OK


def _create_or_replace(path: Path, text: str, existed: bool) -> None:
    """Write a target: atomically over an existing file; a new one is created empty first
    (exclusively, with the umask's mode) so :func:`write_atomically` has a mode to keep,
    and removed again if the write fails."""
    if existed:
        write_atomically(path, text)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=False)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise M21Error(f"{path}: cannot create it ({reason}); nothing was written.") from None
    try:
        write_atomically(path, text)
    except M21Error:
        path.unlink(missing_ok=True)
        raise


async def _run_actions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``m21-lsp actions``: the actions in force (M21_ACTIONS), then the built-ins."""
    settings = config.load()
    rows = [(a, "M21_ACTIONS") for a in settings.actions]
    rows += [(a, "built-in") for a in BUILTINS.values() if not find(settings.actions, a.name)]
    if args.json:
        json.dump([{**a.as_dict(), "from": where} for a, where in rows], out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not settings.actions:
        print("No actions set (M21_ACTIONS is empty); built-ins can be named:", file=err)
    for action, where in rows:
        langs = ",".join(action.languages) or "any"
        target = f" -> {action.target.file}" if action.target else ""
        out.write(
            f"{action.name:<16} {action.title} [{action.kind}; {langs}; {action.scope}"
            f"{target}] ({where})\n"
        )
    return EXIT_OK


def _result_json(
    result: RefactorResult, path: Path, applied: bool, diff: str, edits: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "path": str(path),
        "changed": result.changed,
        "applied": applied,
        "edits": edits,
        "positionEncoding": "utf-16",
        "warnings": result.warnings,
        "syntaxChecked": result.syntax_checked,
        "usage": result.usage.as_dict(),
        "modelCalls": result.model_calls,
        "seconds": round(result.seconds, 3),
        "diff": diff,
    }


async def _run_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:

    path = Path(args.path)
    text = _read(path)
    start, end = _selection(args, text)
    settings = _settings_for_run()
    req = RefactorRequest(
        text=text, start=start, end=end, language_id=_language_of(path), path=str(path)
    )
    result, progress = await _with_model(
        settings, err, "Explain", lambda client, p: pipeline.explain(req, settings, client, p)
    )
    progress.line(_summary(result.seconds, result.usage))
    if args.json:
        json.dump({"markdown": result.markdown, "usage": result.usage.as_dict()}, out, indent=2)
        out.write("\n")
    else:
        out.write(result.markdown.rstrip("\n") + "\n")
    return EXIT_OK


async def _run_doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Show the effective configuration and whether the endpoint answers, key never shown.

    Exit 0 only when the settings are valid and ``GET {baseUrl}/models`` answers 2xx with
    something that is not a web page: a 404 or a 5xx there means a refactor would fail too,
    so ``doctor`` says which setting is probably wrong instead of "answers".
    """
    import httpx

    settings, problems = config.from_env()
    print(f"m21-lsp {__version__}", file=out)
    for name, value in settings.public_dict().items():
        print(f"  {name}: {value}", file=out)
    ok = not problems
    for problem in problems:
        print(f"problem: {problem}", file=out)
    if not settings.api_key:
        print("problem: no API key; set M21_API_KEY (or AIMLAPI_KEY).", file=out)
        ok = False
    endpoint_problem = config.check_endpoint(settings.base_url)
    if endpoint_problem:
        print(f"problem: {endpoint_problem}", file=out)
        return EXIT_FAIL
    if any("M21_BASE_URL=" in p for p in problems):
        # The default endpoint is not the one the user meant: don't send the key there.
        print("endpoint: not checked, because M21_BASE_URL is invalid.", file=out)
        return EXIT_FAIL
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    url = f"{settings.base_url}/models"
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(settings.connect_timeout, read=settings.connect_timeout),
            verify=settings.ca_bundle or True,
            follow_redirects=False,
        ) as http:
            response = await http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        print(
            f"problem: {settings.base_url} did not answer ({type(exc).__name__}). Check baseUrl "
            "(M21_BASE_URL), the network and connectTimeout (M21_CONNECT_TIMEOUT).",
            file=out,
        )
        return EXIT_FAIL
    lines, endpoint_ok = doctor_verdict(
        settings, response.status_code, response.headers, response.content
    )
    for line in lines:
        print(line, file=out)
    return EXIT_OK if ok and endpoint_ok else EXIT_FAIL


def doctor_verdict(
    settings: config.Settings, status: int, headers: Any, body: bytes
) -> tuple[list[str], bool]:
    """What ``doctor`` says about the answer to ``GET /models``, and whether it passes."""
    from .model.client import server_message

    base = settings.base_url
    said = clause(server_message(body[:4096])) if status >= 300 else ""
    shown = f"HTTP {status}" + (f": {said}" if said else "")
    if 200 <= status < 300:
        return _models_verdict(settings, headers, body)
    if status in (401, 403):
        return [
            f"problem: {base} answers, but rejected the key ({shown}). Check M21_API_KEY "
            "(or AIMLAPI_KEY); a 403 can also mean the account is out of credits."
        ], False
    if status == 404:
        if base.rstrip("/").endswith("/v1"):
            hint = "baseUrl (M21_BASE_URL) is probably wrong: this server has no /models there."
        else:
            hint = (
                "baseUrl (M21_BASE_URL) is probably wrong: OpenAI-compatible endpoints "
                f"usually end in /v1 (try {base.rstrip('/')}/v1)."
            )
        return [f"problem: {base}/models was not found ({shown}). {hint}"], False
    if 300 <= status < 400:
        location = headers.get("location", "") or "?"
        return [
            f"problem: {base}/models redirects ({shown} to {location}); the key is never sent "
            "to a redirect target. Set baseUrl (M21_BASE_URL) to the final URL."
        ], False
    if status == 429:
        return [
            f"problem: {base} is rate limiting requests ({shown}). No setting is wrong: wait "
            "and run doctor again, or check the plan's limits."
        ], False
    if status >= 500:
        return [
            f"problem: {base} had a server error ({shown}). The endpoint is down or "
            "overloaded: try again later. If it persists, check that baseUrl (M21_BASE_URL) "
            "points at an OpenAI-compatible API."
        ], False
    return [
        f"problem: {base}/models answered {shown}. baseUrl (M21_BASE_URL) probably does not "
        "point at an OpenAI-compatible API."
    ], False


def _models_verdict(settings: config.Settings, headers: Any, body: bytes) -> tuple[list[str], bool]:
    """A 2xx from /models: a model list (is ours in it?), or a web page (wrong baseUrl)."""
    base = settings.base_url
    try:
        listing = json.loads(body)
    except ValueError:
        kind = "a web page" if "html" in headers.get("content-type", "").lower() else "not JSON"
        return [
            f"problem: {base}/models answered with {kind}, not a model list. baseUrl "
            "(M21_BASE_URL) probably points at a website: OpenAI-compatible endpoints usually "
            "end in /v1."
        ], False
    lines = [f"endpoint: {base} answers (HTTP 200 for /models)."]
    ids = _model_ids(listing)
    model = settings.model
    if not ids:
        lines.append(f"model: {model} not checked (the endpoint lists no models).")
    elif model in ids:
        lines.append(f"model: {model} is among the {len(ids)} models the endpoint lists.")
    else:
        near = [i for i in ids if i.lower() == model.lower()]
        near += [i for i in difflib.get_close_matches(model, ids, n=3, cutoff=0.6) if i not in near]
        maybe = f" Did you mean {' or '.join(repr(n) for n in near[:3])}?" if near else ""
        lines.append(
            f"warning: the endpoint lists {len(ids)} models and {model!r} is not among them; "
            f"check model (M21_MODEL).{maybe}"
        )
    return lines, True


def _model_ids(listing: Any) -> list[str]:
    """Model names from OpenAI's ``{"data": [{"id": …}]}`` or a bare list of either."""
    items = listing.get("data", listing.get("models")) if isinstance(listing, dict) else listing
    if not isinstance(items, list):
        return []
    ids = [i.get("id") if isinstance(i, dict) else i for i in items]
    return [scrub(i) for i in ids if isinstance(i, str) and i]


async def _run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The whole pipeline on a bundled sample with a recorded reply, offline, no key."""
    from importlib import resources

    from .model.client import ModelClient
    from .testing.scripted_server import ScriptedModelServer, Step

    data = resources.files("m21_lsp") / "demo_data"
    sample = (data / "sample.py").read_text(encoding="utf-8")
    reply = (data / "reply.md").read_text(encoding="utf-8")
    marker = "def total_price"
    start = sample.index(marker)
    end = sample.index("\n\n\n", start) + 1
    print(
        "m21-lsp demo: refactoring a bundled sample through the real client, pipeline and\n"
        "validation, against a scripted model server on 127.0.0.1 that replays a RECORDED\n"
        "M2.1-style reply (no key, no network). The diff below is what the CLI prints.\n",
        file=out,
    )
    with ScriptedModelServer() as server:
        server.default = Step(content=reply)
        settings, _ = config.apply_overrides(
            config.Settings(),
            {"apiKey": "demo-not-a-real-key", "baseUrl": server.base_url},
            source="demo",
        )
        req = RefactorRequest(
            text=sample,
            start=start,
            end=end,
            instruction="Make it clearer and more idiomatic.",
            path="sample.py",
        )
        progress = TerminalProgress(err, "Refactor with m2-1 (recorded)")
        try:
            async with ModelClient(settings) as client:
                result = await pipeline.refactor(req, settings, client, progress)
        finally:
            progress.clear()
    out.write(unified_diff(sample, result.new_text, "sample.py"))
    for warning in result.warnings:
        print(f"warning: {warning}", file=out)
    print(
        f"\nThe reply was recorded, not live. {len(result.edits)} edit(s), syntax-checked with "
        f"libcst. With a key set (M21_API_KEY), try:\n"
        f"  m21-lsp refactor yourfile.py --lines 10-30 --instruction 'simplify'",
        file=out,
    )
    return EXIT_OK


def _run_serve(args: argparse.Namespace) -> int:
    from .lsp import server

    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.run_tcp(host or "127.0.0.1", int(port))
    else:
        server.run_stdio()
    return EXIT_OK


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is the code we promise."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="m21-lsp", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"m21-lsp {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_selection(p: argparse.ArgumentParser, *, required: bool = True) -> None:
        p.add_argument("path", help="the file to work on")
        group = p.add_mutually_exclusive_group(required=required)
        group.add_argument("--lines", metavar="A-B", help="1-based inclusive whole lines")
        group.add_argument(
            "--range",
            metavar="L1:C1-L2:C2",
            help="1-based lines and code-point columns, end exclusive",
        )
        p.add_argument("--json", action="store_true", help="print JSON instead of text")

    refactor = sub.add_parser("refactor", help="refactor a selection; prints a diff")
    add_selection(refactor, required=False)
    what = refactor.add_mutually_exclusive_group()
    what.add_argument("--instruction", "-i", help="what to do (default: improve it)")
    what.add_argument(
        "--action", "-a", metavar="NAME", help="run an action by name (see `m21-lsp actions`)"
    )
    refactor.add_argument("--apply", action="store_true", help="rewrite the file atomically")

    explain = sub.add_parser("explain", help="explain a selection as markdown")
    add_selection(explain)

    actions = sub.add_parser("actions", help="list the actions --action can run")
    actions.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub.add_parser("doctor", help="show the configuration and check the endpoint")
    sub.add_parser("demo", help="offline demo with a recorded reply")

    serve = sub.add_parser("serve", help="run the language server")
    serve.add_argument("--stdio", action="store_true", help="speak LSP over stdio (default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP, for debugging")
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _run_serve(args)
    runner = {
        "refactor": _run_refactor,
        "explain": _run_explain,
        "actions": _run_actions,
        "doctor": _run_doctor,
        "demo": _run_demo,
    }[args.command]
    try:
        return asyncio.run(runner(args, out, err))
    except UsageError as exc:
        print(f"m21-lsp: {exc.message}", file=err)
        return EXIT_USAGE
    except M21Error as exc:
        print(f"m21-lsp: {exc.message}", file=err)
        if exc.detail and os.environ.get("M21_DEBUG"):
            print(scrub(exc.detail), file=err)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("m21-lsp: cancelled; nothing was changed.", file=err)
        return EXIT_INTERRUPTED
