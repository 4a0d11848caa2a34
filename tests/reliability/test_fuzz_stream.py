"""Property tests: what a reply means must not depend on how the network chunked it.

The reasoning stripper and the SSE decoder both see replies in pieces of any size (a tag or
a UTF-8 character may straddle two reads). For arbitrary text and arbitrary chunkings, the
streamed result must equal the whole-text result, and the whole-text rules must hold.
"""

from __future__ import annotations

import json
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from m21_lsp.model.reasoning import ReasoningStripper, strip_reasoning
from m21_lsp.model.sse import ChunkAccumulator, SSEDecoder

# Pieces that matter to the rules, mixed with arbitrary text so tags and fences collide.
_PIECES = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<thinking>",
        "</thinking>",
        "<think",
        "</think",
        "<",
        ">",
        "/",
        "```",
        "```python\n",
        "~~~",
        "\n```\n",
        "\n",
        "\r\n",
        " ",
        "\t",
        "x = 1",
        "é",
        "😀",
        "漢",
    ]
)
REPLY_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=25).map("".join)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def stream(text: str, cuts: list[int]) -> tuple[str, ReasoningStripper]:
    stripper = ReasoningStripper()
    visible = "".join(stripper.feed(piece) for piece in chunked(text, cuts))
    visible += stripper.finish()
    return visible, stripper


@FAST
@given(REPLY_TEXT, st.lists(st.integers(min_value=0, max_value=400), max_size=30))
def test_streamed_reasoning_split_equals_whole(text: str, cuts: list[int]) -> None:
    whole = strip_reasoning(text)
    visible, stripper = stream(text, cuts)
    assert stripper.result() == whole
    assert visible == whole.text


@FAST
@given(REPLY_TEXT)
def test_visible_text_is_always_a_suffix_of_the_reply(text: str) -> None:
    split = strip_reasoning(text)
    assert text.endswith(split.text)
    if not split.closed:
        assert split.text == ""


@FAST
@given(REPLY_TEXT, REPLY_TEXT)
def test_a_leading_block_is_stripped_and_later_tags_are_kept(inner: str, after: str) -> None:
    reply = "<think>" + inner.replace("</think", "") + "</think>\n" + "print(1)\n" + after
    split = strip_reasoning(reply)
    assert split.closed
    assert split.text == "print(1)\n" + after  # a later <think> inside the answer survives


@FAST
@given(REPLY_TEXT)
def test_text_that_opens_with_a_fence_is_never_stripped(after: str) -> None:
    # Without a closing tag after it: a closing tag outside any fence ends the reasoning
    # wherever it is (issue 19; tests/model/test_reasoning.py holds that rule).
    reply = "```python\nx = 1\n```\n" + after.replace("</", "< /")
    assert strip_reasoning(reply).text == reply


# ------------------------------------------------------------------------------- SSE

_CONTENT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12
) | st.sampled_from(["<think>", "</think>", "```", "\n", "data: x", "\r\n\r\n", "😀漢é"])


def sse_bytes(contents: list[str], *, crlf: bool, compact: bool, done: bool) -> bytes:
    eol = "\r\n" if crlf else "\n"
    prefix = "data:" if compact else "data: "
    frames = [": keep-alive" + eol + eol]
    for piece in contents:
        obj = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        frames.append(prefix + json.dumps(obj, ensure_ascii=False) + eol + eol)
    frames.append(
        prefix
        + json.dumps({"choices": [{"index": 0, "delta": None, "finish_reason": "stop"}]})
        + eol
        + eol
    )
    if done:
        frames.append(prefix + "[DONE]" + eol + eol)
    return "".join(frames).encode("utf-8")


def decode(data: bytes, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    decoder = SSEDecoder()
    out: list[str] = []
    for a, b in pairwise(bounds):
        out += decoder.feed(data[a:b])
    return out + decoder.finish()


@FAST
@given(
    st.lists(_CONTENT, max_size=12),
    st.lists(st.integers(min_value=0, max_value=5000), max_size=40),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_sse_bytes_split_anywhere_decode_to_the_same_reply(
    contents: list[str], cuts: list[int], crlf: bool, compact: bool, done: bool
) -> None:
    data = sse_bytes(contents, crlf=crlf, compact=compact, done=done)
    whole = decode(data, [])
    assert decode(data, cuts) == whole
    acc = ChunkAccumulator()
    for event in whole:
        if event.strip() == "[DONE]":
            continue
        acc.feed(json.loads(event))
    assert acc.content == "".join(contents)
    assert acc.finish_reason == "stop"


@FAST
@given(st.lists(_CONTENT, min_size=1, max_size=8))
def test_a_closing_frame_repeating_the_message_is_not_appended_twice(contents: list[str]) -> None:
    acc = ChunkAccumulator()
    for piece in contents:
        acc.feed({"choices": [{"index": 0, "delta": {"content": piece}}]})
    whole = "".join(contents)
    acc.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": whole},
                    "finish_reason": "stop",
                }
            ]
        }
    )
    assert acc.content == whole
