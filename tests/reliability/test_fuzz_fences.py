"""Property tests for the fence parser and code extraction, alone and behind the stream.

Whatever the model sends, extraction either returns real code or raises a clear
``M21Error``; never an empty replacement, never another exception. A block fenced by
CommonMark's rules comes back byte for byte. And the reply a user gets must not depend on
transport: streamed in arbitrary chunks or sent whole, through the real client and a real
socket, the reply text and the extracted code are the same.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from m21_lsp import config
from m21_lsp.errors import M21Error
from m21_lsp.model.client import ModelClient
from m21_lsp.pipeline.extract import extract_code, find_blocks
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

_PIECES = st.sampled_from(
    [
        "```",
        "```python\n",
        "````\n",
        "~~~\n",
        "~~~py\n",
        "\n```\n",
        "\n",
        "\r\n",
        "    ",
        "\t",
        "def f(x):\n",
        "    return x\n",
        "class A:\n",
        "# rest of the code unchanged\n",
        "Here is the refactored code:\n",
        "Example usage:\n",
        "print(f(1))\n",
        "<think>",
        "</think>",
        "😀",
        "é",
    ]
)
REPLY = st.lists(_PIECES | st.text(max_size=6), max_size=30).map("".join)
SELECTION = st.sampled_from(["def f(x):\n    return x\n", "x = 1\n", "class A:\n    pass\n"])
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(REPLY, SELECTION)
def test_extraction_returns_real_code_or_a_clear_error(reply: str, selection: str) -> None:
    try:
        code = extract_code(reply, selection)
    except M21Error as exc:
        assert exc.message.strip()
        return
    assert code.strip(), "an empty replacement must never be returned"
    assert code in reply.replace("\r\n", "\n").replace("\r", "\n") or "\t" in reply


_CODE_LINE = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\n"),
    max_size=12,
) | st.sampled_from(["```", "````", "~~~", "  ```", "```python", "def g():", "    pass"])
_PROSE_LINE = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\n`~"),
    max_size=20,
)


def fence_for(code: str, char: str) -> str:
    runs = [len(m.group(0)) for m in re.finditer(re.escape(char) + "+", code)]
    return char * max(3, max(runs, default=0) + 1)


@FAST
@given(
    st.lists(_CODE_LINE, min_size=1, max_size=8),
    st.lists(_PROSE_LINE, max_size=3),
    st.lists(_PROSE_LINE, max_size=3),
    st.sampled_from(["`", "~"]),
    st.sampled_from(["", "python", "py", "python3"]),
)
def test_a_properly_fenced_block_comes_back_exactly(
    code_lines: list[str], before: list[str], after: list[str], char: str, info: str
) -> None:
    code = "\n".join(code_lines) + "\n"
    fence = fence_for(code, char)
    reply = "\n".join([*before, fence + info, code[:-1], fence, *after])
    blocks = [b for b in find_blocks(reply) if b.terminated]
    assert len(blocks) == 1
    assert blocks[0].code == code


# ------------------------------------------------------------------ streamed versus whole


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


def _outcome(reply_text: str, selection: str) -> tuple[str, str]:
    try:
        return "code", extract_code(reply_text, selection)
    except M21Error as exc:
        return "error", type(exc).__name__


async def _both_ways(server: ScriptedModelServer, content: str, chunk: int) -> tuple[str, str]:
    settings_, problems = config.apply_overrides(
        config.Settings(),
        {"apiKey": "sk-fuzz-not-a-key-0123456789", "baseUrl": server.base_url, "maxAttempts": 1},
        source="test",
    )
    assert problems == []
    messages = [{"role": "user", "content": "refactor"}]
    async with ModelClient(settings_) as client:
        server.enqueue(Step(content=content, chunk_chars=chunk, stream=True))
        streamed = await client.complete(messages, stream=True)
        server.enqueue(Step(content=content, stream=False))
        whole = await client.complete(messages, stream=False)
    return streamed.text, whole.text


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(REPLY, st.integers(min_value=1, max_value=9), SELECTION)
def test_streamed_and_whole_replies_give_the_same_code(
    shared_server: ScriptedModelServer, body: str, chunk: int, selection: str
) -> None:
    content = "<think>plan</think>\n" + body + "\n```python\n" + selection + "```\n"
    streamed, whole = asyncio.run(_both_ways(shared_server, content, chunk))
    assert streamed == whole
    assert _outcome(streamed, selection) == _outcome(whole, selection)
