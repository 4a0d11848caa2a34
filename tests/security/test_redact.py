"""Secrets kept out of prompts: detection (detect-secrets, offline), placeholders that stay
valid code, restoring them, and refusing replies that would misplace a secret.

The pipeline-level tests run the real ``pipeline.refactor``/``explain`` with a model client
that records what it was sent and answers like a model that keeps (or mangles) the
placeholders it saw.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from m21_lsp.config import Settings
from m21_lsp.errors import SecretChanged, scrub
from m21_lsp.model.types import Completion, Progress
from m21_lsp.pipeline import detect, redact, syntax
from m21_lsp.pipeline import run as pipeline
from secret_samples import SAMPLES, leaked

PLACEHOLDER = re.compile(r"M21_SECRET\w*?_\d+_REDACTED")
GH = next(s.value for s in SAMPLES if s.plugin == "GitHubTokenDetector")
STRIPE = next(s.value for s in SAMPLES if s.plugin == "StripeDetector")
SLACK = next(s.value for s in SAMPLES if s.value.startswith("xoxb-"))


class Model:
    """Records each request; ``answer`` turns the last user message into the reply."""

    def __init__(self, answer: Callable[[str], str]) -> None:
        self.answer = answer
        self.sent: list[list[dict[str, str]]] = []

    async def complete(
        self, messages: list[dict[str, str]], *, on_progress: Any = None
    ) -> Completion:
        self.sent.append(messages)
        reply = self.answer(messages[-1]["content"])
        return Completion(raw=reply, text=reply, reasoning="", finish_reason="stop")


def selected_code(user: str) -> str:
    return re.findall(r"Selected code[^\n]*:\n```\w*\n(.*?)```", user, re.S)[-1]


def keep(change: Callable[[str], str] = lambda code: code) -> Callable[[str], str]:
    """A model that rewrites the selected code (placeholders and all) with ``change``."""
    return lambda user: "```python\n" + change(selected_code(user)) + "```\n"


SOURCE = f'''import os

STRIPE = "{STRIPE}"


def connect(items):
    token = "{GH}"
    s = 0
    for i in items:
        s += i
    return s, token
'''


def refactor(model: Model, text: str = SOURCE, **settings: Any) -> pipeline.RefactorResult:
    start = text.index("def connect")
    req = pipeline.RefactorRequest(text=text, start=start, end=len(text), path="app.py")
    return asyncio.run(pipeline.refactor(req, Settings(**settings), model))


# ----------------------------------------------------------------------------- detection
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"{s.plugin}-{s.value[:4]}")
def test_every_format_the_library_knows_is_found(sample: Any) -> None:
    values = [f.value for f in detect.scan(sample.render(), "app.py")]
    assert sample.value in values


def test_the_gates_find_what_scanning_every_line_finds() -> None:
    """The whole-text gates only skip lines: one line at a time gives the same values."""
    text = "\n".join(s.render() for s in SAMPLES) + "\nx = 1\n"
    alone = {f.value for line in text.splitlines() for f in detect.scan(line, "app.py")}
    assert {f.value for f in detect.scan(text, "app.py")} == alone


def test_the_keyword_gate_covers_the_librarys_denylist() -> None:
    from detect_secrets.plugins import keyword

    for word in keyword.DENYLIST:
        plain = word.replace("_?", "").replace("ñ", "n")
        assert any(w in plain for w in detect._WORDS), word


@pytest.mark.parametrize(
    "line",
    [
        'request_id = "5f3c8a3e-8d2b-4e0f-9b1a-2c3d4e5f6a7b"',  # a UUID
        'ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"',
        "password = get_password(user)",  # an indirect reference
        'password = "${DB_PASSWORD}"',  # templated
        'token = "{token}"',
        "x = 1  # nothing here",
    ],
)
def test_what_the_library_filters_out_is_not_reported(line: str) -> None:
    assert detect.scan(line, "app.py") == []


def test_known_answer_vectors_in_tests_are_not_secrets_but_keys_there_are() -> None:
    vectors = (
        'assert h.hexdigest() == "da39a3ee5e6b4b0d3255bfef95601890afd80709"\n'
        'VECTOR = "TWFuIGlzIGRpc3Rpbmd1aXNoZWQsIG5vdCBvbmx5IGJ5IGhpcyByZWFzb24="\n'
    )
    assert detect.scan(vectors, "tests/test_hashing.py") == []
    assert len(detect.scan(vectors, "src/hashing.py")) == 2  # in application code they count
    assert [f.value for f in detect.scan(f'T = "{GH}"', "tests/test_api.py")] == [GH]


def test_an_allowlist_pragma_keeps_a_value_in_the_prompt() -> None:
    line = f'token = "{GH}"  # pragma: allowlist secret'
    assert detect.scan(line, "app.py") == []
    nextline = f'# pragma: allowlist nextline secret\ntoken = "{GH}"'
    assert detect.scan(nextline, "app.py") == []


def test_a_private_key_block_is_found_to_its_end() -> None:
    from secret_samples import PEM, PEM_BODY

    found = {f.value for f in detect.scan(f'KEY = "{PEM}"\nDONE = 1\n', "app.py")}
    assert set(PEM_BODY) <= found
    multi = "KEY = '''\n" + PEM.replace("\\n", "\n") + "'''\n"
    assert set(PEM_BODY) <= {f.value for f in detect.scan(multi, "app.py")}


def test_no_value_is_ever_verified_with_its_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanning every sample makes no network call (a verify would send the value)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    import requests

    monkeypatch.setattr(requests.Session, "request", refuse)
    text = "\n".join(s.render() for s in SAMPLES)
    assert len(detect.scan(text, "app.py")) >= len(SAMPLES) - 1
    assert all(p.plugin.verify is detect._unverified for p in detect._engine().plugins)


def test_the_server_and_cli_start_without_importing_the_library() -> None:
    code = (
        "import sys, m21_lsp.cli, m21_lsp.lsp.server, m21_lsp.lsp.app, m21_lsp.pipeline.run;"
        "print('detect_secrets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- placeholders
def test_placeholders_are_unique_and_never_collide_with_the_prompt() -> None:
    r = redact.Redactor("app.py")
    text = f'a = "{GH}"\nb = "{STRIPE}"\n# M21_SECRET is a word used here\n'
    out = r.redact([{"role": "user", "content": text}])[0]["content"]
    holders = PLACEHOLDER.findall(out)
    assert len(holders) == len(set(holders)) == 2
    assert r.stem != "M21_SECRET" and all(h.startswith(r.stem + "_") for h in holders)
    assert not leaked(out)


@pytest.mark.parametrize(
    ("key", "template"),
    [
        ("javascript", 'const t = "{p}";\n'),
        ("typescript", "const t: string = '{p}';\n"),
        ("go", 'package m\n\nvar t = "{p}"\n'),
        ("rust", 'const T: &str = "{p}";\n'),
        ("java", 'class A { String t = "{p}"; }\n'),
        ("c", 'const char *t = "{p}";\n'),
        ("cpp", 'const char *t = "{p}";\n'),
        ("lua", 'local t = "{p}"\n'),
        ("json", '{"t": "{p}"}\n'),
        ("toml", 't = "{p}"\n'),
        ("yaml", "t: {p}\n"),
        ("bash", 'T="{p}"\n'),
    ],
)
def test_a_placeholder_is_valid_inside_a_string_of_every_checked_language(
    key: str, template: str
) -> None:
    r = redact.Redactor("x")
    r.redact([{"role": "user", "content": f't = "{GH}"'}])
    placeholder = r.hide(GH)
    text = template.replace("{p}", placeholder)
    syntax.check_edit(key, "", (0, 0), text, [(0, len(text))])


def test_python_with_placeholders_compiles() -> None:
    r = redact.Redactor("app.py")
    out = r.redact([{"role": "user", "content": SOURCE}])[0]["content"]
    compile(out, "app.py", "exec")
    assert r.restore(out, strict=True) == SOURCE


def test_a_short_value_is_replaced_only_as_a_word_of_its_own() -> None:
    r = redact.Redactor("app.py")
    text = 'password = "hunter2x"\nhunter2x_count = 3\nx = "hunter2x"\n'
    out = r.redact([{"role": "user", "content": text}])[0]["content"]
    assert "hunter2x_count" in out and out.count("_REDACTED") == 2


# ----------------------------------------------------------------------------- the pipeline
def test_refactor_sends_placeholders_and_writes_the_secrets_back_byte_for_byte() -> None:
    model = Model(
        keep(
            lambda c: c.replace("s = 0\n    for i in items:\n        s += i\n", "s = sum(items)\n")
        )
    )
    progress: list[Progress] = []
    req = pipeline.RefactorRequest(
        text=SOURCE, start=SOURCE.index("def connect"), end=len(SOURCE), path="app.py"
    )
    result = asyncio.run(pipeline.refactor(req, Settings(), model, progress.append))
    sent = repr(model.sent)
    assert not leaked(sent), "a secret reached the model"
    assert len(set(PLACEHOLDER.findall(sent))) == 2
    assert f'token = "{GH}"' in result.new_text and "sum(items)" in result.new_text
    assert result.secrets_kept_out == 2
    assert "2 secrets kept out of the prompt" in [p.describe() for p in progress]
    assert "placeholders" in model.sent[0][0]["content"]  # the model is told


def test_with_redaction_off_the_prompt_is_sent_as_it_is() -> None:
    model = Model(keep())
    result = refactor(model, redact_secrets=False)
    assert GH in repr(model.sent) and result.secrets_kept_out == 0


def test_a_repair_turn_carries_placeholders_too() -> None:
    replies = iter(["```python\ndef connect(items:\n    token = {p}\n```\n", None])

    def answer(user: str) -> str:
        first = next(replies)
        if first is not None:
            holder = PLACEHOLDER.findall(user)[-1]
            return first.replace("{p}", f'"{holder}"')
        return keep()(user_first[0])

    user_first: list[str] = []
    model = Model(lambda u: (user_first.append(u) if not user_first else None) or answer(u))
    result = refactor(model, repair_turns=1)
    assert len(model.sent) == 2
    assert not leaked(repr(model.sent)), "the repair turn sent a secret back"
    assert result.new_text == SOURCE


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda c: re.sub(r"_(\d+)_REDACTED", r"_\1_REDACTD", c), "altered"),
        (lambda c: PLACEHOLDER.sub(lambda m: m.group(0).lower(), c), "lower case"),
        (lambda c: PLACEHOLDER.sub("M21_SECRET_9_REDACTED", c), "invented"),
        (lambda c: PLACEHOLDER.sub('", "', c), "dropped from its line"),
        (lambda c: PLACEHOLDER.sub("", c), "emptied"),
    ],
)
def test_a_reply_that_mangles_a_placeholder_is_refused_and_nothing_written(
    change: Callable[[str], str], why: str
) -> None:
    model = Model(keep(change))
    with pytest.raises(SecretChanged) as err:
        refactor(model)
    assert "Nothing was changed" in err.value.message
    assert not leaked(err.value.message + err.value.detail)


def test_a_secret_copied_from_the_context_into_the_code_is_refused() -> None:
    def copy_context_secret(user: str) -> str:
        stripe_holder = re.search(r'STRIPE = "(\w+)"', user).group(1)  # type: ignore[union-attr]
        code = selected_code(user).replace(
            "    s = 0\n", f'    s = 0\n    key = "{stripe_holder}"\n'
        )
        return "```python\n" + code + "```\n"

    with pytest.raises(SecretChanged, match="copies a secret"):
        refactor(Model(copy_context_secret))


def test_a_secret_duplicated_inside_the_selection_is_refused() -> None:
    def twice(code: str) -> str:
        holder = PLACEHOLDER.findall(code)[0]
        return code.replace("    s = 0\n", f'    s = 0\n    again = "{holder}"\n')

    with pytest.raises(SecretChanged):
        refactor(Model(keep(twice)))


def test_code_that_no_longer_needs_the_secret_may_drop_it() -> None:
    """Moving a hard-coded token to the environment is a refactor, not a lost secret."""

    def to_env(code: str) -> str:
        return re.sub(r'token = "\w+"', 'token = os.environ["TOKEN"]', code)

    result = refactor(Model(keep(to_env)))
    assert GH not in result.new_text and 'os.environ["TOKEN"]' in result.new_text


def test_the_explanation_is_restored_and_the_found_values_are_scrubbed_from_logs() -> None:
    def explain(user: str) -> str:
        holder = PLACEHOLDER.findall(user)[-1]
        return f"It returns the sum and the token `{holder}` (a mangled M21_SECRET_77_REDACTED)."

    model = Model(explain)
    req = pipeline.RefactorRequest(
        text=SOURCE, start=SOURCE.index("def connect"), end=len(SOURCE), path="app.py"
    )
    result = asyncio.run(pipeline.explain(req, Settings(), model))
    assert not leaked(repr(model.sent))
    assert GH in result.markdown and result.secrets_kept_out == 2
    assert GH not in scrub(f"log: {result.markdown}")


# ----------------------------------------------------------------------------- the setting
def test_a_workspace_cannot_turn_redaction_off_but_the_user_can() -> None:
    from m21_lsp.lsp.settings import SettingsLayers

    layers = SettingsLayers(environ={})
    assert layers.set_workspace({"m21": {"redactSecrets": False}}).redact_secrets is True
    assert any("redactSecrets can only be turned off" in p for p in layers.problems())
    assert layers.set_workspace({"m21": {"redactSecrets": True}}).redact_secrets is True

    mine = SettingsLayers(environ={})
    mine.set_initialization_options({"redactSecrets": False})
    # VS Code's configuration answer repeats the user's own value: accepted, nothing reported.
    assert mine.set_workspace({"m21": {"redactSecrets": False}}).redact_secrets is False
    assert mine.problems() == []
    assert SettingsLayers(environ={"M21_REDACT_SECRETS": "0"}).current.redact_secrets is False


def test_a_pair_sent_as_a_structured_tool_call_gets_its_secret_back() -> None:
    """Structured ``tool_calls`` are not in the reply's text: their JSON arguments are
    restored too (a value with quotes must stay valid JSON), and a pair whose old text quotes
    the placeholder matches the selection as the prompt showed it."""
    import json

    from m21_lsp.model.types import ToolCall

    model_sent: list[list[dict[str, str]]] = []

    class ToolModel:
        async def complete(
            self, messages: list[dict[str, str]], *, on_progress: Any = None
        ) -> Completion:
            model_sent.append(messages)
            token_line = next(
                line for line in selected_code(messages[-1]["content"]).splitlines()
                if "token =" in line
            ).strip()
            assert not leaked(token_line)
            args = json.dumps(
                {"old_text": token_line, "new_text": token_line + "  # the service token"}
            )
            return Completion(
                raw="", text="", reasoning="", finish_reason="tool_calls",
                tool_calls=[ToolCall("replace", args)],
            )

    req = pipeline.RefactorRequest(
        text=SOURCE, start=SOURCE.index("def connect"), end=len(SOURCE), path="app.py"
    )
    result = asyncio.run(pipeline.refactor(req, Settings(edit_format="replace"), ToolModel()))
    assert not leaked(repr(model_sent))
    assert f'token = "{GH}"  # the service token\n' in result.new_text
    assert result.new_text.replace("  # the service token", "") == SOURCE


def test_restore_json_keeps_a_value_with_quotes_valid_json() -> None:
    import json

    r = redact.Redactor("app.py")
    r.redact([{"role": "user", "content": f'token = "{GH}"\n'}])
    placeholder = PLACEHOLDER.search(r.hide(GH))
    assert placeholder is not None
    args = json.dumps({"new_text": f'x = "{placeholder.group(0)}"'})
    assert json.loads(r.restore_json(args, strict=True)) == {"new_text": f'x = "{GH}"'}
