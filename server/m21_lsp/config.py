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
from .user_actions import Action, parse_actions

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "minimax/m2-1"
KEY_VARS = ("M21_API_KEY", "AIMLAPI_KEY")
HOVER_MODES = ("cached", "auto", "off")
# What a refactor asks the model for (pipeline/prompt.py); every reply form is accepted.
EDIT_FORMATS = ("auto", "whole", "replace")
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


# Where a setting may come from (the server's layers; the CLI reads only the environment).
ENVIRONMENT = "environment"
INIT = "initializationOptions"
WORKSPACE = "workspace"
# A workspace value counts only when allowWorkspaceBaseUrl is on (see lsp/settings.py).
WORKSPACE_IF_ALLOWED = "workspace if allowWorkspaceBaseUrl"
# A workspace value counts only when it is the safe one, true (see lsp/settings.py).
WORKSPACE_ONLY_ON = "workspace only to turn it on"


@dataclass(frozen=True)
class Spec:
    """How one setting is read and checked: the one table the layers and the README follow.

    ``kind`` picks the conversion from a wire value (JSON or an environment string):
    ``key`` (a secret string; "" clears it), ``path`` (a string; "" unsets it), ``globs`` (a
    list, or a comma-separated string), ``bool``, ``int``, ``float``, ``str`` (non-empty,
    ``choices`` when given) and ``url`` (``str``, trailing slashes dropped, and the key may
    only go there over https or to loopback). ``low``/``high`` bound numbers; with ``clamp``
    a value outside them is moved inside instead of refused (temperature: MiniMax rejects
    values outside (0, 1]). ``env`` lists the environment variables, the first one set wins.
    ``workspace`` says whether ``workspace/configuration`` may set it: ``WORKSPACE``,
    ``WORKSPACE_IF_ALLOWED``, ``WORKSPACE_ONLY_ON`` (a bool it may turn on, never off) or
    None. ``quiet_env``: an environment value that is not a
    valid one is ignored without a problem (a security opt-in that only an explicit yes turns
    on). ``unit`` follows numbers in messages and the README.
    """

    kind: str
    env: tuple[str, ...] = ()
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    clamp: bool = False
    choices: tuple[str, ...] = ()
    workspace: str | None = WORKSPACE
    aliases: tuple[str, ...] = ()
    quiet_env: bool = False
    unit: str = ""
    shown_default: str | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        """The layers it may come from, in rising priority."""
        env = (ENVIRONMENT,) if self.env else ()
        workspace = (self.workspace,) if self.workspace else ()
        return (*env, INIT, *workspace)


def _setting(default: Any, kind: str, **spec: Any) -> Any:
    extra: dict[str, Any] = {"repr": False} if kind == "key" else {}
    return field(default=default, metadata={"spec": Spec(kind, **spec)}, **extra)


