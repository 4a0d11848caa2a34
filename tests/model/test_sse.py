"""SSE decoding and chat-completion chunk accumulation, quirk by quirk."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from m21_lsp.model.sse import DONE, ChunkAccumulator, SSEDecoder


def decode(*pieces: bytes) -> list[str]:
    decoder = SSEDecoder()
    out: list[str] = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out + decoder.finish()


def test_data_lines_with_and_without_space() -> None:
    assert decode(b"data: one\n\ndata:two\n\ndata:  three\n\n") == ["one", "two", " three"]


def test_comments_and_other_fields_are_ignored() -> None:
    stream = b": keep-alive\n\nevent: ping\n\nid: 7\nretry: 100\ndata: x\n\njunk line\n\n"
    assert decode(stream) == ["x"]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    stream = b"data: a" + eol + eol + b"data: b" + eol + eol
    assert decode(stream) == ["a", "b"]


def test_crlf_split_between_feeds_is_one_line_end() -> None:
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == ["a", "b"]


def test_multi_line_event_joins_with_newlines() -> None:
    assert decode(b'data: {"a":\ndata: 1}\n\n') == ['{"a":\n1}']
    assert json.loads(decode(b'data: {"a":\ndata: 1}\n\n')[0]) == {"a": 1}


def test_events_without_blank_lines_between_them() -> None:
    assert decode(b'data: {"a": 1}\ndata: {"b": 2}\ndata: [DONE]\n') == [
        '{"a": 1}',
        '{"b": 2}',
        DONE,
    ]


def test_last_event_without_terminating_blank_line() -> None:
    assert decode(b"data: tail") == ["tail"]


def test_utf8_split_inside_a_character() -> None:
    data = 'data: {"c": "é👋中"}\n\n'.encode()
    pieces = [data[i : i + 1] for i in range(len(data))]
    assert decode(*pieces) == ['{"c": "é👋中"}']


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(max_size=20), min_size=1, max_size=6),
    crlf=st.booleans(),
    compact=st.booleans(),
    data=st.data(),
)
def test_any_byte_split_gives_the_same_events(
    texts: list[str], crlf: bool, compact: bool, data: st.DataObject
) -> None:
    eol = "\r\n" if crlf else "\n"
    prefix = "data:" if compact else "data: "
    events = [json.dumps({"content": t}) for t in texts]
    wire = "".join(prefix + e + eol + ": comment" + eol + eol for e in events).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    assert decode(*pieces) == events


def feed_all(*objs: dict) -> ChunkAccumulator:
    acc = ChunkAccumulator()
    for obj in objs:
        acc.feed(obj)
    return acc


def chunk(delta: dict | None, finish: str | None = None, **extra: object) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def test_streamed_chunks_with_all_quirks() -> None:
    acc = feed_all(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "<think>a"}),
        chunk({"content": "</think>b", "role": ""}),
        chunk(None, "stop"),
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}},
        {
            "choices": [],
            "base_resp": {"status_code": 0, "status_msg": ""},
            "meta": {"usage": {"credits_used": 447}},
        },
    )
    assert acc.content == "<think>a</think>b"
    assert acc.finish_reason == "stop"
    assert acc.usage == {"prompt_tokens": 5, "completion_tokens": 3}
    assert acc.credits_used == 447
    assert acc.base_resp == {"status_code": 0, "status_msg": ""}


def test_closing_frame_repeating_the_message_is_not_appended_twice() -> None:
    acc = feed_all(
        chunk({"content": "hello "}),
        chunk({"content": "world"}),
        {"choices": [{"index": 0, "message": {"content": "hello world"}, "finish_reason": "stop"}]},
    )
    assert acc.content == "hello world"
    assert acc.finish_reason == "stop"


def test_closing_frame_completing_a_partial_stream_adds_only_the_rest() -> None:
    acc = feed_all(
        chunk({"content": "hello "}),
        {"choices": [{"index": 0, "message": {"content": "hello world"}, "finish_reason": "stop"}]},
    )
    assert acc.content == "hello world"


def test_whole_non_streamed_reply() -> None:
    acc = feed_all(
        {
            "choices": [
                {
                    "finish_reason": "stop",
                    "index": 0,
                    "message": {"content": "<think>x</think>hi", "role": "assistant"},
                }
            ],
            "model": "MiniMax-M2.1",
            "usage": {"prompt_tokens": 39, "completion_tokens": 167},
        }
    )
    assert acc.content == "<think>x</think>hi"
    assert acc.model == "MiniMax-M2.1"


def test_reasoning_sent_separately_stays_reasoning() -> None:
    acc = feed_all(
        chunk({"reasoning_content": "step 1. "}),
        chunk({"reasoning_details": [{"type": "reasoning.text", "text": "step 2."}]}),
        chunk({"reasoning": " step 3."}),
        chunk({"content": "answer"}, "stop"),
    )
    assert acc.reasoning == "step 1. step 2. step 3."
    assert acc.content == "answer"


def test_feed_returns_what_each_chunk_added() -> None:
    acc = ChunkAccumulator()
    assert acc.feed(chunk({"reasoning_content": "r"})).reasoning == "r"
    added = acc.feed(chunk({"content": "c"}))
    assert (added.content, added.reasoning) == ("c", "")
    assert acc.feed({"choices": []}).content == ""


def test_content_as_parts_and_other_indexes() -> None:
    acc = feed_all(
        chunk({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
        {"choices": [{"index": 1, "delta": {"content": "other choice"}}]},
    )
    assert acc.content == "ab"


def test_errors_and_non_objects_are_recorded_or_ignored() -> None:
    acc = feed_all({"error": {"message": "overloaded", "code": 503}})
    assert acc.error == {"message": "overloaded", "code": 503}
    acc = ChunkAccumulator()
    acc.feed([1, 2])  # type: ignore[arg-type]
    acc.feed({"choices": "nonsense"})
    assert acc.content == ""
    assert acc.finish_reason is None
