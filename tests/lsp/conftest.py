"""Fixtures for the language server's end-to-end tests (the client lives in support.lsp_client)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer
from support.lsp_client import REPO, WAIT, Client, capabilities, server_env


@pytest_asyncio.fixture
async def start_lsp(
    model_server: ScriptedModelServer, sentinel_key: str
) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await start_lsp(caps=..., init=..., env=..., config=..., client_info=...)``
    -> Client."""
    started: list[Client] = []

    async def start(
        *,
        caps: types.ClientCapabilities | None = None,
        init: Any = None,
        env: dict[str, str] | None = None,
        config: dict[str, Any] | None = None,
        key: str | None = sentinel_key,
        use_model_server: bool = True,
        hold_configuration: asyncio.Event | None = None,
        client_info: types.ClientInfo | None = None,
    ) -> Client:
        client = Client()
        if config is not None:
            client.set_configuration(config)
        client.configuration_gate = hold_configuration
        environment = server_env(model_server if use_model_server else None, key)
        environment.update(env or {})
        await client.start_io(sys.executable, "-m", "m21_lsp.lsp", env=environment)
        started.append(client)
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=caps or capabilities(),
                initialization_options=init,
                root_uri=REPO.as_uri(),
                client_info=client_info,
            )
        )
        client.init_result = result  # type: ignore[attr-defined]
        client.encoding = str(result.capabilities.position_encoding or "utf-16")
        return client

    yield start
    for client in started:
        if client.error is None:
            try:
                async with asyncio.timeout(WAIT):
                    await client.shutdown_session()
            except Exception:
                pass
        await client.stop()


@pytest.fixture
def sample(fixtures_dir: Path) -> str:
    return (fixtures_dir / "sources" / "sample_basic.py").read_text(encoding="utf-8")