@dataclass(frozen=True)
class Settings:
    """Effective configuration. Field names are snake_case; wire names are camelCase.

    Each field's ``Spec`` (its metadata) is the whole truth about reading it.
    """

    api_key: str | None = _setting(None, "key", env=KEY_VARS, aliases=("key",))
    base_url: str = _setting(
        DEFAULT_BASE_URL, "url", env=("M21_BASE_URL",), workspace=WORKSPACE_IF_ALLOWED
    )
    model: str = _setting(DEFAULT_MODEL, "str", env=("M21_MODEL",))
    model_label: str = _setting("m2-1", "str", env=("M21_MODEL_LABEL",))
    temperature: float = _setting(
        1.0, "float", env=("M21_TEMPERATURE",), low=0.01, high=1.0, clamp=True
    )
    top_p: float = _setting(0.95, "float", env=("M21_TOP_P",), low=0, low_open=True, high=1)
    max_tokens: int = _setting(8192, "int", env=("M21_MAX_TOKENS",), low=1)
    connect_timeout: float = _setting(
        10.0, "float", env=("M21_CONNECT_TIMEOUT",), low=0, low_open=True, unit=" seconds"
    )
    chunk_timeout: float = _setting(
        60.0,
        "float",
        env=("M21_CHUNK_TIMEOUT",),
        low=0,
        low_open=True,
        unit=" seconds",
        aliases=("readTimeout",),
    )
    timeout: float = _setting(
        300.0, "float", env=("M21_TIMEOUT",), low=0, low_open=True, unit=" seconds"
    )
    max_attempts: int = _setting(3, "int", env=("M21_MAX_ATTEMPTS",), low=1)
    context_lines: int = _setting(20, "int", env=("M21_CONTEXT_LINES",), low=0)
    repair_turns: int = _setting(1, "int", env=("M21_REPAIR_TURNS",), low=0)
    edit_format: str = _setting("auto", "str", env=("M21_EDIT_FORMAT",), choices=EDIT_FORMATS)
    hover: str = _setting("cached", "str", choices=HOVER_MODES)
    confirm_edits: bool = _setting(True, "bool")
    ca_bundle: str | None = _setting(None, "path", env=("M21_CA_BUNDLE",))
    # Limits (checked before any request is sent).
    max_selection_chars: int = _setting(40_000, "int", env=("M21_MAX_SELECTION_CHARS",), low=1)
    max_selection_lines: int = _setting(1_000, "int", env=("M21_MAX_SELECTION_LINES",), low=1)
    max_prompt_tokens: int = _setting(24_000, "int", env=("M21_MAX_PROMPT_TOKENS",), low=1)
    max_reply_chars: int = _setting(400_000, "int", env=("M21_MAX_REPLY_CHARS",), low=1)
    max_concurrent_requests: int = _setting(4, "int", env=("M21_MAX_CONCURRENT_REQUESTS",), low=1)
    secret_globs: tuple[str, ...] = _setting(
        DEFAULT_SECRET_GLOBS,
        "globs",
        env=("M21_SECRET_GLOBS",),
        shown_default="`.env*`, `*.pem`, `*.key`, `id_rsa*`, `secrets.*`, …",
    )
    # A workspace may define actions (a team's conventions): they only choose instructions.
    # None by default: the light bulb shows Refactor and Explain until a user asks for more.
    actions: tuple[Action, ...] = _setting((), "actions", env=("M21_ACTIONS",))
    # Secrets in the code are replaced by placeholders before any request (pipeline/redact.py).
    # A cloned repository's settings must not be able to send its readers' secrets away.
    redact_secrets: bool = _setting(
        True, "bool", env=("M21_REDACT_SECRETS",), workspace=WORKSPACE_ONLY_ON
    )
    allow_workspace_base_url: bool = _setting(
        False, "bool", env=("M21_ALLOW_WORKSPACE_BASE_URL",), workspace=None, quiet_env=True
    )

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
            elif f.name == "actions":
                value = [a.as_dict() for a in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[_camel(f.name)] = value
        return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def spec(name: str) -> Spec:
    """The table entry of the field ``name`` (snake_case)."""
    return SPECS[name]


SPECS: dict[str, Spec] = {f.name: f.metadata["spec"] for f in fields(Settings)}
WIRE_NAMES: dict[str, str] = {name: _camel(name) for name in SPECS}
_WIRE_TO_FIELD: dict[str, str] = {wire: name for name, wire in WIRE_NAMES.items()}
# Accepted aliases for convenience in editor configs.
_WIRE_TO_FIELD.update({alias: name for name, s in SPECS.items() for alias in s.aliases})


def field_name(wire: str) -> str:
    """The snake_case field of a camelCase setting name (or alias)."""
    return _WIRE_TO_FIELD[wire]


def wire_names(*, workspace: str | None) -> tuple[str, ...]:
    """camelCase names of the settings whose ``Spec.workspace`` is ``workspace``."""
    return tuple(WIRE_NAMES[n] for n, s in SPECS.items() if s.workspace == workspace)


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


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _coerce(spec: Spec, value: Any) -> Any:
    """Convert a wire value to the field's type, raising ValueError with a reason."""
    kind = spec.kind
    if kind == "key":
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value.strip()
    if kind == "path":
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise ValueError("must be a path")
        return value
    if kind == "globs":
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of glob strings")
        return tuple(v.strip() for v in value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise ValueError("must be true or false")
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        try:
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise ValueError("must be a whole number")
        return number
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _check(spec: Spec, value: Any) -> Any:
    """Bounds, clamps, choices and endpoint safety. Returns the value to store."""
    if spec.low is not None or spec.high is not None:
        low, high = spec.low, spec.high
        if spec.clamp and low is not None and high is not None:
            return min(max(value, low), high)
        above = low is None or (value > low if spec.low_open else value >= low)
        if not above or (high is not None and value > high):
            if low is not None and high is not None:
                raise ValueError(f"must be in {'(' if spec.low_open else '['}{low:g}, {high:g}]")
            if spec.low_open:
                raise ValueError(f"must be more than {low:g}{spec.unit}")
            if low == 0:
                raise ValueError("must be 0 or more")
            raise ValueError(f"must be at least {low:g}")
    if spec.choices and value not in spec.choices:
        raise ValueError("must be one of " + ", ".join(spec.choices))
    if spec.kind == "url":
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
        if SPECS[name].kind == "actions":
            # Entry by entry: a bad entry is dropped, the good ones still count.
            try:
                changes[name], bad = parse_actions(raw, (labels or {}).get(wire, wire))
            except ValueError as exc:
                label = (labels or {}).get(wire, wire)
                kept = "; keeping the previous actions" if keeping else ""
                problems.append(f"{source}: {label} {exc}{kept}")
                continue
            problems += [f"{source}: {p}" for p in bad]
            continue
        try:
            value = _check(SPECS[name], _coerce(SPECS[name], raw))
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


def from_env(
    environ: Mapping[str, str] | None = None, *, keeping: bool = True
) -> tuple[Settings, list[str]]:
    """Defaults overlaid with the environment. Returns the settings and any problems,
    each naming the variable as the user set it (``M21_TIMEOUT='abc' must be a number``)."""
    env = os.environ if environ is None else environ
    layer: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for name, entry in SPECS.items():
        wire = WIRE_NAMES[name]
        for var in entry.env:
            raw = env.get(var, "")
            # A blank key variable falls through to the next one (AIMLAPI_KEY).
            if not (raw.strip() if entry.kind == "key" else raw):
                continue
            if entry.quiet_env:
                raw = raw.strip()
                try:
                    _check(entry, _coerce(entry, raw))
                except ValueError:
                    break
            layer[wire] = raw
            labels[wire] = var
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
