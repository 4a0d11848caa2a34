"""Fixtures shared by every test folder: the scripted model server and a sentinel key."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from m21_lsp.testing.scripted_server import ScriptedModelServer
from m21_lsp.testing.scripted_server import fixtures_dir as _fixtures_dir


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    """A started scripted model server on 127.0.0.1, stopped after the test."""
    server = ScriptedModelServer(port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fixtures_dir() -> Path:
    """The repository's ``fixtures/`` folder (sources/ and replies/)."""
    return _fixtures_dir()


@pytest.fixture
def sentinel_key() -> str:
    """A unique, key-shaped string: search all output for it to prove the key never leaks."""
    return "sk-m21-sentinel-" + secrets.token_hex(16)
