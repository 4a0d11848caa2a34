"""Reading the client from a pipe on the event loop (m21_lsp.lsp.stdio), and when not to."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

import pytest
from m21_lsp.lsp import app, stdio
from m21_lsp.lsp.server import create_server


def _framed(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def _read_all(read_fd: int) -> list[bytes]:
    """Header lines and bodies as pygls's message loop asks for them, until the end."""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        reader = await stdio.PipeReader.open(pipe)
        got: list[bytes] = []
        while True:
            header = await reader.readline()
            if not header:
                return got
            length = int(header.split(b":")[1])
            assert await reader.readline() == b"\r\n"
            got.append(await reader.readexactly(length))


def test_messages_written_in_pieces_are_read_whole() -> None:
    """Bytes arrive as the OS delivers them (a message split anywhere, two in one write);
    every body comes out whole, and the end of the pipe ends the loop."""
    first = b'{"jsonrpc":"2.0","method":"initialized","params":{}}'
    second = '{"jsonrpc":"2.0","id":1,"method":"x","params":{"t":"é😀"}}'.encode()
    data = _framed(first) + _framed(second) + _framed(first)
    read_fd, write_fd = os.pipe()

    def write() -> None:
        with os.fdopen(write_fd, "wb", buffering=0) as out:
            for cut in (7, 30, len(_framed(first)) + 3, len(data) - 2, len(data)):
                out.write(data[:cut][write.done :])
                write.done = cut

    write.done = 0  # type: ignore[attr-defined]
    writer = threading.Thread(target=write)
    writer.start()
    got = asyncio.run(_read_all(read_fd))
    writer.join()
    assert got == [first, second, first]


def test_a_body_cut_off_by_the_client_comes_back_short() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"Content-Length: 50\r\n\r\n" + b"{" * 10)
    os.close(write_fd)

    async def read() -> tuple[bytes, bytes, bytes]:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            reader = await stdio.PipeReader.open(pipe)
            return await reader.readline(), await reader.readline(), await reader.readexactly(50)

    assert asyncio.run(read()) == (b"Content-Length: 50\r\n", b"\r\n", b"{" * 10)


def test_only_a_pipe_or_socket_apart_from_stdout_is_read_on_the_loop(tmp_path: Path) -> None:
    read_fd, _unused = os.pipe()
    _other, write_fd = os.pipe()  # an editor's stdin and stdout are two pipes
    left, right = socket.socketpair()
    regular = tmp_path / "input"
    regular.write_bytes(b"")
    with (
        os.fdopen(read_fd, "rb") as pipe_in,
        os.fdopen(write_fd, "wb") as pipe_out,
        regular.open("rb") as file_in,
        left.makefile("rb") as sock_in,
        left.makefile("wb") as same_sock_out,
        right.makefile("wb") as other_out,
    ):
        assert stdio.reads_as_pipe(pipe_in, pipe_out)
        assert stdio.reads_as_pipe(sock_in, other_out)
        # A regular file cannot be watched by the loop; stdin and stdout on one socket (or
        # one terminal) would make stdout non-blocking too.
        assert not stdio.reads_as_pipe(file_in, pipe_out)
        assert not stdio.reads_as_pipe(sock_in, same_sock_out)
    left.close()
    right.close()
    os.close(_unused)
    os.close(_other)


@pytest.mark.parametrize("piped", [True, False])
def test_the_server_reads_a_pipe_itself_and_anything_else_the_pygls_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, piped: bool
) -> None:
    seen: list[str] = []

    async def loop(**kwargs: object) -> None:
        seen.append(type(kwargs["reader"]).__name__)

    monkeypatch.setattr(app, "run_async", loop)
    monkeypatch.setattr("pygls.server.run_async", loop)
    read_fd, write_fd = os.pipe()
    out = tmp_path / "out"
    with os.fdopen(write_fd, "wb") as keep_open, out.open("wb") as stdout:
        if piped:
            stdin = os.fdopen(read_fd, "rb")
        else:
            os.close(read_fd)
            (tmp_path / "in").write_bytes(b"")
            stdin = (tmp_path / "in").open("rb")
        with stdin:
            create_server({}).start_io(stdin, stdout)
        del keep_open
    assert seen == (["PipeReader"] if piped else ["StdinAsyncReader"])
