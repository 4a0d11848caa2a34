"""Feature handlers: each one a few lines that hand over to a module with one job.

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
from typing import Any

from lsprotocol import types

from ..errors import scrub
from ..limits import refused_path_reason
from . import actions, commands, hover, lazy
from .app import M21Server
from .settings import SECTION


def create_server(environ: dict[str, str] | None = None) -> M21Server:
    """A fresh server with every feature registered (one per connection or test)."""
    ls = M21Server(environ)

    @ls.feature(types.INITIALIZE)
    def initialize(ls: M21Server, params: types.InitializeParams) -> None:
        ls.layers.set_initialization_options(params.initialization_options)
        client = ls.client_info = params.client_info
        ls.log(
            f"m21-lsp started for {client.name if client else 'an unnamed client'} "
            f"{(client.version or '') if client else ''}; position encoding "
            f"{ls.workspace.position_encoding}"
        )

    @ls.feature(types.INITIALIZED)
    async def initialized(ls: M21Server, params: types.InitializedParams) -> None:
        try:
            await _register_configuration_change(ls)
            await _pull_configuration(ls)
        finally:
            ls.settings_ready.set()
            ls.report_problems()
            ls.log("effective settings: " + str(ls.settings.public_dict()))
        lazy.warm_up()

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: M21Server, params: types.DidChangeConfigurationParams
    ) -> None:
        if _client_answers_configuration(ls):
            await _pull_configuration(ls)
        else:
            ls.layers.set_workspace(params.settings)
        ls.report_problems()

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: M21Server, params: types.DidOpenTextDocumentParams) -> None:
        """Registered so that pygls advertises openClose; pygls keeps the text."""

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: M21Server, params: types.DidCloseTextDocumentParams) -> None:
        ls.documents.forget(params.text_document.uri)

    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=actions.ACTION_KINDS, resolve_provider=True),
    )
    def code_action(ls: M21Server, params: types.CodeActionParams) -> list[types.CodeAction]:
        snap = ls.documents.get(ls.workspace, params.text_document.uri)
        if snap is None:
            return []
        settings = ls.settings
        if refused_path_reason(settings, snap.path):
            return []
        encoding = ls.documents.encoding(ls.workspace)
        return actions.build_actions(snap, params, encoding, settings.model_label)

    @ls.feature(types.CODE_ACTION_RESOLVE)
    def resolve_code_action(ls: M21Server, params: types.CodeAction) -> types.CodeAction:
        """Our actions carry a command, never a lazy edit: hand them back unchanged."""
        return params

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: M21Server, params: types.HoverParams) -> types.Hover | None:
        return await hover.hover(ls, params)

    @ls.command(actions.REFACTOR_COMMAND)
    async def refactor(ls: M21Server, *args: Any) -> dict[str, Any]:
        return await commands.run_refactor(ls, args)

    @ls.command(actions.FIX_COMMAND)
    async def fix(ls: M21Server, *args: Any) -> dict[str, Any]:
        return await commands.run_refactor(ls, args, fix=True)

    @ls.command(actions.EXPLAIN_COMMAND)
    async def explain(ls: M21Server, *args: Any) -> dict[str, Any]:
        return await commands.run_explain(ls, args)

    @ls.feature(types.SHUTDOWN)
    async def shutdown(ls: M21Server, params: Any) -> None:
        ls.shut_down = True
        await ls.clients.aclose()

    @ls.feature(types.EXIT)
    def exit_now(ls: M21Server, params: Any) -> None:
        """Leave at once. pygls would join its stdin reader thread first, which waits for
        the client to close the pipe; every message was already written and flushed."""
        sys.stdout.flush()
        sys.stdout.buffer.flush()
        os._exit(0 if ls.shut_down else 1)

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
    create_server().start_io()


def run_tcp(host: str, port: int) -> None:
    """Serve over TCP, for debugging with a client that connects to a port."""
    configure_logging()
    create_server().start_tcp(host, port)
