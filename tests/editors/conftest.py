"""Shared fixtures for the end-to-end tests that drive real editors.

Editors are real LSP clients here: a missing editor binary skips the test with a reason, except
in CI (``M21_REQUIRE_EDITORS=1``) where it fails, so the suite cannot go green by accident.
Only add fixtures to this file: several editor tests share it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from m21_editor_case import editors_required, write_project
from support.sample import REPO as REPO_ROOT

_editors_required = editors_required


@pytest.fixture
def editor_project(tmp_path: Path) -> Path:
    """``tmp_path/project/shop.py`` holding the sample module, with a ``pyproject.toml``."""
    return write_project(tmp_path, pyproject=True)


@pytest.fixture
def editor_binary() -> Callable[[str, str], str]:
    """Returns a finder: ``find(name, package)`` gives the binary's path, or skips/fails."""

    def find(name: str, package: str) -> str:
        path = shutil.which(name)
        if path:
            return path
        reason = f"{name} not found on PATH (install the Debian package {package})"
        if _editors_required():
            pytest.fail(f"M21_REQUIRE_EDITORS=1 but {reason}")
        pytest.skip(reason)

    return find


@pytest.fixture
def m21_server_cmd() -> list[str]:
    """How an editor under test starts the server: the CLI, with this interpreter.

    ``M21_EDITOR_TEST_SERVER_CMD`` (a JSON list) runs the editor tests against another server
    command, e.g. an installed ``m21-lsp`` from a wheel.
    """
    override = os.environ.get("M21_EDITOR_TEST_SERVER_CMD")
    if override:
        return list(json.loads(override))
    return [sys.executable, "-m", "m21_lsp", "serve", "--stdio"]


@pytest.fixture
def editor_env(model_server, sentinel_key: str, tmp_path: Path) -> dict[str, str]:
    """Environment for an editor process (inherited by the server it starts).

    HOME and the XDG folders point into tmp_path so no user configuration, plugin or state
    file of the machine can change what the editor does. The key and the scripted model
    server's URL reach the language server only through this environment.
    """
    home = tmp_path / "home"
    for sub in ("config", "data", "state", "cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M21_", "AIMLAPI_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        M21_BASE_URL=model_server.base_url,
        M21_API_KEY=sentinel_key,
        PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO_ROOT / "server"), os.environ.get("PYTHONPATH", "")) if p
        ),
    )
    if _editors_required():
        env["M21_REQUIRE_EDITORS"] = "1"
    return env
