"""The real m21-lsp server plus one read-only command, ``m21.debug.state``.

The soak test must prove that no asyncio task, cancel hook or model client is left behind
after hundreds of faulty requests, which only the server process itself can see. This
starts exactly the server ``python -m m21_lsp.lsp`` starts (``create_server``) and adds the
command; nothing else differs. Run as ``python -m debug_server`` with this folder on
PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from m21_lsp.lsp import server


def _rss_kb() -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) if match else 0


def main() -> None:
    server.configure_logging()
    ls = server.create_server()

    @ls.command("m21.debug.state")
    async def state(ls: Any, *args: Any) -> dict[str, Any]:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        names = sorted(getattr(t.get_coro(), "__qualname__", repr(t.get_coro())) for t in tasks)
        pool = ls.clients._current
        return {
            "tasks": len(tasks),
            "taskNames": names,
            "cancelHooks": len(ls.protocol.cancel_hooks),
            "running": len(ls.running),
            "clientUsers": pool.users if pool is not None else 0,
            "rssKb": _rss_kb(),
        }

    ls.start_io()


if __name__ == "__main__":
    main()
