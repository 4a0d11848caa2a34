"""Reading the client's messages from a pipe on the event loop, not through a thread.

pygls reads stdin with three thread-pool calls per message (the ``Content-Length`` line,
the blank line, the body), and each hand-over to a worker thread and back to the event
loop costs a wake-up of both: about half of what a ``codeAction`` round trip costs on a
2-core machine. When stdin is a pipe or a socket (what every editor gives a server) the
event loop can read it itself; :class:`PipeReader` does, with the interface pygls's
message loop (``pygls.io_.run_async``) expects.

Anything else (a terminal, a regular file, stdin and stdout on the same file, Windows)
keeps pygls's own reader: ``connect_read_pipe`` makes the file descriptor non-blocking,
which must not reach a stdout that shares it.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import BinaryIO

# Header lines are short; a limit well above any of them only bounds a broken client.
_LINE_LIMIT = 1 << 20


def reads_as_pipe(stdin: BinaryIO, stdout: BinaryIO) -> bool:
    """True when the event loop may read ``stdin`` itself (see the module docs)."""
    if os.name != "posix":
        return False
    try:
        fd_in, fd_out = stdin.fileno(), stdout.fileno()
        st_in, st_out = os.fstat(fd_in), os.fstat(fd_out)
    except (AttributeError, OSError, ValueError):
        return False
    if not (stat.S_ISFIFO(st_in.st_mode) or stat.S_ISSOCK(st_in.st_mode)):
        return False
    return not os.path.samestat(st_in, st_out)


class PipeReader:
    """``readline``/``readexactly`` over an asyncio stream: bytes already received are
    returned at once, and the loop wakes only when the pipe has more."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream

    @classmethod
    async def open(cls, pipe: BinaryIO) -> PipeReader:
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader(limit=_LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), pipe)
        return cls(stream)

    async def readline(self) -> bytes:
        """The next line with its ``\\n``; ``b""`` once the client has closed the pipe."""
        return await self._stream.readline()

    async def readexactly(self, n: int) -> bytes:
        """``n`` bytes, or what is left (``b""`` at the end) if the pipe closes first: the
        message loop stops on a short body, as it does with pygls's reader."""
        try:
            return await self._stream.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial
