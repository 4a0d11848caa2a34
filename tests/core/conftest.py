"""What every command-line test starts from: no M21_* setting from the machine running the
tests, the sentinel key, and the scripted model server on 127.0.0.1 as the endpoint."""

from __future__ import annotations

import os

import pytest
from m21_lsp.testing.scripted_server import ScriptedModelServer


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, model_server: ScriptedModelServer, sentinel_key: str
) -> str:
    for var in list(os.environ):
        if var.startswith("M21_") or var == "AIMLAPI_KEY":
            monkeypatch.delenv(var)
    monkeypatch.setenv("M21_API_KEY", sentinel_key)
    monkeypatch.setenv("M21_BASE_URL", model_server.base_url)
    return sentinel_key
