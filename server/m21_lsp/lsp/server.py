"""Feature handlers: top-level functions, each handing over to a module with one job.

:func:`create_server` registers them (``FEATURES``, ``COMMANDS``) on a fresh server, the
way jedi-language-server's ``server.py`` does with decorators, but per server object, so
tests can start as many as they like and call any handler directly.

* settings  — :mod:`.settings` (layers) and :meth:`M21Server.report_problems`;
* code actions — :mod:`.actions` (instant, no model call);
* commands — :mod:`.commands` (model calls, progress, cancel, versioned edits);
* hover — :mod:`.hover` (cached explanations; ``auto`` mode explains on demand).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Generator
from typing import Any

from lsprotocol import types

from ..errors import scrub
from ..limits import refused_path_reason
from . import actions, commands, detach, hover, lazy, memory, preview
from .app import M21Server
from .results import CommandResult
from .settings import SECTION


# ---------------------------------------------------------------------------- lifecycle
def initialize(ls: M21Server, params: types.InitializeParams) -> None:
    ls.preview_enabled = preview.client_wants_preview(params)
    ls.layers.set_initialization_options(
        preview.strip_preview_option(params.initialization_options)
    )
    client = ls.client_info = params.client_info
    ls.log(
        f"m21-lsp started for {client.name if client else 'an unnamed client'} "
        f"{(client.version or '') if client else ''}; position encoding "
        f"{ls.workspace.position_encoding}"
    )


async def initialized(ls: M21Server, params: types.InitializedParams) -> None:
    try:
        await _register_configuration_change(ls)
        await _pull_configuration(ls)
    finally:
        ls.settings_ready.set()
        ls.report_problems()
        ls.log("effective settings: " + str(ls.settings.public_dict()))
    lazy.warm_up()


async def shutdown(ls: M21Server, params: Any) -> None:
    ls.shut_down = True
    detach.cancel_all(ls)  # pygls cancels the commands still answering; these it cannot see
    await ls.clients.aclose()


def exit_now(ls: M21Server, params: Any) -> None:
    """Leave at once. pygls would join its stdin reader thread first, which waits for
    the client to close the pipe; every message was already written and flushed."""
    sys.stdout.flush()
    sys.stdout.buffer.flush()
    os._exit(0 if ls.shut_down else 1)


# ---------------------------------------------------------------------------- settings
async def did_change_configuration(
    ls: M21Server, params: types.DidChangeConfigurationParams
) -> None:
    if _client_answers_configuration(ls):
        await _pull_configuration(ls)
    else:
        ls.layers.set_workspace(params.settings)
    ls.report_problems()


# ---------------------------------------------------------------------------- documents
def did_open(ls: M21Server, params: types.DidOpenTextDocumentParams) -> None:
    """Registered so that pygls advertises openClose; pygls keeps the text."""


def did_close(ls: M21Server, params: types.DidCloseTextDocumentParams) -> None:
    ls.documents.forget(params.text_document.uri)


# ---------------------------------------------------------------------------- features
def code_action_when_ready(
    ls: M21Server, params: types.CodeActionParams
) -> Generator[Any, Any, list[types.CodeAction]]:
    """:func:`code_action`, except that a request arriving before the client's configuration
    waits for it, since its ``actions`` decide what is offered.

    A generator handler, not a coroutine: pygls answers a generator that returns without
    yielding on the spot, while a coroutine costs a task and a trip through the event loop
    for each of the requests an editor sends as the cursor moves (a third of the 1 ms
    budget). Only a request before the configuration yields, to a wait that pygls runs as
    a task and whose end resumes the generator.
    """
    if not ls.settings_ready.is_set():
        yield ls.wait_for_settings, (), None
    return code_action(ls, params)


def code_action(ls: M21Server, params: types.CodeActionParams) -> list[types.CodeAction]:
    snap = ls.documents.get(ls.workspace, params.text_document.uri)
    if snap is None:
        return []
    settings = ls.settings
    if refused_path_reason(settings, snap.path):
        return []
    encoding = ls.documents.encoding(ls.workspace)
    return actions.build_actions(snap, params, encoding, settings.model_label, settings.actions)


def resolve_code_action(ls: M21Server, params: types.CodeAction) -> types.CodeAction:
    """Our actions carry a command, never a lazy edit: hand them back unchanged."""
    return params


async def on_hover(ls: M21Server, params: types.HoverParams) -> types.Hover | None:
    return await hover.hover(ls, params)


# ---------------------------------------------------------------------------- commands
async def refactor(ls: M21Server, *args: Any) -> CommandResult:
    return await commands.run_refactor(ls, args)


async def fix(ls: M21Server, *args: Any) -> CommandResult:
    return await commands.run_refactor(ls, args, fix=True)


async def explain(ls: M21Server, *args: Any) -> CommandResult:
    return await commands.run_explain(ls, args)


# What create_server registers: (LSP method, its options or None, handler).
FEATURES: tuple[tuple[str, Any, Callable[..., Any]], ...] = (
    (types.INITIALIZE, None, initialize),
    (types.INITIALIZED, None, initialized),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, None, did_change_configuration),
    (types.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=actions.ACTION_KINDS, resolve_provider=True),
        code_action_when_ready,
    ),
    (types.CODE_ACTION_RESOLVE, None, resolve_code_action),
    (types.TEXT_DOCUMENT_HOVER, None, on_hover),
    (types.SHUTDOWN, None, shutdown),
    (types.EXIT, None, exit_now),
)
COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    (actions.REFACTOR_COMMAND, refactor),
    (actions.FIX_COMMAND, fix),
    (actions.EXPLAIN_COMMAND, explain),
)


def create_server(environ: dict[str, str] | None = None) -> M21Server:
    """A fresh server with every handler above registered (one per connection or test).

    The handlers are module-level functions rather than closures so that each can be
    imported and called on its own; the server object holds all state, so registering the
    same functions on several servers (one per test) shares nothing.
    """
    ls = M21Server(environ)
    for method, options, handler in FEATURES:
        ls.feature(method, options)(handler)
    for name, command in COMMANDS:
        ls.command(name)(command)
    return ls


def _client_answers_configuration(ls: M21Server) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.configuration)


async def _pull_configuration(ls: M21Server) -> None:
    if not _client_answers_configuration(ls):
        return
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            ),
            timeout=5.0,
        )
    except Exception as exc:
        ls.log(f"workspace/configuration failed: {type(exc).__name__}: {scrub(str(exc))}")
        return
    if result:
        ls.layers.set_workspace(result[0])


async def _register_configuration_change(ls: M21Server) -> None:
    """Ask clients that allow it to tell us when the ``m21`` section changes."""
    workspace = ls.client_capabilities.workspace
    dynamic = workspace and workspace.did_change_configuration
    if not (dynamic and dynamic.dynamic_registration):
        return
    try:
        await asyncio.wait_for(
            ls.client_register_capability_async(
                types.RegistrationParams(
                    registrations=[
                        types.Registration(
                            id="m21-configuration",
                            method=types.WORKSPACE_DID_CHANGE_CONFIGURATION,
                            register_options=types.DidChangeConfigurationRegistrationOptions(
                                section=SECTION
                            ),
                        )
                    ]
                )
            ),
            timeout=5.0,
        )
    except Exception as exc:
        ls.log(f"client/registerCapability failed: {type(exc).__name__}")


class _ScrubFilter(logging.Filter):
    """pygls logs whole messages (initializationOptions included) at error level on
    failures; the key must not reach stderr (which editors show in their log panes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        return True


def configure_logging(level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("m21-lsp %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ScrubFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


def run_stdio() -> None:
    """Serve one client over stdin/stdout (what editors start)."""
    configure_logging()
    memory.limit_arenas()  # before any thread starts (the warm-up import, pipeline workers)
    create_server().start_io()


def run_tcp(host: str, port: int) -> None:
    """Serve over TCP, for debugging with a client that connects to a port."""
    configure_logging()
    memory.limit_arenas()
    create_server().start_tcp(host, port)
