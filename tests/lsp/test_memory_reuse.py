"""Document-sized temporaries reuse heap memory instead of faulting in fresh pages.

A refactor of a 20,000-line file makes several splices and copies of a 600 KB string.
With glibc's default (moving) mmap threshold each of them was served from fresh pages:
~258 page faults per splice, a cost that grew with the file. ``memory.limit_arenas``, which
the server calls before it starts, fixes the thresholds. Each case runs in a new
interpreter, because the allocator's state is per process.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "server"
PROBE = """
import resource, sys
sys.path.insert(0, {server!r})
from m21_lsp.lsp import memory
if {tuned}:
    assert memory.limit_arenas()
text = "x = 1\\n" * 100_000  # 600 KB, a 20,000-line file's size
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for k in range(50):
    new = text[: 300_000 + k] + "y" + text[300_001 + k :]
    del new
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
"""


def faults_per_splice(*, tuned: bool) -> float:
    code = PROBE.format(server=str(SERVER), tuned=tuned)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_splices_of_a_large_document_reuse_memory_once_the_server_set_malloc_up() -> None:
    # The probe sees the cost: untuned, every splice faults in its 600 KB afresh.
    assert faults_per_splice(tuned=False) > 100
    assert faults_per_splice(tuned=True) < 30
