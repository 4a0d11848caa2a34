"""Explanations kept for hover, keyed by the code they explain and the model that wrote them.

Keying by content (not by position) is what makes an explanation survive edits elsewhere in
the file and disappear when the explained code itself changes: a hover looks for the
explained snippets in the document as it is now, and only a snippet that is still there,
character for character, and covers the hover position, answers.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass


def _normal(code: str) -> str:
    """Ignore surrounding blank space: a selection with or without its newline is one code."""
    return code.strip()


def cache_key(code: str, model: str) -> str:
    digest = hashlib.sha256()
    digest.update(model.encode())
    digest.update(b"\0")
    digest.update(_normal(code).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    markdown: str


class HoverCache:
    """A bounded LRU of explanations, plus which snippets were explained in which document."""

    def __init__(self, max_entries: int = 256) -> None:
        self._max = max_entries
        self._by_key: OrderedDict[str, str] = OrderedDict()
        # uri -> snippet text -> None (an ordered set, newest last)
        self._snippets: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, code: str, model: str) -> str | None:
        key = cache_key(code, model)
        markdown = self._by_key.get(key)
        if markdown is not None:
            self._by_key.move_to_end(key)
        return markdown

    def put(self, uri: str, code: str, model: str, markdown: str) -> None:
        snippet = _normal(code)
        if not snippet:
            return
        key = cache_key(snippet, model)
        self._by_key[key] = markdown
        self._by_key.move_to_end(key)
        while len(self._by_key) > self._max:
            self._by_key.popitem(last=False)
        snippets = self._snippets.setdefault(uri, OrderedDict())
        snippets[snippet] = None
        snippets.move_to_end(snippet)
        while len(snippets) > self._max:
            snippets.popitem(last=False)

    def find(self, uri: str, text: str, offset: int, model: str) -> Found | None:
        """The smallest explained snippet, still present in ``text``, that covers ``offset``."""
        best: Found | None = None
        snippets = self._snippets.get(uri)
        if not snippets:
            return None
        for snippet in list(snippets):
            markdown = self._by_key.get(cache_key(snippet, model))
            if markdown is None:
                continue
            # Only occurrences that can cover the offset: start in [offset-len, offset].
            lo = max(0, offset - len(snippet))
            pos = text.find(snippet, lo, offset + len(snippet))
            while pos != -1 and pos <= offset:
                end = pos + len(snippet)
                if pos <= offset <= end and (best is None or end - pos < best.end - best.start):
                    best = Found(pos, end, markdown)
                pos = text.find(snippet, pos + 1, offset + len(snippet))
        return best

    def forget_document(self, uri: str) -> None:
        self._snippets.pop(uri, None)
