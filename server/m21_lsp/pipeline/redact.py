"""Secrets stay on the machine: placeholders out, values back, and refusals in between.

Every request the pipeline makes goes through one :class:`RedactingClient` (``run.py`` wraps
the model client with :func:`guard`), so refactor, fix, explain, user actions and repair
turns are covered by construction rather than by each caller remembering to redact.

Out: every string of every message (selection, context, imports, diagnostics, instruction,
an earlier reply sent back in a repair turn, the parser's message) is scanned
(:mod:`.detect`), and each found value becomes ``M21_SECRET_<n>_REDACTED``: letters, digits
and underscores only, so it is valid inside a string literal of every language we check and
in YAML/TOML/JSON values; shouting and "REDACTED" so that nobody, model included, reads it
as code to improve. Its stem is chosen so that it occurs nowhere in the prompt. A value
found once is replaced everywhere it occurs, in every later turn too.

Back: placeholders in the reply (``Completion.text`` and ``.raw``) are restored before any
check runs, so an edit keeps each secret byte for byte where the model kept its placeholder.
A refactor reply with a placeholder the model altered is refused (:class:`SecretChanged`);
after the pipeline has its candidate, :meth:`RedactingClient.check_edit` refuses one that
writes a secret more often than the file had it (copied into a new place) or that drops a
secret from a line it otherwise kept (``KEY = "M21_…"`` became ``KEY = ""``). An explanation
is only restored: prose cannot write anything into a file.

Found values are registered with :func:`m21_lsp.errors.register_secret`, so the scrubbing
that keeps the API key out of logs and messages keeps them out too.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from ..config import Settings
from ..errors import SecretChanged, register_secret
from ..model.types import Completion, Progress, ProgressCallback
from . import detect

Message = dict[str, str]

STEM = "M21_SECRET"
SUFFIX = "_REDACTED"
NOTE = (
    "\n\nSome values in this code are secrets and were replaced by placeholders such as "
    "{example}. Keep every placeholder exactly as written, in the same place, wherever "
    "you keep the code around it; never change, split, invent or copy one elsewhere."
)
# How much of a secret's line, on each side, says "this is where the secret was" when the
# reply keeps that line but not the secret.
_LEFT = 12
_RIGHT = 3


# A placeholder-like word however the model spelled it ("secret_1_redacted", "SECRET-1"…).
_LOOSE = re.compile(r"(?i)secret[_-]?\d+[_-]?redacted")
# A value shorter than this is replaced only where it stands as a word of its own: a short
# password "hunter2" must not turn "hunter2_test" into a placeholder. Longer values are
# replaced wherever they occur.
_WHOLE_WORD_BELOW = 12


def _occurrence(value: str) -> str:
    if len(value) >= _WHOLE_WORD_BELOW:
        return re.escape(value)
    return r"(?<![A-Za-z0-9_])" + re.escape(value) + r"(?![A-Za-z0-9_])"


def kept_out_text(count: int) -> str:
    """'2 secrets kept out of the prompt' (what the user reads in progress and results)."""
    noun = "secret" if count == 1 else "secrets"
    return f"{count} {noun} kept out of the prompt"


class Redactor:
    """The placeholders of one request (all its turns): value ↔ placeholder, both ways."""

    def __init__(self, filename: str | None = None) -> None:
        self.filename = filename or "prompt.txt"
        self.stem: str | None = None
        self._placeholder: dict[str, str] = {}  # value -> placeholder
        self._value: dict[str, str] = {}  # placeholder -> value
        self._scanned: set[str] = set()
        self._values_re: re.Pattern[str] | None = None
        self._preexisting: set[str] = set()

    @property
    def count(self) -> int:
        """How many distinct values were kept out of the prompt so far."""
        return len(self._placeholder)

    def _choose_stem(self, texts: Sequence[str]) -> str:
        """``M21_SECRET``, or that with a suffix, such that no prompt text holds it (in any
        case); placeholder-like words already in the prompt are remembered as not ours."""
        low = [t.lower() for t in texts]
        for text in texts:
            self._preexisting.update(m.group(0).lower() for m in _LOOSE.finditer(text))
        n = 0
        while True:
            stem = STEM if n == 0 else f"{STEM}{n}X"
            if not any(stem.lower() in t for t in low):
                return stem
            n += 1

    def redact(self, messages: Sequence[Message]) -> list[Message]:
        """The messages with every secret value replaced by its placeholder."""
        texts = [m.get("content", "") for m in messages]
        if self.stem is None:
            self.stem = self._choose_stem(texts)
        for text in texts:
            if text in self._scanned:
                continue
            self._scanned.add(text)
            for finding in detect.scan(text, self.filename):
                self._add(finding.value)
        out = [dict(m, content=self.hide(m.get("content", ""))) for m in messages]
        if self.count and out and out[0].get("role") == "system":
            example = next(iter(self._value))
            out[0]["content"] += NOTE.format(example=example)
        return out

    def _add(self, value: str) -> None:
        if value in self._placeholder:
            return
        register_secret(value)
        placeholder = f"{self.stem}_{len(self._placeholder) + 1}{SUFFIX}"
        self._placeholder[value] = placeholder
        self._value[placeholder] = value
        ordered = sorted(self._placeholder, key=len, reverse=True)
        self._values_re = re.compile("|".join(map(_occurrence, ordered)))

    def hide(self, text: str) -> str:
        """``text`` with every known value replaced by its placeholder."""
        if self._values_re is None:
            return text
        out = self._values_re.sub(lambda m: self._placeholder[m.group(0)], text)
        # Two values that overlap in the text: the regex took one; replace what is left.
        for value, placeholder in self._placeholder.items():
            if len(value) >= _WHOLE_WORD_BELOW and value in out:
                out = out.replace(value, placeholder)
        return out

    def _pattern(self) -> re.Pattern[str]:
        assert self.stem is not None
        return re.compile(re.escape(self.stem) + r"_(\d+)" + re.escape(SUFFIX))

    def restore(self, text: str, *, strict: bool) -> str:
        """``text`` with each placeholder back to its value.

        ``strict`` (replies whose code may be written into a file): a placeholder that is
        not one of ours, in any spelling, raises :class:`SecretChanged`.
        """
        if not self._value or self.stem is None:
            return text
        unknown: list[str] = []

        def put_back(match: re.Match[str]) -> str:
            value = self._value.get(match.group(0))
            if value is None:
                unknown.append(match.group(0))
                return match.group(0)
            return value

        restored = self._pattern().sub(put_back, text)
        if strict:
            left = restored
            for value in self._placeholder:
                left = left.replace(value, "")
            stray = re.search(re.escape(self.stem), left, re.IGNORECASE) or any(
                m.group(0).lower() not in self._preexisting for m in _LOOSE.finditer(left)
            )
            if unknown or stray:
                raise SecretChanged(
                    "The model's reply changed a placeholder that stands for a secret kept out "
                    "of the prompt, so it was not applied: writing it would put a wrong value "
                    "into your file. Nothing was changed. Try again."
                )
        return restored

    def restore_json(self, arguments: str, strict: bool) -> str:
        """A structured tool call's JSON arguments with placeholders restored inside its
        strings (a value may hold quotes or backslashes that the JSON text must escape)."""
        if not self._value:
            return arguments
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return self.restore(arguments, strict=strict)

        def walk(node: object) -> object:
            if isinstance(node, str):
                return self.restore(node, strict=strict)
            if isinstance(node, list):
                return [walk(item) for item in node]
            if isinstance(node, dict):
                return {key: walk(item) for key, item in node.items()}
            return node

        return json.dumps(walk(parsed), ensure_ascii=False)

    def check_edit(self, old_text: str, new_text: str, selection: str, replacement: str) -> None:
        """Refuse an edit that writes a secret where there was none or drops one from code
        the reply otherwise kept (see the module's docstring)."""
        for value, placeholder in self._placeholder.items():
            if new_text.count(value) > old_text.count(value):
                raise SecretChanged(
                    f"The model's code copies a secret (sent as {placeholder}) into a place "
                    "where there was none, so it was not applied. Nothing was changed. Try "
                    "again, or give a more specific instruction."
                )
            if replacement.count(value) < selection.count(value) and _dropped(
                value, selection, replacement
            ):
                raise SecretChanged(
                    f"The model's code drops a secret (sent as {placeholder}) from a line it "
                    "otherwise kept, so it was not applied: the file would lose the value. "
                    "Nothing was changed. Try again."
                )


def _dropped(value: str, selection: str, replacement: str) -> bool:
    """Whether a line that held ``value`` in the selection is still in the replacement, the
    same on both sides of where the value was, with something else in its place."""
    lines = replacement.splitlines()
    start = selection.find(value)
    while start >= 0:
        line_start = selection.rfind("\n", 0, start) + 1
        line_end = selection.find("\n", start)
        line_end = len(selection) if line_end < 0 else line_end
        left = selection[max(line_start, start - _LEFT) : start].lstrip()
        right = selection[start + len(value) : min(line_end, start + len(value) + _RIGHT)]
        right = right.rstrip("\r")
        if len(left.strip()) + len(right.strip()) >= 3:
            shape = re.compile(re.escape(left) + "(.*?)" + re.escape(right))
            for line in lines:
                for match in shape.finditer(line):
                    if match.group(1) != value and value not in line:
                        return True
        start = selection.find(value, start + len(value))
    return False


class _Model(Protocol):
    """The model client being wrapped (``run.CompletionClient``, restated here so that this
    module does not import ``run``)."""

    async def complete(
        self, messages: list[Message], *, on_progress: ProgressCallback | None = None
    ) -> Completion: ...


class RedactingClient:
    """A model client whose requests carry placeholders and whose replies carry values.

    ``strict`` for refactors (a changed placeholder is refused), not for explanations.
    With ``redactSecrets`` off it passes everything through untouched.
    """

    def __init__(
        self, client: _Model, settings: Settings, *, path: str | None, strict: bool
    ) -> None:
        self._client = client
        self.enabled = settings.redact_secrets
        self.strict = strict
        self.redactor = Redactor(path)

    @property
    def kept_out(self) -> int:
        return self.redactor.count

    async def complete(
        self, messages: list[Message], *, on_progress: ProgressCallback | None = None
    ) -> Completion:
        if not self.enabled:
            return await self._client.complete(messages, on_progress=on_progress)
        before = self.redactor.count
        # Off the event loop: the first scan imports detect-secrets.
        sent = await asyncio.to_thread(self.redactor.redact, messages)
        if self.redactor.count and on_progress is not None and self.redactor.count != before:
            on_progress(Progress("connecting", message=kept_out_text(self.redactor.count)))
        completion = await self._client.complete(sent, on_progress=self._shown(on_progress))
        if not self.redactor.count:
            return completion
        return replace(
            completion,
            text=self.redactor.restore(completion.text, strict=self.strict),
            raw=self.redactor.restore(completion.raw, strict=False),
            reasoning=self.redactor.restore(completion.reasoning, strict=False),
            tool_calls=[
                replace(call, arguments=self.redactor.restore_json(call.arguments, self.strict))
                for call in completion.tool_calls
            ],
        )

    def _shown(self, on_progress: ProgressCallback | None) -> ProgressCallback | None:
        """Progress whose text snapshot (the live view) shows values, not placeholders:
        it stays on the machine, like the hover."""
        if on_progress is None or not self.redactor.count:
            return on_progress
        callback = on_progress

        def shown(progress: Progress) -> None:
            if progress.text:
                progress = replace(
                    progress, text=self.redactor.restore(progress.text, strict=False)
                )
            callback(progress)

        return shown

    def check_edit(self, old_text: str, new_text: str, selection: str, replacement: str) -> None:
        if self.enabled and self.redactor.count:
            self.redactor.check_edit(old_text, new_text, selection, replacement)


def guard(client: _Model, settings: Settings, *, path: str | None, strict: bool) -> RedactingClient:
    """The one wrapping point: ``run.refactor`` and ``run.explain`` call the model only
    through this."""
    return RedactingClient(client, settings, path=path, strict=strict)
