"""``Run`` maps how a command body ended to its result in one place, for every command.

The end-to-end tests (test_failures, test_cancel) see these outcomes through a real client;
this pins the mapping itself on a real, unconnected server object, including the paths a
real model server cannot provoke (a crash inside the command).
"""

from __future__ import annotations

import asyncio
import platform
import threading

import pytest
from lsprotocol import types
from m21_lsp.errors import AuthError
from m21_lsp.lsp import memory, server
from m21_lsp.lsp.commands import Run, _Cancelled
from m21_lsp.lsp.results import CommandResult
from m21_lsp.lsp.server import create_server


def _server() -> tuple[object, list[str]]:
    ls = create_server({})
    ls.protocol.client_capabilities = types.ClientCapabilities()  # as after initialize
    shown: list[str] = []
    ls.show = lambda text, kind=types.MessageType.Info: shown.append(text)  # type: ignore[method-assign]
    ls.log = lambda text, kind=types.MessageType.Log: None  # type: ignore[method-assign]
    return ls, shown


async def _body(ls: object, exc: BaseException | None) -> CommandResult:
    with Run(ls, "Refactor with m2-1") as run:  # type: ignore[arg-type]
        if exc is not None:
            raise exc
        return run.summary(kind="unchanged", message="m2-1 suggested no change.")
    return run.outcome()


async def test_a_returned_result_is_kept() -> None:
    ls, shown = _server()
    result = await _body(ls, None)
    assert result["kind"] == "unchanged" and result["reason"] is None
    assert shown == []
    assert not ls.running  # type: ignore[attr-defined]


async def test_an_m21_error_becomes_one_message_and_its_kind() -> None:
    ls, shown = _server()
    result = await _body(ls, AuthError("The key was refused."))
    assert (result["kind"], result["reason"], result["applied"]) == ("auth", "auth", False)
    assert result["message"] == "The key was refused."
    assert shown == ["Refactor with m2-1: The key was refused."]


async def test_a_crash_becomes_internal() -> None:
    ls, shown = _server()
    result = await _body(ls, ZeroDivisionError("boom"))
    assert (result["kind"], result["reason"]) == ("internal", "internal")
    assert result["message"].startswith("Internal error (ZeroDivisionError)")
    assert len(shown) == 1


async def test_a_progress_cancel_answers_cancelled() -> None:
    ls, shown = _server()
    result = await _body(ls, _Cancelled("progress"))
    assert (result["kind"], result["cancelled"], result["reason"]) == ("cancelled", True, None)
    assert shown == []


async def test_a_request_cancel_and_asyncio_cancel_propagate() -> None:
    ls, _shown = _server()
    with pytest.raises(asyncio.CancelledError):
        await _body(ls, _Cancelled("request"))
    with pytest.raises(asyncio.CancelledError):
        await _body(ls, asyncio.CancelledError())
    assert not ls.running  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "exc", [None, AuthError("The key was refused."), ZeroDivisionError("boom"), _Cancelled("x")]
)
async def test_every_outcome_hands_freed_memory_back(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException | None
) -> None:
    """The run's documents and trees are garbage once it ends, whichever way it ends."""
    trimmed = threading.Event()
    monkeypatch.setattr(memory, "trim", trimmed.set)
    ls, _shown = _server()
    await _body(ls, exc)
    assert await asyncio.to_thread(trimmed.wait, 10)


def test_the_server_limits_malloc_arenas_before_it_starts_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(memory, "limit_arenas", lambda: calls.append("limit_arenas"))

    class Started:
        def start_io(self) -> None:
            calls.append("start_io")

    monkeypatch.setattr(server, "create_server", Started)
    monkeypatch.setattr(server, "configure_logging", lambda: None)
    server.run_stdio()
    assert calls == ["limit_arenas", "start_io"]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_takes_the_arena_limit_and_trims() -> None:
    assert memory.limit_arenas() is True
    memory.trim()  # returns memory; must not raise
