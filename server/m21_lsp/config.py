"""Configuration shared by the CLI and the language server.

One immutable :class:`Settings` value is built from layers in rising priority: defaults,
environment, then any number of camelCase mappings (``initializationOptions``,
``workspace/configuration``). Invalid values never pass silently: :func:`apply_overrides`
keeps the previous value and returns a problem string that the caller must show.

The API key is held in a field excluded from ``repr`` and registered with
:func:`m21_lsp.errors.register_secret` so that it is scrubbed from any message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, register_secret

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "minimax/m2-1"
KEY_VARS = ("M21_API_KEY", "AIMLAPI_KEY")
HOVER_MODES = ("cached", "auto", "off")
DEFAULT_SECRET_GLOBS = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "secrets.*",
    "*.secrets.*",
    "credentials*",
    ".netrc",
    ".npmrc",
    ".pypirc",
)


@dataclass(frozen=True)
class Settings:
    """Effective configuration. Field names are snake_case; wire names are camelCase."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    model_label: str = "m2-1"
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 8192
    connect_timeout: float = 10.0
    chunk_timeout: float = 60.0
    timeout: float = 300.0
    max_attempts: int = 3
    context_lines: int = 20
    repair_turns: int = 1
    hover: str = "cached"
    confirm_edits: bool = True
    ca_bundle: str | None = None
    # Limits (checked before any request is sent).
    max_selection_chars: int = 40_000
    max_selection_lines: int = 1_000
    max_prompt_tokens: int = 24_000
    max_reply_chars: int = 400_000
    max_concurrent_requests: int = 4
    secret_globs: tuple[str, ...] = DEFAULT_SECRET_GLOBS
    allow_workspace_base_url: bool = False

    @property
    def key_source(self) -> str:
        """Human description of where a key would come from, for error messages."""
        return " or ".join(KEY_VARS) + " (or the apiKey setting)"

    def require_key(self) -> str:
        if not self.api_key:
            raise ConfigError(
                "No API key is set. Set M21_API_KEY (or AIMLAPI_KEY) in the environment, "
                "or your editor's key setting (VS Code: 'm2-1: Set API Key')."
            )
        return self.api_key

    def public_dict(self) -> dict[str, Any]:
        """Settings as camelCase JSON with the key reduced to set/unset (for doctor, logs)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key":
                value = "set" if value else "unset"
            elif isinstance(value, tuple):
                value = list(value)
            out[_camel(f.name)] = value
        return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_WIRE_TO_FIELD: dict[str, str] = {_camel(f.name): f.name for f in fields(Settings)}
# Accepted aliases for convenience in editor configs.
_WIRE_TO_FIELD.update({"key": "api_key", "readTimeout": "chunk_timeout"})


def check_endpoint(base_url: str) -> str | None:
    """Why ``base_url`` may not receive the key, or ``None`` when it may.

    The key travels only over HTTPS, except to loopback addresses (local servers, tests).
    """
    reason = _endpoint_reason(base_url)
    return None if reason is None else f"baseUrl {base_url!r} {reason}."


def _endpoint_reason(base_url: str) -> str | None:
    """What is wrong with ``base_url``, as a phrase that follows the value it describes."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL"
    if parts.scheme == "https":
        return None
    host = parts.hostname
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        "uses plain http to a non-loopback host; the API key is only sent over https (or to "
        "127.0.0.1/localhost): use an https:// URL"
    )


def _coerce(name: str, value: Any, current: Any) -> Any:
    """Convert a wire value to the field's type, raising ValueError with a reason."""
    if name == "api_key":
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value.strip()
    if name == "ca_bundle":
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise ValueError("must be a path")
        return value
    if name == "secret_globs":
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of glob strings")
        return tuple(v.strip() for v in value)
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ValueError("must be true or false")
    if isinstance(current, int):
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        try:
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise ValueError("must be a whole number")
        return number
    if isinstance(current, float):
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _check(name: str, value: Any) -> Any:
    """Range checks and clamps. Returns the value to store or raises ValueError."""
    if name == "temperature":
        # MiniMax rejects temperatures outside (0, 1]; clamp rather than fail.
        return min(max(value, 0.01), 1.0)
    if name == "top_p" and not 0 < value <= 1:
        raise ValueError("must be in (0, 1]")
    if name in ("max_tokens", "max_attempts", "max_concurrent_requests") and value < 1:
        raise ValueError("must be at least 1")
    if name in ("context_lines", "repair_turns") and value < 0:
        raise ValueError("must be 0 or more")
    if name.startswith("max_") and value < 1:
        raise ValueError("must be at least 1")
    if name in ("connect_timeout", "chunk_timeout", "timeout") and value <= 0:
        raise ValueError("must be more than 0 seconds")
    if name == "hover" and value not in HOVER_MODES:
        raise ValueError("must be one of " + ", ".join(HOVER_MODES))
    if name == "base_url":
        value = value.rstrip("/")
        # The phrase alone: the problem line already shows the value once.
        reason = _endpoint_reason(value)
        if reason:
            raise ValueError(reason)
    return value


