"""The caps themselves: each refuses with a message that names the setting raising it.

End-to-end checks that a cap stops a request *before* anything reaches the model server live
in ``test_limits_e2e.py``; these pin the rules and the wording users rely on.
"""

from __future__ import annotations

import pytest
from m21_lsp import config, limits
from m21_lsp.errors import LimitExceeded, SecretFileRefused, UsageError


def settings(**overrides: object) -> config.Settings:
    result, problems = config.apply_overrides(config.Settings(), overrides, source="test")
    assert problems == []
    return result


def test_selection_chars_cap_names_its_setting() -> None:
    s = settings(maxSelectionChars=10)
    limits.check_selection(s, "x" * 10)
    with pytest.raises(LimitExceeded) as info:
        limits.check_selection(s, "x" * 11)
    assert "maxSelectionChars" in info.value.message
    assert "M21_MAX_SELECTION_CHARS" in info.value.message
    assert info.value.kind == "limit"


def test_selection_lines_cap_names_its_setting() -> None:
    s = settings(maxSelectionLines=3)
    limits.check_selection(s, "a\nb\nc")
    with pytest.raises(LimitExceeded) as info:
        limits.check_selection(s, "a\nb\nc\nd")
    assert "maxSelectionLines" in info.value.message
    assert "M21_MAX_SELECTION_LINES" in info.value.message


def test_prompt_cap_names_its_setting() -> None:
    s = settings(maxPromptTokens=100)
    limits.check_prompt(s, 100)
    with pytest.raises(LimitExceeded) as info:
        limits.check_prompt(s, 101)
    assert "maxPromptTokens" in info.value.message
    assert "M21_MAX_PROMPT_TOKENS" in info.value.message


def test_caps_have_sensible_defaults_and_come_from_the_environment() -> None:
    default = config.Settings()
    assert default.max_selection_chars >= 10_000
    assert default.max_selection_lines >= 200
    assert default.max_prompt_tokens >= 8_000
    assert default.max_reply_chars >= 100_000
    assert 1 <= default.max_concurrent_requests <= 16
    env = {
        "M21_MAX_SELECTION_CHARS": "123",
        "M21_MAX_SELECTION_LINES": "4",
        "M21_MAX_PROMPT_TOKENS": "567",
        "M21_MAX_REPLY_CHARS": "890",
        "M21_MAX_CONCURRENT_REQUESTS": "2",
    }
    s, problems = config.from_env(env)
    assert problems == []
    assert (
        s.max_selection_chars,
        s.max_selection_lines,
        s.max_prompt_tokens,
        s.max_reply_chars,
        s.max_concurrent_requests,
    ) == (123, 4, 567, 890, 2)


@pytest.mark.parametrize("value", [0, -5, "many", 1.5, True])
def test_a_bad_cap_is_reported_and_the_default_kept(value: object) -> None:
    s, problems = config.apply_overrides(
        config.Settings(), {"maxSelectionChars": value}, source="test"
    )
    assert s.max_selection_chars == config.Settings().max_selection_chars
    assert len(problems) == 1 and "maxSelectionChars" in problems[0]


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        "prod.env",
        "x.pem",
        "server.key",
        "id_rsa",
        "id_rsa.pub",
        "id_ed25519",
        "secrets.yaml",
        "app.secrets.json",
        "credentials.json",
        ".netrc",
        "/home/u/proj/config/.env.production",
        "file:///home/u/proj/keys/x.pem",
        "file:///home/u/proj/secrets.toml",
        "file:///home/u/proj/%2Eenv",
    ],
)
def test_secret_looking_files_are_refused(path: str) -> None:
    s = config.Settings()
    assert limits.is_secret_path(s, path)
    with pytest.raises(SecretFileRefused) as info:
        limits.check_path(s, path)
    assert "secretGlobs" in info.value.message


@pytest.mark.parametrize(
    "path",
    [
        "main.py",
        "environment.py",
        "keys.py",
        "secret_santa.py",
        "file:///home/u/proj/pem_utils.py",
        "untitled:Untitled-1",
        None,
    ],
)
def test_ordinary_files_are_allowed(path: str | None) -> None:
    s = config.Settings()
    assert not limits.is_secret_path(s, path)
    limits.check_path(s, path)


def test_secret_globs_are_configurable() -> None:
    s = settings(secretGlobs=["*.py"])
    assert limits.is_secret_path(s, "main.py")
    assert not limits.is_secret_path(s, ".env")
    s, problems = config.from_env({"M21_SECRET_GLOBS": "*.txt, *.cfg"})
    assert problems == []
    assert s.secret_globs == ("*.txt", "*.cfg")
    assert limits.is_secret_path(s, "notes.txt")


def test_text_with_a_lone_surrogate_is_refused_with_its_line() -> None:
    limits.check_encodable("ok = 'é😀'\n")
    with pytest.raises(UsageError) as info:
        limits.check_encodable("a = 1\nb = '\ud800'\n")
    assert "line 2" in info.value.message and "U+D800" in info.value.message
