"""The reply shapes of ``fixtures/endpoint_shapes`` through the command line (``refactor --apply``).

Each shape is what a public report shows an M2.x endpoint sending; the file names its source.
The CLI must apply the answer (never the draft in the reasoning) or refuse with the message
the shape names, after exactly the requests the retry decision allows.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from m21_lsp.cli import main
from m21_lsp.testing.scripted_server import ScriptedModelServer
from support import endpoint_shapes


def test_every_shape_names_its_public_source() -> None:
    assert len(endpoint_shapes.names()) >= 10
    for name in endpoint_shapes.names():
        shape = endpoint_shapes.load(name)
        assert shape.source.startswith("https://"), name
        assert shape.steps and "applied" in shape.expect, name


@pytest.mark.parametrize("name", endpoint_shapes.names())
def test_the_cli_replays_the_shape(
    name: str,
    tmp_path: Path,
    fixtures_dir: Path,
    model_server: ScriptedModelServer,
    monkeypatch: pytest.MonkeyPatch,
    sentinel_key: str,
) -> None:
    shape = endpoint_shapes.load(name)
    for var in ("M21_MODEL", "M21_TEMPERATURE", "M21_MAX_TOKENS", "M21_MAX_ATTEMPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("M21_API_KEY", sentinel_key)
    monkeypatch.setenv("M21_BASE_URL", model_server.base_url)
    target = tmp_path / "shop.py"
    shutil.copyfile(fixtures_dir / "sources" / endpoint_shapes.SOURCE, target)
    original = target.read_text(encoding="utf-8")
    model_server.enqueue(*shape.scripted_steps())
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["refactor", str(target), "--lines", endpoint_shapes.LINES, "--apply"], out=out, err=err
    )
    endpoint_shapes.check_text(shape, original, target.read_text(encoding="utf-8"))
    assert code == (0 if shape.expect["applied"] else 1), err.getvalue()
    assert len(model_server.requests) == shape.expect["requests"]
    if not shape.expect["applied"]:
        endpoint_shapes.check_message(shape, err.getvalue())
    assert sentinel_key not in out.getvalue() + err.getvalue()


def _accumulated(content: str, reasoning: str, usage: dict[str, int] | None = None):  # type: ignore[no-untyped-def]
    from m21_lsp.model.sse import ChunkAccumulator

    acc = ChunkAccumulator()
    message = {"content": content, "reasoning_content": reasoning}
    acc.feed({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    if usage is not None:
        acc.usage = usage
    return acc


def test_an_answer_after_a_closing_tag_inside_reasoning_content_is_taken() -> None:
    """A server whose reasoning parser missed the end of the thinking puts the answer in
    reasoning_content after the closing tag: that text is the answer, the rest reasoning."""
    from m21_lsp.config import Settings
    from m21_lsp.model.replies import completion_of

    acc = _accumulated("", "Draft:\n```python\nx = 0\n```\n</think>\n\n```python\nx = 1\n```\n")
    completion = completion_of(acc, Settings())
    assert completion.text == "```python\nx = 1\n```\n"
    assert "x = 0" in completion.reasoning and "x = 1" not in completion.reasoning


def test_reasoning_only_with_the_budget_spent_still_says_raise_max_tokens() -> None:
    from m21_lsp.config import Settings
    from m21_lsp.errors import ReplyError, TruncatedReply
    from m21_lsp.model.replies import completion_of

    spent = _accumulated("", "Thinking about it", {"completion_tokens": 100})
    with pytest.raises(TruncatedReply, match="raise maxTokens"):
        completion_of(spent, Settings(max_tokens=100))
    unspent = _accumulated("", "Thinking about it", {"completion_tokens": 10})
    with pytest.raises(ReplyError, match="only reasoning and no answer"):
        completion_of(unspent, Settings(max_tokens=100))
