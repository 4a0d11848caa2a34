"""Document snapshots with a cached line index, and LSP range <-> offset conversion.

Every position the server receives or sends goes through here with the negotiated
``positionEncoding``, so the pipeline only ever sees string offsets. The line index is
cached per (uri, version): a code action on a 20,000-line file must not rescan the text on
every request while the user moves the cursor. And a new version's index is not rebuilt from
its text either: ``didChange`` derives it from the previous version's index and the changed
ranges (:meth:`Documents.changed_to`), so a refactor's edit of a 20,000-line file costs the
server a splice, not a rescan.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from lsprotocol import types
from pygls.workspace import Workspace

from ..text.positions import Encoding, LineIndex, normalize_encoding


@dataclass(frozen=True)
class Snapshot:
    """One version of one document, as the server knows it."""

    uri: str
    version: int | None
    text: str
    language_id: str
    path: str | None
    index: LineIndex

    def offsets(self, rng: types.Range, encoding: Encoding) -> tuple[int, int]:
        a = self.index.offset_at(rng.start.line, rng.start.character, encoding)
        b = self.index.offset_at(rng.end.line, rng.end.character, encoding)
        return (a, b) if a <= b else (b, a)

    def offset(self, pos: types.Position, encoding: Encoding) -> int:
        return self.index.offset_at(pos.line, pos.character, encoding)

    def range(self, start: int, end: int, encoding: Encoding) -> types.Range:
        return to_range(self.index, start, end, encoding)


def to_range(index: LineIndex, start: int, end: int, encoding: Encoding) -> types.Range:
    (sl, sc), (el, ec) = index.offsets_to_range(start, end, encoding)
    return types.Range(
        start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)
    )


def language_of(uri: str, language_id: str | None) -> str:
    if language_id:
        return language_id
    return "python" if uri.endswith((".py", ".pyi")) else "plaintext"


class Documents:
    """Snapshots of open documents, built on demand from pygls's workspace."""

    def __init__(self, max_cached: int = 64) -> None:
        self._cache: OrderedDict[str, Snapshot] = OrderedDict()
        self._max = max_cached
        # The index didChange derived for a document's newest text, until a snapshot of
        # that text takes it (keyed like the workspace: unquoted URI).
        self._next_index: dict[str, LineIndex] = {}
        # One edit at a time per document: a client without versioned edits applies
        # whatever it is sent, so two edits computed on the same text would stack.
        self._edit_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._change_waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        # The text an edit the client said it applied was made for, until its didChange.
        self._landing: dict[str, Snapshot] = {}

    def edit_lock(self, uri: str) -> asyncio.Lock:
        """Held from computing an edit until the client has reported applying it."""
        return self._edit_locks[unquote(uri)]

    def expect_landing(self, snap: Snapshot) -> None:
        """The client applied an edit computed on ``snap`` and its didChange may still be
        on its way: the next edit of this document waits for it (:meth:`wait_for_landing`),
        so it is computed on the text the client really has, and the answer need not."""
        self._landing[unquote(snap.uri)] = snap

    async def wait_for_landing(self, workspace: Workspace, uri: str, timeout: float) -> None:
        """Before computing an edit: wait (at most ``timeout``) for the didChange of the
        previous edit the client applied, if it has not arrived yet."""
        snap = self._landing.pop(unquote(uri), None)
        if snap is not None:
            await self.wait_for_change(workspace, snap, timeout)

    def index_for_change(self, workspace: Workspace, uri: str, text: str) -> LineIndex:
        """The index of ``text`` (the document before a change) to apply the change with:
        the one a snapshot or the previous change already has, else a new one."""
        pending = self._next_index.get(unquote(uri))
        if pending is not None and pending.text is text:
            return pending
        snap = self.get(workspace, uri)
        if snap is not None and snap.text is text:
            return snap.index
        return LineIndex(text)

    def changed_to(self, uri: str, index: LineIndex) -> None:
        """didChange computed ``index`` for the document's new text: the next snapshot of
        that text uses it."""
        self._next_index[unquote(uri)] = index

    def changed(self, uri: str) -> None:
        """Called for every didChange: wakes whoever waits for this document to move on."""
        for waiter in self._change_waiters.pop(unquote(uri), set()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for_change(
        self,
        workspace: Workspace,
        snap: Snapshot,
        timeout: float,
        settled: Callable[[Snapshot], bool] | None = None,
    ) -> bool:
        """Wait until the document is no longer ``snap`` and ``settled(now)`` holds (the
        client's didChange for an edit it applied, not merely someone's typing elsewhere).
        False when that did not happen within ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            now = self.get(workspace, snap.uri)
            if now is None:
                return True
            if (now.version != snap.version or now.text != snap.text) and (
                settled is None or settled(now)
            ):
                return True
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            key = unquote(snap.uri)
            self._change_waiters[key].add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                return False
            finally:
                self._change_waiters[key].discard(waiter)
                if not self._change_waiters[key]:
                    del self._change_waiters[key]

    @staticmethod
    def encoding(workspace: Workspace) -> Encoding:
        return normalize_encoding(str(workspace.position_encoding or "utf-16"))

    def get(self, workspace: Workspace, uri: str) -> Snapshot | None:
        """The open document's current snapshot, or None if the client never opened it."""
        doc = workspace.text_documents.get(unquote(uri))
        if doc is None:
            return None
        text = doc.source
        cached = self._cache.get(uri)
        if cached is not None and cached.version == doc.version and cached.text is text:
            self._cache.move_to_end(uri)
            return cached
        path = doc.path if uri.startswith("file:") else uri
        pending = self._next_index.pop(unquote(uri), None)
        snap = Snapshot(
            uri=uri,
            version=doc.version,
            text=text,
            language_id=language_of(uri, doc.language_id),
            path=path,
            index=pending if pending is not None and pending.text is text else LineIndex(text),
        )
        self._cache[uri] = snap
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return snap

    def forget(self, uri: str) -> None:
        self._cache.pop(uri, None)
        self._next_index.pop(unquote(uri), None)
        self._landing.pop(unquote(uri), None)
