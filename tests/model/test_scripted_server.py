"""The scripted server itself: it must fake faithfully, or every test built on it lies.

These tests talk to it with plain httpx and raw sockets, independently of ModelClient.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from m21_lsp.testing.scripted_server import RELEASE_PATH, ScriptedModelServer, Step, load_reply

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def events(text: str) -> list[str]:
    """The data payloads of a plain (LF, spaced) SSE body."""
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def chunks(text: str) -> list[dict]:
    return [json.loads(e) for e in events(text) if e != "[DONE]"]


def post(srv: ScriptedModelServer, body: dict | None = None, **kw: object) -> httpx.Response:
    return httpx.post(srv.base_url + "/chat/completions", json=body or BODY, timeout=10, **kw)


def test_base_url_and_recorded_request(model_server: ScriptedModelServer) -> None:
    assert model_server.base_url.startswith("http://127.0.0.1:")
    assert model_server.base_url.endswith("/v1")
    model_server.enqueue(Step(content="hello"))
    response = post(model_server, headers={"X-Custom": "Yes"})
    assert response.status_code == 200
    (request,) = model_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["x-custom"] == "Yes"
    assert request.json == BODY
    assert request.stream is False
    assert request.completed and not request.client_closed_early


def test_json_reply_looks_like_the_api_page(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(Step(fixture="refactor_basic", reasoning_content="r"))
    reply = post(model_server).json()
    assert reply["object"] == "chat.completion"
    (choice,) = reply["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == load_reply("refactor_basic")
    assert choice["message"]["reasoning_content"] == "r"
    assert reply["base_resp"] == {"status_code": 0, "status_msg": ""}
    assert reply["meta"]["usage"]["credits_used"] == 3
    assert reply["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_stream_follows_the_request_flag_and_has_every_quirk(
    model_server: ScriptedModelServer,
) -> None:
    content = "<think>plan</think>\n```python\nx = 1\n```\n"
    model_server.enqueue(Step(content=content, chunk_chars=4))
    response = post(
        model_server, {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert response.headers["content-type"] == "text/event-stream"
    assert events(response.text)[-1] == "[DONE]"
    parsed = chunks(response.text)
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in parsed if c["choices"]]
    pieces = [d["content"] for d in deltas if d]
    assert "".join(pieces) == content
    assert max(len(p) for p in pieces) == 4
    assert not any("</think>" in p for p in pieces)  # the tag straddles chunk borders
    assert {"content": pieces[2], "role": ""} in deltas  # MiniMax's empty role
    finish = [c for c in parsed if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finish[0]["choices"][0]["delta"] is None
    assert parsed[-1]["choices"] == [] and parsed[-1]["usage"]["prompt_tokens"] > 0
    assert model_server.requests[0].stream is True


def test_step_stream_overrides_the_request(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(Step(content="a", stream=True), Step(content="b", stream=False))
    assert post(model_server).headers["content-type"] == "text/event-stream"
    assert post(model_server, {**BODY, "stream": True}).json()["choices"][0]["message"] == {
        "content": "b",
        "role": "assistant",
        "name": "MiniMax AI",
        "audio_content": "",
    }


def test_optional_frames(model_server: ScriptedModelServer) -> None:
    stream_body = {**BODY, "stream": True}
    model_server.enqueue(
        Step(content="abc", done_marker=False, repeat_message_at_end=True),
        Step(content="abc", finish_reason=None),
        Step(content="abcdefghij", malformed_line=True, invalid_json=True, chunk_chars=2),
        Step(empty_choices=True),
        Step(content="abc", base_resp={"status_code": 1008, "status_msg": "insufficient"}),
        Step(content="é", sse_crlf=True, sse_compact=True),
    )
    text = post(model_server, stream_body).text
    assert "[DONE]" not in text
    assert chunks(text)[-2]["choices"][0]["message"]["content"] == "abc"

    text = post(model_server, stream_body).text
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks(text) if c["choices"])
    assert "[DONE]" not in text

    text = post(model_server, stream_body).text
    assert ": keep-alive\n\n" in text and "this line is not an SSE field" in text
    assert 'data: {"choices": [{"delta": {"content": "oo\n' in text

    text = post(model_server, stream_body).text
    assert all(c["choices"] == [] for c in chunks(text))

    text = post(model_server, stream_body).text
    assert chunks(text)[-1]["base_resp"]["status_code"] == 1008

    raw = post(model_server, stream_body).content
    assert b'data:{"id"' in raw and b"\r\n\r\n" in raw and "é".encode() in raw


@pytest.mark.parametrize(
    ("step", "content_type", "body"),
    [
        (Step(status=429, headers={"Retry-After": "3"}), "application/json", None),
        (Step(status=400, body={"title": "Bad", "status": 400}), "application/json", None),
        (
            Step(status=502, body="<html>bad gateway</html>"),
            "text/plain",
            "<html>bad gateway</html>",
        ),
    ],
)
def test_error_statuses(
    model_server: ScriptedModelServer, step: Step, content_type: str, body: str | None
) -> None:
    model_server.enqueue(step)
    response = post(model_server)
    assert response.status_code == step.status
    assert response.headers["content-type"] == content_type
    for name, value in step.headers.items():
        assert response.headers[name] == value
    if body is not None:
        assert response.text == body
    elif step.body is not None:
        assert response.json() == step.body
    else:
        assert response.json() == {"message": "scripted error 429", "statusCode": 429}


def test_queue_then_default_then_responder(model_server: ScriptedModelServer) -> None:
    assert post(model_server).status_code == 500
    assert post(model_server).json()["message"] == "no scripted reply"
    model_server.default = Step(content="default")
    model_server.enqueue(Step(content="one"), Step(content="two"))
    texts = [post(model_server).json()["choices"][0]["message"]["content"] for _ in range(3)]
    assert texts == ["one", "two", "default"]
    model_server.responder = lambda body: Step(content=body["messages"][0]["content"].upper())
    assert post(model_server).json()["choices"][0]["message"]["content"] == "HI"


def test_models_are_listed_under_v1_only_and_can_fail(model_server: ScriptedModelServer) -> None:
    listing = httpx.get(model_server.base_url + "/models", timeout=10)
    assert listing.status_code == 200
    assert [m["id"] for m in listing.json()["data"]] == ["minimax/m2-1", "MiniMax-M2.1"]
    root = f"http://127.0.0.1:{model_server.port}"
    assert httpx.get(root + "/models", timeout=10).status_code == 404  # baseUrl without /v1
    model_server.models = ["other/model"]
    assert httpx.get(model_server.base_url + "/models", timeout=10).json()["data"][0]["id"] == (
        "other/model"
    )
    model_server.models_step = Step(status=503, headers={"Retry-After": "5"})
    failed = httpx.get(model_server.base_url + "/models", timeout=10)
    assert failed.status_code == 503 and failed.headers["retry-after"] == "5"
    assert [r.path for r in model_server.requests] == ["/v1/models", "/models"] + ["/v1/models"] * 2


def test_unknown_routes_and_bad_bodies(model_server: ScriptedModelServer) -> None:
    assert httpx.get(model_server.base_url + "/embeddings", timeout=10).status_code == 404
    response = httpx.post(model_server.base_url + "/chat/completions", content=b"{", timeout=10)
    assert response.status_code == 400
    model_server.enqueue(Step(content="x"))
    assert httpx.post(
        f"http://127.0.0.1:{model_server.port}/chat/completions", json=BODY, timeout=10
    ).is_success


def _background_post(srv: ScriptedModelServer, results: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(post(srv, {**BODY, "stream": True}).text)
        except httpx.HTTPError as exc:
            results.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_hold_waits_for_release(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(Step(content="held", hold=True))
    results: list[object] = []
    thread = _background_post(model_server, results)
    assert model_server.wait_for_requests(1)
    assert not model_server.requests[0].completed
    model_server.release()
    thread.join(10)
    assert isinstance(results[0], str) and "held" in results[0]
    assert model_server.requests[0].completed


def test_stall_then_release(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(Step(content="abcdefgh", chunk_chars=1, stall_after_chunks=3))
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "POST", model_server.base_url + "/chat/completions", json={**BODY, "stream": True}
        ) as response,
    ):
        lines = response.iter_lines()
        seen = [line for _, line in zip(range(5), lines, strict=False) if line]
        assert len(seen) == 3  # role chunk, "a", "b"; then the server stalls
        assert not model_server.requests[0].completed
        model_server.release()
        rest = "\n".join(lines)
    assert "[DONE]" in rest and model_server.requests[0].completed


def test_another_process_releases_a_stall_over_http(model_server: ScriptedModelServer) -> None:
    """Editor drivers (node, Lua) cannot call ``release()``: ``POST /_scripted/release`` does,
    and is not recorded as a model request."""
    model_server.enqueue(Step(content="abcdefgh", chunk_chars=1, stall_after_chunks=3))
    origin = model_server.base_url.rsplit("/v1", 1)[0]
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "POST", model_server.base_url + "/chat/completions", json={**BODY, "stream": True}
        ) as response,
    ):
        lines = response.iter_lines()
        seen = [line for _, line in zip(range(5), lines, strict=False) if line]
        assert len(seen) == 3 and not model_server.requests[0].completed
        answer = httpx.post(origin + RELEASE_PATH, timeout=10)
        assert answer.status_code == 200
        rest = "\n".join(lines)
    assert "[DONE]" in rest and model_server.requests[0].completed
    assert len(model_server.requests) == 1


def test_client_leaving_during_hold_is_recorded_at_once(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(Step(content="never sent", hold=True))
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    with socket.create_connection(("127.0.0.1", model_server.port)) as sock:
        sock.sendall(request)
        assert model_server.wait_for_requests(1)
    gone = model_server.wait_for_disconnect(timeout=10)
    assert gone is model_server.requests[0]
    assert not gone.completed
    assert model_server.wait_for_connections(0)


def test_drop_aborts_the_socket(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(Step(content="abcdefgh", chunk_chars=1, drop_after_chunks=4))
    with pytest.raises(httpx.RemoteProtocolError):
        post(model_server, {**BODY, "stream": True})
    (request,) = model_server.requests
    assert not request.completed and not request.client_closed_early
    assert model_server.wait_for_connections(0)


def test_keep_alive_and_connection_count(model_server: ScriptedModelServer) -> None:
    model_server.default = Step(content="x")
    with httpx.Client(timeout=10) as client:
        for _ in range(3):
            client.post(model_server.base_url + "/chat/completions", json=BODY)
        assert model_server.open_connections == 1
    assert model_server.wait_for_connections(0)
    assert len(model_server.requests) == 3


def test_stop_does_not_hang_on_a_held_request() -> None:
    srv = ScriptedModelServer().start()
    srv.enqueue(Step(content="x", hold=True))
    results: list[object] = []
    thread = _background_post(srv, results)
    assert srv.wait_for_requests(1)
    srv.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert (results and not isinstance(results[0], str)) or "x" in str(results[0])


def test_context_manager_and_restart_on_a_new_port() -> None:
    with ScriptedModelServer() as srv:
        srv.enqueue(Step(content="x"))
        assert post(srv).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.post(srv.base_url + "/chat/completions", json=BODY, timeout=5)


def test_load_reply_by_name_path_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_reply("refactor_basic").startswith("<think>")
    assert load_reply("refactor_basic.md") == load_reply("refactor_basic")
    own = tmp_path / "own.md"
    own.write_text("mine", encoding="utf-8")
    assert load_reply(str(own)) == "mine"
    (tmp_path / "replies").mkdir()
    (tmp_path / "replies" / "only_here.md").write_text("env reply", encoding="utf-8")
    monkeypatch.setenv("M21_FIXTURES_DIR", str(tmp_path))
    assert load_reply("only_here") == "env reply"
    with pytest.raises(FileNotFoundError):
        load_reply("refactor_basic")


def test_command_line_serves_a_reply_forever() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "m21_lsp.testing.scripted_server", "--reply", "explain_basic"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        for _ in range(2):
            reply = httpx.post(base_url + "/chat/completions", json=BODY, timeout=10).json()
            assert reply["choices"][0]["message"]["content"] == load_reply("explain_basic")
    finally:
        proc.terminate()
        proc.wait(10)


def test_command_line_rejects_an_unknown_reply() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "m21_lsp.testing.scripted_server", "--reply", "no_such_reply"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no_such_reply" in done.stderr
