"""Configuration layering, validation and endpoint safety."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from m21_lsp import config
from m21_lsp.errors import ConfigError, scrub


def test_key_prefers_m21_api_key_over_aimlapi_key() -> None:
    settings, problems = config.from_env({"M21_API_KEY": "first-key", "AIMLAPI_KEY": "second-key"})
    assert problems == []
    assert settings.api_key == "first-key"


def test_aimlapi_key_is_the_fallback() -> None:
    settings, _ = config.from_env({"AIMLAPI_KEY": "fallback-key"})
    assert settings.api_key == "fallback-key"


def test_defaults_follow_minimax_recommendations() -> None:
    settings, _ = config.from_env({})
    assert (settings.base_url, settings.model) == ("https://api.aimlapi.com/v1", "minimax/m2-1")
    assert (settings.temperature, settings.top_p, settings.max_tokens) == (1.0, 0.95, 8192)
    assert (settings.connect_timeout, settings.chunk_timeout, settings.timeout) == (10, 60, 300)


def test_environment_overrides_base_url_and_model() -> None:
    settings, _ = config.from_env(
        {"M21_BASE_URL": "http://127.0.0.1:9999/v1/", "M21_MODEL": "other/model"}
    )
    assert settings.base_url == "http://127.0.0.1:9999/v1"
    assert settings.model == "other/model"


@pytest.mark.parametrize(("given", "stored"), [(0, 0.01), (-3, 0.01), (1.7, 1.0), (0.4, 0.4)])
def test_temperature_is_clamped_into_minimax_range(given: float, stored: float) -> None:
    settings, problems = config.apply_overrides(
        config.Settings(), {"temperature": given}, source="t"
    )
    assert problems == []
    assert settings.temperature == stored


def test_bad_values_are_reported_and_the_old_value_kept() -> None:
    base = config.Settings()
    settings, problems = config.apply_overrides(
        base,
        {"maxTokens": "lots", "hover": "sometimes", "bogus": 1},
        source="initializationOptions",
    )
    assert settings.max_tokens == base.max_tokens
    assert settings.hover == base.hover
    assert len(problems) == 3
    assert all(p.startswith("initializationOptions:") for p in problems)
    assert any("maxTokens" in p and "whole number" in p for p in problems)
    assert any("'bogus'" in p for p in problems)


def test_cli_load_fails_loudly_on_bad_environment() -> None:
    with pytest.raises(ConfigError, match=r"M21|maxTokens"):
        config.load({"M21_MAX_TOKENS": "-5"})


@pytest.mark.parametrize(
    "url",
    ["http://example.com/v1", "http://10.0.0.5/v1", "ftp://127.0.0.1/v1", "not a url"],
)
def test_key_is_never_sent_over_plain_http_to_other_hosts(url: str) -> None:
    assert config.check_endpoint(url) is not None
    settings, problems = config.apply_overrides(config.Settings(), {"baseUrl": url}, source="t")
    assert settings.base_url == config.DEFAULT_BASE_URL
    assert problems


@pytest.mark.parametrize(
    "url",
    [
        "https://api.aimlapi.com/v1",
        "http://127.0.0.1:8080/v1",
        "http://localhost/v1",
        "http://[::1]:1/v1",
    ],
)
def test_https_and_loopback_are_allowed(url: str) -> None:
    assert config.check_endpoint(url) is None


def test_key_is_hidden_from_repr_public_dict_and_problems() -> None:
    secret = "sk-sentinel-4f1c9a7e"
    settings, _ = config.apply_overrides(config.Settings(), {"apiKey": secret}, source="t")
    assert secret not in repr(settings)
    assert settings.public_dict()["apiKey"] == "set"
    _, problems = config.apply_overrides(settings, {"apiKey": 12345}, source="t")
    assert problems and all(secret not in p and "12345" not in p for p in problems)
    assert secret not in scrub(f"Authorization: Bearer {secret} and again {secret}")


def test_require_key_names_the_variables() -> None:
    with pytest.raises(ConfigError, match=r"M21_API_KEY.*AIMLAPI_KEY"):
        config.Settings().require_key()


def test_progress_text_counts_in_words() -> None:
    from m21_lsp.model.types import Progress

    assert Progress("thinking", tokens=1).describe() == "thinking… 1 token"
    assert Progress("thinking", tokens=412).describe() == "thinking… 412 tokens"
    assert Progress("writing", lines=38).describe() == "writing… 38 lines"


# ---------------------------------------------------------------------------- the one table
README = Path(__file__).resolve().parents[2] / "README.md"
SHORT = {
    config.ENVIRONMENT: "env",
    config.INIT: "init",
    config.WORKSPACE: "workspace",
    config.WORKSPACE_IF_ALLOWED: "workspace if `allowWorkspaceBaseUrl`",
    config.WORKSPACE_ONLY_ON: "workspace only `true`",
}


def _default_cell(name: str, spec: config.Spec) -> str:
    if spec.shown_default is not None:
        return spec.shown_default
    value = getattr(config.Settings(), name)
    if value is None:
        return "—"
    unit = " s" if spec.unit == " seconds" else ""
    return f"`{json.dumps(value).strip(chr(34))}`{unit}"


def _expected_cells(name: str, spec: config.Spec) -> list[str]:
    env = ", else ".join(f"`{var}`" for var in spec.env) or "—"
    sources = ", ".join(SHORT[s] for s in spec.sources)
    return [f"`{config.WIRE_NAMES[name]}`", env, _default_cell(name, spec), sources]


def _readme_rows() -> dict[str, list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    return {c[0]: c for c in cells}


def test_the_readme_configuration_table_is_the_settings_table() -> None:
    rows = _readme_rows()
    expected = {config.WIRE_NAMES[n]: _expected_cells(n, s) for n, s in config.SPECS.items()}
    assert sorted(rows) == sorted(f"`{wire}`" for wire in expected)
    for wire, cells in expected.items():
        row = rows[f"`{wire}`"]
        assert row[:4] == cells, wire
        assert len(row) == 5 and row[4], f"{wire}: the README row needs a meaning"


def test_every_field_has_a_spec_and_the_environment_names_are_unique() -> None:
    assert set(config.SPECS) == {f.name for f in dataclasses.fields(config.Settings)}
    variables = [var for s in config.SPECS.values() for var in s.env]
    assert len(variables) == len(set(variables))
    assert config.spec("allow_workspace_base_url").sources == (config.ENVIRONMENT, config.INIT)
    assert config.spec("base_url").workspace == config.WORKSPACE_IF_ALLOWED


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("1", True), (" yes", True), ("On", True), ("0", False), ("maybe", False), ("  ", False)],
)
def test_allow_workspace_base_url_reads_only_an_explicit_yes_and_never_complains(
    value: str, allowed: bool
) -> None:
    settings, problems = config.from_env({"M21_ALLOW_WORKSPACE_BASE_URL": value})
    assert (settings.allow_workspace_base_url, problems) == (allowed, [])
    assert config.load({"M21_ALLOW_WORKSPACE_BASE_URL": value}).allow_workspace_base_url is allowed