def apply_overrides(
    settings: Settings,
    overrides: Mapping[str, Any] | None,
    *,
    source: str,
    labels: Mapping[str, str] | None = None,
    keeping: bool = True,
) -> tuple[Settings, list[str]]:
    """Layer camelCase ``overrides`` onto ``settings``.

    Unknown names and invalid values are skipped and described in the returned problems
    (prefixed with ``source``), so the caller can show them once. ``None`` values mean
    "not set here" and are ignored, except for ``apiKey`` which may be cleared with "".
    ``labels`` names a value the way the user wrote it (``M21_TIMEOUT`` rather than
    ``timeout``); ``keeping=False`` leaves out "keeping <old value>" for a caller that
    stops on any problem instead of carrying on with the old value.
    """
    if not overrides:
        return settings, []
    if not isinstance(overrides, Mapping):
        return settings, [f"{source}: settings must be an object, got {type(overrides).__name__}"]
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for wire, raw in overrides.items():
        name = _WIRE_TO_FIELD.get(wire)
        if name is None:
            if isinstance(raw, Mapping) and wire in ("server", "trace"):
                continue  # editor-only sections (m21.server.path, m21.trace.server)
            problems.append(f"{source}: unknown setting {wire!r} (ignored)")
            continue
        if raw is None:
            continue
        try:
            value = _check(name, _coerce(name, raw, getattr(settings, name)))
        except ValueError as exc:
            shown = "***" if name == "api_key" else repr(raw)
            label = (labels or {}).get(wire, wire)
            kept = f"; keeping {_shown_value(settings, name)}" if keeping else ""
            problems.append(f"{source}: {label}={shown} {exc}{kept}")
            continue
        changes[name] = value
    result = dataclasses.replace(settings, **changes)
    register_secret(result.api_key)
    return result, problems


def _shown_value(settings: Settings, name: str) -> str:
    if name == "api_key":
        return "the previous key"
    return repr(getattr(settings, name))


_ENV_VARS: dict[str, str] = {
    "M21_BASE_URL": "baseUrl",
    "M21_MODEL": "model",
    "M21_MODEL_LABEL": "modelLabel",
    "M21_TEMPERATURE": "temperature",
    "M21_TOP_P": "topP",
    "M21_MAX_TOKENS": "maxTokens",
    "M21_CONNECT_TIMEOUT": "connectTimeout",
    "M21_CHUNK_TIMEOUT": "chunkTimeout",
    "M21_TIMEOUT": "timeout",
    "M21_MAX_ATTEMPTS": "maxAttempts",
    "M21_CONTEXT_LINES": "contextLines",
    "M21_REPAIR_TURNS": "repairTurns",
    "M21_CA_BUNDLE": "caBundle",
    "M21_MAX_SELECTION_CHARS": "maxSelectionChars",
    "M21_MAX_SELECTION_LINES": "maxSelectionLines",
    "M21_MAX_PROMPT_TOKENS": "maxPromptTokens",
    "M21_MAX_REPLY_CHARS": "maxReplyChars",
    "M21_MAX_CONCURRENT_REQUESTS": "maxConcurrentRequests",
    "M21_SECRET_GLOBS": "secretGlobs",
}


def from_env(
    environ: Mapping[str, str] | None = None, *, keeping: bool = True
) -> tuple[Settings, list[str]]:
    """Defaults overlaid with the environment. Returns the settings and any problems,
    each naming the variable as the user set it (``M21_TIMEOUT='abc' must be a number``)."""
    env = os.environ if environ is None else environ
    layer: dict[str, Any] = {wire: env[var] for var, wire in _ENV_VARS.items() if env.get(var)}
    labels = {wire: var for var, wire in _ENV_VARS.items()}
    for var in KEY_VARS:
        if env.get(var, "").strip():
            layer["apiKey"] = env[var]
            labels["apiKey"] = var
            break
    return apply_overrides(Settings(), layer, source="environment", labels=labels, keeping=keeping)


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the CLI: environment problems are fatal there (exit 1), so the message
    does not claim an old value is kept."""
    settings, problems = from_env(environ, keeping=False)
    if problems:
        fix = "Fix or unset that variable." if len(problems) == 1 else "Fix or unset them."
        raise ConfigError("; ".join(problems) + ". " + fix)
    return settings
