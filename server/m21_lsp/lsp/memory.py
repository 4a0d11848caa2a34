"""Giving freed memory back to the system, so a long editing session does not grow.

A refactor of a large file allocates and frees many document-sized strings and libcst
trees, in a worker thread. Two glibc behaviours keep that memory in the process after
Python has freed it (tracemalloc shows no live growth while RSS climbs):

* every thread that calls ``malloc`` may get an arena of its own, each with its own
  high-water mark; :func:`limit_arenas` caps them at one, before any thread starts;
* freed memory inside an arena stays mapped until ``malloc_trim``; :func:`trim_soon`
  runs it in a worker thread after each command (ctypes releases the GIL, so the
  event loop is not held up; it takes ~0.15 ms).

The opposite must not happen *during* a command: with glibc's default, moving mmap
threshold, some processes served every document-sized temporary (a splice of a 20,000-line
file makes three) from fresh pages, 211 page faults and ~6 ms per splice on a loaded
machine instead of 0.05 ms: a cost that grew with the file. So :func:`limit_arenas` also
fixes the thresholds: blocks under 16 MiB come from the heap, and freed memory at its top
is kept up to 32 MiB, to be reused by the next temporary; the trim after each command
still gives it back.

Measured with ``bench/bench_server.py``: RSS after 100 refactors of a 20,000-line file.
Elsewhere than glibc (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
from typing import Any

# glibc's mallopt parameter numbers, and the fixed thresholds (see the module docstring).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_MMAP_THRESHOLD = 16 << 20
_TRIM_THRESHOLD = 32 << 20


def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")  # find_library would run ldconfig: 5 ms at start-up
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None  # not glibc
    return libc


_LIBC = _libc()


def limit_arenas() -> bool:
    """One malloc arena for the whole process, and heap memory reused between the
    temporaries of a command rather than faulted in afresh for each; True if glibc took
    the settings."""
    if _LIBC is None:
        return False
    return all(
        _LIBC.mallopt(param, value)
        for param, value in (
            (_M_ARENA_MAX, 1),
            (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
        )
    )


def trim() -> None:
    """Return free memory at the top of glibc's heaps to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def trim_soon() -> None:
    """:func:`trim` in the default executor, once the running command has finished."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.run_in_executor(None, trim)
