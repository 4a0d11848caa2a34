"""The real m21-lsp server plus one read-only command, ``m21.debug.state``.

The soak test must prove that no asyncio task, cancel hook or model client is left behind
after hundreds of faulty requests, which only the server process itself can see. This
starts exactly the server ``python -m m21_lsp.lsp`` starts (``create_server``) and adds the
command; nothing else differs. Run as ``python -m debug_server`` with this folder on
PYTHONPATH.

A second read-only command, ``m21.debug.parses``, counts the parses the server's own code
made (libcst, ``ast.parse``, tree-sitter), so a test can prove that code actions parse
nothing; the counting wrappers only count, and call the real function.

``M21_SOAK_SABOTAGE`` breaks the server on purpose, so that a test can prove the soak fails
a server with that fault (a soak that passes any server proves nothing):

* ``overwrite``: a finished edit is moved onto the current text even when the user changed
  the code it replaces, overwriting their typing;
* ``refuse``: every edit is refused as stale as soon as the document changed anywhere.
* ``on-its-way``, ``kept-changing``: once the document changed anywhere, an edit is not
  sent at all, and the refusal claims the message of an honest one (the edit "changed while
  it was on its way to the editor", the document "kept changing"), so the soak must check
  the claim against what its client saw, not trust the words;
* ``leak-memory``: each command keeps 3 MiB alive (the RSS bound must catch it);
* ``leak-task``: each command leaves an asyncio task behind that never ends.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from m21_lsp.errors import StaleDocument
from m21_lsp.lsp import apply, commands, server
from m21_lsp.pipeline import edits, syntax
from m21_lsp.pipeline import run as pipeline

PARSES: Counter[str] = Counter()


def _counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, counting the calls made from m21_lsp's own modules (not libraries')."""

    def parse(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("m21_lsp."):
            PARSES[name] += 1
        return real(*args, **kwargs)

    return parse


def _count_parses() -> None:
    import libcst

    for name in ("parse_module", "parse_statement", "parse_expression"):
        setattr(libcst, name, _counted(f"libcst.{name}", getattr(libcst, name)))
    ast.parse = _counted("ast.parse", ast.parse)  # type: ignore[assignment]
    syntax._parse = _counted("tree-sitter", syntax._parse)  # type: ignore[assignment]


def _rss_kb() -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) if match else 0


def _never_refuse(
    base: str, current: str, moved: list[edits.OffsetEdit], **_: Any
) -> list[edits.OffsetEdit]:
    """Shift each edit by the user's changes before it, whatever they touched."""
    changes = edits._user_changes(base, current)
    out = []
    for edit in sorted(moved, key=lambda e: e.start):
        shift = sum(len(c.new_text) - (c.end - c.start) for c in changes if c.end <= edit.start)
        out.append(edits.OffsetEdit(edit.start + shift, edit.end + shift, edit.new_text))
    return out


async def _always_stale(result: Any, current_text: str, **_: Any) -> Any:
    if current_text != result.base_text:
        raise StaleDocument("sabotaged: the document changed, so nothing was applied.")
    return result.edits, result.new_text


_LIES = {
    "on-its-way": (
        "The edit was not applied because the code changed while it was on its way to the "
        "editor. Run the refactor again on the current code."
    ),
    "kept-changing": (
        "The document kept changing while the edit was being applied, so nothing was "
        "applied. Run the refactor again."
    ),
}
_HELD: list[Any] = []  # leak-memory, leak-task: what each command leaves behind


def _lie(message: str) -> None:
    real = apply._apply_locked

    async def apply_or_lie(ls: Any, run: Any, uri: str, req: Any, result: Any, *rest: Any) -> Any:
        now = ls.documents.get(ls.workspace, uri)
        if now is not None and now.text != result.base_text:
            raise StaleDocument(message)  # sends nothing, then claims an honest reason
        return await real(ls, run, uri, req, result, *rest)

    apply._apply_locked = apply_or_lie  # type: ignore[assignment]


def _leak(kind: str) -> None:
    real = commands.run_refactor

    async def leaking(*args: Any, **kwargs: Any) -> Any:
        if kind == "leak-memory":
            _HELD.append(b"m21" * (1 << 20))  # 3 MiB, written, so resident
        else:
            _HELD.append(asyncio.ensure_future(asyncio.Event().wait()))
        return await real(*args, **kwargs)

    commands.run_refactor = leaking  # type: ignore[assignment]


def _sabotage(kind: str) -> None:
    if kind == "overwrite":
        edits.rebase_edits = _never_refuse  # type: ignore[assignment]
    elif kind == "refuse":
        pipeline.rebase = _always_stale  # type: ignore[assignment]
    elif kind in _LIES:
        _lie(_LIES[kind])
    elif kind in ("leak-memory", "leak-task"):
        _leak(kind)
    elif kind:
        raise SystemExit(f"unknown M21_SOAK_SABOTAGE={kind!r}")


def main() -> None:
    server.configure_logging()
    _sabotage(os.environ.get("M21_SOAK_SABOTAGE", ""))
    _count_parses()
    ls = server.create_server()

    @ls.command("m21.debug.parses")
    async def parses(ls: Any, *args: Any) -> dict[str, int]:
        return dict(PARSES)

    @ls.command("m21.debug.state")
    async def state(ls: Any, *args: Any) -> dict[str, Any]:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        names = sorted(getattr(t.get_coro(), "__qualname__", repr(t.get_coro())) for t in tasks)
        pool = ls.clients._current
        return {
            "tasks": len(tasks),
            "taskNames": names,
            "cancelHooks": len(ls.protocol.cancel_hooks),
            "running": len(ls.running),
            "clientUsers": pool.users if pool is not None else 0,
            "rssKb": _rss_kb(),
        }

    ls.start_io()


if __name__ == "__main__":
    main()
