"""One shared model client per effective settings, replaced when the settings change.

Sharing matters because the client enforces ``maxConcurrentRequests`` and keeps HTTP
connections alive; replacing matters because a new key, endpoint or timeout must apply to the
next command at once. A client that is replaced while commands still use it is closed only
when the last of them is done, so changing a setting never kills a refactor in flight.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ..config import Settings


@dataclass
class _Entry:
    settings: Settings
    client: Any
    users: int = 0
    retired: bool = False


def _default_factory(settings: Settings) -> Any:
    from ..model.client import ModelClient

    return ModelClient(settings)


class ClientPool:
    def __init__(self, factory: Callable[[Settings], Any] | None = None) -> None:
        self._factory = factory or _default_factory
        self._current: _Entry | None = None

    @contextlib.asynccontextmanager
    async def use(self, settings: Settings) -> AsyncIterator[Any]:
        entry = self._current
        if entry is None or entry.settings != settings:
            if entry is not None:
                entry.retired = True
                if entry.users == 0:
                    await _close(entry.client)
            entry = _Entry(settings, self._factory(settings))
            self._current = entry
        entry.users += 1
        try:
            yield entry.client
        finally:
            entry.users -= 1
            if entry.retired and entry.users == 0:
                await _close(entry.client)

    async def aclose(self) -> None:
        entry, self._current = self._current, None
        if entry is not None:
            entry.retired = True
            if entry.users == 0:
                await _close(entry.client)


async def _close(client: Any) -> None:
    with contextlib.suppress(Exception):
        await client.aclose()
