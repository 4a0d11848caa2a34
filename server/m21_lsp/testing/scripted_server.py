"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1.

Tests, the demo and the benchmarks need a model endpoint that behaves like the real one,
quirks and failures included, without a network or a key. This is a real HTTP/1.1 server
(hand-written on asyncio streams, so faults such as a dropped socket or a stalled stream are
real faults on a real socket) running its own event loop in a background thread, so sync
tests, async tests and other processes can all talk to it.

Each request consumes one :class:`Step` from a queue (or ``default``, or ``responder``),
which says what to answer and which fault to inject. Every request is recorded with its
headers, JSON body and whether the client went away before the reply was finished, which
is how tests prove that cancelling really closed the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "RELEASE_PATH",
    "RecordedRequest",
    "ScriptedModelServer",
    "Step",
    "fixtures_dir",
    "load_reply",
]

_MAX_HEADER_BYTES = 64 * 1024
RELEASE_PATH = "/_scripted/release"
"""``POST`` here does what :meth:`ScriptedModelServer.release` does (for other processes)."""
_MAX_BODY_BYTES = 32 * 1024 * 1024


def fixtures_dir() -> Path:
    """The repository's ``fixtures/`` folder (``M21_FIXTURES_DIR`` overrides it)."""
    env = os.environ.get("M21_FIXTURES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "fixtures"


def load_reply(name: str) -> str:
    """Raw text (reasoning included) of a scripted reply: a path or a name in fixtures/replies.

    Falls back to the package's ``demo_data`` folder so an installed (non-editable) package
    can still serve its bundled demo reply.
    """
    as_path = Path(name)
    if as_path.suffix and as_path.is_file():
        return as_path.read_text(encoding="utf-8")
    file_name = name if name.endswith(".md") else name + ".md"
    candidates = [
        fixtures_dir() / "replies" / file_name,
        Path(__file__).resolve().parents[1] / "demo_data" / file_name,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError(f"no scripted reply named {name!r} (looked in {candidates[0].parent})")


@dataclass
class Step:
    """What the server answers to one request, and which fault it injects.

    ``stream=None`` follows the request's ``stream`` flag. ``finish_reason=None`` ends the
    stream without a finish reason (an incomplete reply). ``hold`` waits before the first
    byte, ``stall_after_chunks`` after N chunks, both until :meth:`ScriptedModelServer.release`
    or until the client disconnects. ``drop_after_chunks`` aborts the socket after N chunks.
    """

    content: str = ""
    fixture: str | None = None
    reasoning_content: str | None = None
    finish_reason: str | None = "stop"
    status: int = 200
    body: str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    base_resp: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    stream: bool | None = None
    chunk_chars: int = 7
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0
    hold: bool = False
    stall_after_chunks: int | None = None
    drop_after_chunks: int | None = None
    malformed_line: bool = False
    invalid_json: bool = False
    empty_choices: bool = False
    repeat_message_at_end: bool = False
    done_marker: bool = True
    # Extras beyond the shared contract.
    credits_used: float | None = 3
    include_usage: bool = True
    sse_crlf: bool = False
    sse_compact: bool = False
    write_bytes: int | None = None
    model: str = "MiniMax-M2.1"
    # Structured tool calls ({"name", "arguments"}: arguments a JSON string, or an object the
    # JSON reply sends as is), sent after the content: in SSE as deltas whose arguments come
    # in ``chunk_chars`` pieces, in JSON inside ``message.tool_calls``. ``tool_calls_fixture``
    # names a JSON list of them in fixtures/replies.
    tool_calls: list[dict[str, Any]] | None = None
    tool_calls_fixture: str | None = None
    # A model writing at a set rate: frame n leaves n / frames_per_second after the first,
    # on an absolute clock so that sleep overheads do not add up (bench/time_to_edit.py
    # streams one token per frame with it).
    frames_per_second: float | None = None

    def text(self) -> str:
        """The reply content this step sends (the fixture when one is named)."""
        if self.fixture is not None:
            return load_reply(self.fixture)
        return self.content

    def calls(self) -> list[dict[str, Any]]:
        """The structured tool calls this step sends (the fixture's when one is named)."""
        if self.tool_calls_fixture is not None:
            name = self.tool_calls_fixture
            path = fixtures_dir() / "replies" / (name if name.endswith(".json") else name + ".json")
            loaded = json.loads(path.read_text(encoding="utf-8"))
            return list(loaded) if isinstance(loaded, list) else []
        return list(self.tool_calls or [])


@dataclass
class RecordedRequest:
    """One request as the server saw it, and how its reply ended."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    stream: bool
    completed: bool = False
    client_closed_early: bool = False
    step: Step | None = None


class _Disconnected(Exception):
    """The client went away while we were answering."""


class _Conn:
    """One TCP connection: a byte buffer over the reader and an EOF watcher."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        self.closed_event = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def read_until(self, marker: bytes, limit: int) -> bytes | None:
        while True:
            index = self.buf.find(marker)
            if index >= 0:
                out = bytes(self.buf[: index + len(marker)])
                del self.buf[: index + len(marker)]
                return out
            if len(self.buf) > limit or self.eof:
                return None
            if not await self._fill():
                return None

    async def read_exact(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if self.eof or not await self._fill():
                return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def _fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            self.eof = True
            return False
        self.buf.extend(data)
        return True

    def start_watching(self) -> None:
        """While a reply is being sent, notice at once when the client closes the socket."""

        async def watch() -> None:
            while True:
                try:
                    data = await self.reader.read(65536)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    self.eof = True
                    self.closed_event.set()
                    return
                self.buf.extend(data)  # a pipelined request: keep it for later

        self._watcher = asyncio.ensure_future(watch())

    async def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def write(self, data: bytes) -> None:
        if self.closed_event.is_set():
            raise _Disconnected
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self.closed_event.set()
            raise _Disconnected from exc
        if self.closed_event.is_set():
            raise _Disconnected


class ScriptedModelServer:
    """A loopback chat-completions server that replays :class:`Step` objects."""

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.default: Step | None = None
        self.responder: Callable[[dict[str, Any]], Step] | None = None
        self.requests: list[RecordedRequest] = []
        self.open_connections = 0
        self.models: list[str] = ["minimax/m2-1", "MiniMax-M2.1"]
        """What ``GET /v1/models`` lists (``doctor`` checks the configured model is there)."""
        self.models_step: Step | None = None
        """When set, ``GET /v1/models`` answers with this step's status, headers and body
        instead (a 404, 500, 503, an HTML page…)."""
        self._queue: deque[Step] = deque()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._disconnect = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._release_gen = 0
        self._release_event: asyncio.Event | None = None
        self._conns: set[_Conn] = set()
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> ScriptedModelServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="scripted-model-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            raise RuntimeError(f"scripted server failed to start: {self._start_error}")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _open(self) -> None:
        self._release_event = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving, drop every connection and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self.release()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # ----------------------------------------------------------------- scripting
    def enqueue(self, *steps: Step) -> None:
        with self._lock:
            self._queue.extend(steps)

    def release(self) -> None:
        """Let every step that is holding or stalled right now continue."""
        with self._lock:
            self._release_gen += 1
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_released)

    def _wake_released(self) -> None:
        assert self._release_event is not None
        self._release_event.set()
        self._release_event = asyncio.Event()

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.requests) >= n, timeout=timeout)

    async def wait_for_requests_async(self, n: int, timeout: float = 10.0) -> bool:
        """:meth:`wait_for_requests` for async tests (waits in a worker thread)."""
        return await asyncio.to_thread(self.wait_for_requests, n, timeout)

    async def wait_for_disconnect_async(self, timeout: float = 10.0) -> RecordedRequest | None:
        """:meth:`wait_for_disconnect` for async tests (waits in a worker thread)."""
        return await asyncio.to_thread(self.wait_for_disconnect, timeout)

    def wait_for_connections(self, n: int = 0, timeout: float = 10.0) -> bool:
        """Wait until exactly ``n`` TCP connections are open (0: every client went away)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.open_connections == n, timeout=timeout)

    def _count_connection(self, change: int) -> None:
        with self._cond:
            self.open_connections += change
            self._cond.notify_all()

    def wait_for_disconnect(self, timeout: float = 10.0) -> RecordedRequest | None:
        """The first request whose client closed the connection before the reply ended."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for request in self.requests:
                    if request.client_closed_early:
                        return request
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._disconnect.wait(remaining)
            self._disconnect.clear()

    def _next_step(self, body: Any) -> Step | None:
        if self.responder is not None:
            return self.responder(body if isinstance(body, dict) else {})
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.default

    # ----------------------------------------------------------------- HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(reader, writer)
        self._conns.add(conn)
        self._count_connection(+1)
        try:
            while True:
                keep_alive = await self._serve_one(conn)
                if not keep_alive:
                    break
        except (_Disconnected, ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._count_connection(-1)
            self._conns.discard(conn)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve_one(self, conn: _Conn) -> bool:
        head = await conn.read_until(b"\r\n\r\n", _MAX_HEADER_BYTES)
        if head is None:
            return False
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            await conn.write(_plain_response(400, "bad request line"))
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(conn)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > _MAX_BODY_BYTES:
                await conn.write(_plain_response(413, "request too large"))
                return False
            data = await conn.read_exact(length)
            if data is None:
                return False
            body = data
        keep_alive = headers.get("connection", "").lower() != "close"
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        path = target.split("?", 1)[0]
        stream = bool(isinstance(parsed, dict) and parsed.get("stream"))
        record = RecordedRequest(method, path, headers, body, parsed, stream)
        if method == "GET" and path.rstrip("/").endswith("/v1/models"):
            # Only under /v1, like real OpenAI-compatible APIs: a baseUrl without /v1 gets
            # the 404 that ``doctor`` must explain.
            step = self.models_step
            self._record(record, step)
            record.completed = True
            await conn.write(_models_response(step, self.models))
            return keep_alive
        if method == "POST" and path == RELEASE_PATH:
            # Editor drivers run in another process: they release a stalled stream here at
            # the moment they have seen what they wait for (the live view, a first sentence).
            # Not recorded: ``requests`` stays the model calls.
            self.release()
            await conn.write(_json_response(200, {"released": True}))
            return keep_alive
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            self._record(record, None)
            record.completed = True
            await conn.write(
                _json_response(404, {"message": f"no route {method} {path}", "statusCode": 404})
            )
            return keep_alive
        if parsed is None or not isinstance(parsed, dict):
            self._record(record, None)
            record.completed = True
            await conn.write(
                _json_response(400, {"message": "body is not a JSON object", "statusCode": 400})
            )
            return keep_alive
        try:
            step = self._next_step(parsed)
        except Exception as exc:  # a broken responder must not kill the server
            step = Step(status=500, body={"message": f"responder failed: {exc}", "statusCode": 500})
        gen = self._release_gen
        self._record(record, step)
        if step is None:
            record.completed = True
            await conn.write(
                _json_response(500, {"message": "no scripted reply", "statusCode": 500})
            )
            return keep_alive
        conn.start_watching()
        try:
            finished = await self._answer(conn, record, step, gen)
        except _Disconnected:
            finished = False
            record.completed = False
            self._closed_early(record)
        finally:
            await conn.stop_watching()
        return finished and keep_alive and not conn.eof

    async def _read_chunked(self, conn: _Conn) -> bytes:
        out = bytearray()
        while True:
            line = await conn.read_until(b"\r\n", 1024)
            if line is None:
                raise _Disconnected
            size = int(line.split(b";")[0].strip() or b"0", 16)
            data = await conn.read_exact(size + 2)
            if data is None:
                raise _Disconnected
            if size == 0:
                return bytes(out)
            out.extend(data[:-2])

    def _record(self, record: RecordedRequest, step: Step | None) -> None:
        record.step = step
        with self._cond:
            self.requests.append(record)
            self._cond.notify_all()

    def _closed_early(self, record: RecordedRequest) -> None:
        record.client_closed_early = True
        self._disconnect.set()

    async def _wait(self, conn: _Conn, gen: int, seconds: float | None) -> None:
        """Wait for ``seconds`` (None: until released), or raise when the client leaves."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if conn.closed_event.is_set():
                raise _Disconnected
            if seconds is None and self._release_gen > gen:
                return
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return
            assert self._release_event is not None
            waiters = [
                asyncio.ensure_future(conn.closed_event.wait()),
                asyncio.ensure_future(self._release_event.wait()),
            ]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)

    async def _answer(self, conn: _Conn, record: RecordedRequest, step: Step, gen: int) -> bool:
        """Send the reply for ``step``. Returns True when the whole reply was sent.

        ``record.completed`` is set just *before* the last bytes go out, so a client that has
        the whole reply always sees it set; a failed last write resets it.
        """
        if step.hold:
            await self._wait(conn, gen, None)
        if step.first_byte_delay:
            await self._wait(conn, gen, step.first_byte_delay)
        if step.status != 200:
            record.completed = True
            await conn.write(_error_response(step))
            return True
        content = step.text()
        stream = record.stream if step.stream is None else step.stream
        if stream:
            pieces = _sse_events(step, content, record.json)
            await conn.write(
                _head(
                    200,
                    {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
                    | step.headers,
                    chunked=True,
                )
            )
        else:
            payload = json.dumps(_json_completion(step, content), ensure_ascii=False).encode()
            size = max(1, step.chunk_chars * 8)
            pieces = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
            await conn.write(
                _head(200, {"Content-Type": "application/json"} | step.headers, length=len(payload))
            )
        paced_from = time.monotonic()
        for index, piece in enumerate(pieces):
            if step.frames_per_second and index:
                due = paced_from + index / step.frames_per_second
                await self._wait(conn, gen, due - time.monotonic())
            if step.drop_after_chunks is not None and index >= step.drop_after_chunks:
                conn.writer.transport.abort()
                return False
            if step.stall_after_chunks is not None and index == step.stall_after_chunks:
                await self._wait(conn, gen, None)
            if step.chunk_delay and index:
                await self._wait(conn, gen, step.chunk_delay)
            if not stream and index == len(pieces) - 1:
                record.completed = True
            await self._write_piece(conn, piece, chunked=stream, split=step.write_bytes)
        if stream:
            record.completed = True
            await conn.write(b"0\r\n\r\n")
        return True

    @staticmethod
    async def _write_piece(conn: _Conn, piece: bytes, *, chunked: bool, split: int | None) -> None:
        parts = (
            [piece] if not split else [piece[i : i + split] for i in range(0, len(piece), split)]
        )
        for part in parts:
            if not part:
                continue
            if chunked:
                await conn.write(b"%x\r\n" % len(part) + part + b"\r\n")
            else:
                await conn.write(part)


# --------------------------------------------------------------------- reply builders
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Site Overloaded",
}


def _head(
    status: int, headers: dict[str, str], *, chunked: bool = False, length: int | None = None
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    merged = {"Server": "m21-scripted"} | headers
    if chunked:
        merged["Transfer-Encoding"] = "chunked"
    elif length is not None:
        merged["Content-Length"] = str(length)
    lines += [f"{k}: {v}" for k, v in merged.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _plain_response(status: int, text: str) -> bytes:
    data = text.encode()
    return (
        _head(status, {"Content-Type": "text/plain", "Connection": "close"}, length=len(data))
        + data
    )


def _json_response(status: int, obj: Any) -> bytes:
    data = json.dumps(obj).encode()
    return _head(status, {"Content-Type": "application/json"}, length=len(data)) + data


def _error_response(step: Step) -> bytes:
    body = step.body
    if body is None:
        body = {"message": f"scripted error {step.status}", "statusCode": step.status}
    if isinstance(body, str):
        data = body.encode()
        content_type = "application/json" if body.lstrip().startswith("{") else "text/plain"
    else:
        data = json.dumps(body).encode()
        content_type = "application/json"
    headers = {"Content-Type": content_type} | step.headers
    return _head(step.status, headers, length=len(data)) + data


def _models_response(step: Step | None, models: list[str]) -> bytes:
    if step is not None:
        return _error_response(step)
    listing = [{"id": m, "object": "model", "owned_by": "scripted"} for m in models]
    return _json_response(200, {"object": "list", "data": listing})


def _usage(step: Step, content: str) -> dict[str, Any]:
    if step.usage is not None:
        return step.usage
    reasoning = len(step.reasoning_content or "") + content.find("</think>") + 1
    completion = max(1, (len(content) + len(step.reasoning_content or "")) // 4)
    return {
        "prompt_tokens": 120,
        "completion_tokens": completion,
        "total_tokens": 120 + completion,
        "completion_tokens_details": {"reasoning_tokens": max(0, reasoning // 4)},
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def _split(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse_events(step: Step, content: str, request: Any) -> list[bytes]:
    """The SSE byte frames for a streamed reply, one frame per HTTP chunk."""
    eol = "\r\n" if step.sse_crlf else "\n"
    prefix = "data:" if step.sse_compact else "data: "
    created = int(time.time())
    ident = "scripted-" + format(id(step), "x")

    def frame(obj: Any) -> bytes:
        return (prefix + json.dumps(obj, ensure_ascii=False) + eol + eol).encode()

    def chunk(choices: list[Any], **extra: Any) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": step.model,
            "choices": choices,
            **extra,
        }

    frames: list[bytes] = []
    if not step.empty_choices:
        frames.append(
            frame(
                chunk(
                    [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ]
                )
            )
        )
        for piece in _split(step.reasoning_content or "", step.chunk_chars):
            frames.append(
                frame(
                    chunk(
                        [{"index": 0, "delta": {"reasoning_content": piece}, "finish_reason": None}]
                    )
                )
            )
        for n, piece in enumerate(_split(content, step.chunk_chars)):
            delta: dict[str, Any] = {"content": piece}
            if n % 2:
                delta["role"] = ""  # MiniMax sends empty roles on later deltas
            frames.append(frame(chunk([{"index": 0, "delta": delta, "finish_reason": None}])))
            if n == 0 and step.malformed_line:
                frames.append(
                    (
                        ": keep-alive"
                        + eol
                        + eol
                        + "event: ping"
                        + eol
                        + eol
                        + "this line is not an SSE field"
                        + eol
                        + eol
                    ).encode()
                )
            if n == 1 and step.invalid_json:
                frames.append(
                    (prefix + '{"choices": [{"delta": {"content": "oo' + eol + eol).encode()
                )
        for index, call in enumerate(step.calls()):
            arguments = call.get("arguments", "")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            head_call = {
                "index": index,
                "id": f"call_{index}",
                "type": "function",
                "function": {"name": call.get("name", "replace"), "arguments": ""},
            }
            frames.append(
                frame(
                    chunk(
                        [{"index": 0, "delta": {"tool_calls": [head_call]}, "finish_reason": None}]
                    )
                )
            )
            for piece in _split(arguments, step.chunk_chars):
                part = {"index": index, "function": {"arguments": piece}}
                frames.append(
                    frame(
                        chunk(
                            [{"index": 0, "delta": {"tool_calls": [part]}, "finish_reason": None}]
                        )
                    )
                )
    wants_usage = step.include_usage
    if isinstance(request, dict) and isinstance(request.get("stream_options"), dict):
        wants_usage = wants_usage and bool(request["stream_options"].get("include_usage", True))
    tail: dict[str, Any] = {}
    if step.base_resp is not None:
        tail["base_resp"] = step.base_resp
    if step.finish_reason is not None and not step.empty_choices:
        frames.append(
            frame(chunk([{"index": 0, "delta": None, "finish_reason": step.finish_reason}]))
        )
        if step.repeat_message_at_end:
            message = {"role": "assistant", "content": content}
            if step.reasoning_content:
                message["reasoning_content"] = step.reasoning_content
            frames.append(
                frame(
                    chunk([{"index": 0, "message": message, "finish_reason": step.finish_reason}])
                )
            )
    if wants_usage or tail:
        extra: dict[str, Any] = dict(tail)
        if wants_usage:
            extra["usage"] = _usage(step, content)
            if step.credits_used is not None:
                extra["meta"] = {"usage": {"credits_used": step.credits_used}}
        frames.append(frame(chunk([], **extra)))
    if step.done_marker and step.finish_reason is not None:
        frames.append(("data: [DONE]" + eol + eol).encode())
    return frames


def _json_completion(step: Step, content: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "content": content,
        "role": "assistant",
        "name": "MiniMax AI",
        "audio_content": "",
    }
    if step.reasoning_content:
        message["reasoning_content"] = step.reasoning_content
    calls = step.calls()
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {
                    "name": call.get("name", "replace"),
                    "arguments": call.get("arguments"),
                },
            }
            for index, call in enumerate(calls)
        ]
    choices = (
        []
        if step.empty_choices
        else [{"finish_reason": step.finish_reason, "index": 0, "message": message}]
    )
    out: dict[str, Any] = {
        "id": "scripted-" + format(id(step), "x"),
        "choices": choices,
        "created": int(time.time()),
        "model": step.model,
        "object": "chat.completion",
        "base_resp": step.base_resp or {"status_code": 0, "status_msg": ""},
    }
    if step.include_usage:
        out["usage"] = _usage(step, content)
        if step.credits_used is not None:
            out["meta"] = {"usage": {"credits_used": step.credits_used}}
    return out


# --------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """Serve one reply forever: for manual runs and editor tests in other processes."""
    parser = argparse.ArgumentParser(prog="python -m m21_lsp.testing.scripted_server")
    parser.add_argument("--reply", required=True, help="reply name in fixtures/replies or a path")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        content = load_reply(args.reply)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    server = ScriptedModelServer(port=args.port)
    server.default = Step(content=content, chunk_delay=args.chunk_delay)
    server.start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
