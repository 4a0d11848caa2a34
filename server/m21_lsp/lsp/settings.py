"""Settings for the language server: four layers, one effective value, problems shown once.

Layers, in rising priority:

1. defaults (``config.Settings()``),
2. the environment (``M21_API_KEY`` / ``AIMLAPI_KEY``, ``M21_BASE_URL``, ``M21_MODEL`` …),
3. ``initializationOptions`` (either ``{"m21": {...}}`` or the ``m21`` object itself),
4. the client's configuration: ``workspace/configuration`` (section ``m21``) or, for clients
   that push instead of being asked, ``workspace/didChangeConfiguration``'s ``settings``.

The rule for ``baseUrl`` (why: the endpoint is where the API key is sent):
layer 4 can carry settings from a folder's own config file (``.vscode/settings.json``,
``.nvim.lua``, ``.dir-locals.el``) that a cloned repository controls. A repository must not
be able to redirect the user's key to a server of its choosing, so a ``baseUrl`` arriving in
layer 4 is ignored (and reported once) unless ``allowWorkspaceBaseUrl`` is true in a layer
the repository cannot write: the environment (``M21_ALLOW_WORKSPACE_BASE_URL``) or
``initializationOptions``. ``allowWorkspaceBaseUrl`` itself is never taken from layer 4.
``redactSecrets`` likewise: layer 4 may turn it on, never off (the secrets in a repository's
code would otherwise go to the model on the repository's say-so).
Set ``baseUrl`` through ``M21_BASE_URL`` or ``initializationOptions`` to avoid the question.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .. import config
from ..config import Settings

SECTION = "m21"
# Which settings layer 4 may not set, or only with allowWorkspaceBaseUrl: ``Spec.workspace``.
_WORKSPACE_GUARDED = config.wire_names(workspace=config.WORKSPACE_IF_ALLOWED)
_NEVER_FROM_WORKSPACE = config.wire_names(workspace=None)
# Which switches layer 4 may only turn on (redactSecrets): off would send secrets away.
_ONLY_ON_FROM_WORKSPACE = config.wire_names(workspace=config.WORKSPACE_ONLY_ON)


def _section(value: Any) -> Mapping[str, Any] | None:
    """The ``m21`` object out of whatever shape a client sent (nested or flat)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        inner = value.get(SECTION)
        if isinstance(inner, Mapping):
            return inner
        return value
    return value  # not a mapping: let apply_overrides describe the problem


class SettingsLayers:
    """Holds each layer as received and recomputes the effective settings on change.

    ``problems()`` returns only problems not reported before, so a client that re-sends the
    same bad configuration on every change does not get the same popup each time.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        # M21_ALLOW_WORKSPACE_BASE_URL is read here too, like every variable in the table.
        self._env_settings, env_problems = config.from_env(env)
        self._init: Mapping[str, Any] | None = None
        self._workspace: Mapping[str, Any] | None = None
        self._pending: list[str] = list(env_problems)
        self._reported: set[str] = set()
        self.current: Settings = self._env_settings
        self._recompute()

    def set_initialization_options(self, options: Any) -> Settings:
        self._init = _section(options)
        return self._recompute()

    def set_workspace(self, settings: Any) -> Settings:
        self._workspace = _section(settings)
        return self._recompute()

    def _recompute(self) -> Settings:
        problems: list[str] = []
        settings = self._env_settings
        settings, more = config.apply_overrides(
            settings, self._init, source="initializationOptions"
        )
        problems += more
        workspace = self._workspace
        if isinstance(workspace, Mapping):
            workspace = dict(workspace)
            for name in _NEVER_FROM_WORKSPACE:
                if workspace.pop(name, None) is not None:
                    problems.append(
                        f"workspace settings: {name} is only read from initializationOptions "
                        "or the environment (ignored)"
                    )
            for name in _ONLY_ON_FROM_WORKSPACE:
                if name in workspace and workspace[name] is not True:
                    value = workspace.pop(name)
                    # VS Code answers with the user's own value too: no problem to report.
                    if value == getattr(settings, config.field_name(name)):
                        continue
                    problems.append(
                        f"workspace settings: {name} can only be turned off in your own "
                        "settings (initializationOptions or the environment), because a "
                        "folder's settings could otherwise send the secrets in its code to "
                        "the model (ignored)"
                    )
            if not settings.allow_workspace_base_url:
                for name in _WORKSPACE_GUARDED:
                    value = workspace.pop(name, None)
                    if value is not None and value != settings.base_url:
                        problems.append(
                            f"workspace settings: {name} ignored, because a folder's settings "
                            "could send your API key elsewhere. Set it with M21_BASE_URL or "
                            "initializationOptions, or allow it with allowWorkspaceBaseUrl "
                            "there."
                        )
        settings, more = config.apply_overrides(settings, workspace, source="workspace settings")
        problems += more
        self._pending += problems
        self.current = settings
        return settings

    def problems(self) -> list[str]:
        """Problems not yet shown to the user (each is returned once, ever)."""
        fresh = [p for p in dict.fromkeys(self._pending) if p not in self._reported]
        self._reported.update(fresh)
        self._pending = []
        return fresh
