"""The one shape every ``m21.refactor`` / ``m21.fix`` / ``m21.explain`` result has.

Editors read these keys and no others (``editors/vscode/src/results.ts``,
``editors/neovim/lua/m21/init.lua``), and ``tests/lsp/test_result_shape.py`` checks that the
results of a real stdio run carry exactly these keys, so a rename here breaks a test rather
than silently blanking a status bar.

Every result is a :class:`CommandResult`; three kinds add keys of their own, and each kind
has exactly the keys of its shape in :data:`SHAPES` (no optional keys, so "exactly" is
checkable):

* ``applied`` — :class:`AppliedResult` (``version``, ``edits``, ``syntaxChecked``,
  ``modelCalls``, ``pipelineSeconds``);
* ``explained`` — :class:`ExplainedResult` (``markdown``);
* ``unsupported`` — :class:`UnsupportedResult` (``edit``: the ``WorkspaceEdit`` the client
  could not take from the server);
* ``created`` / ``wouldCreate`` — a user action with a target (``targetUri``,
  ``targetPath``, ``bytes``, ``existed``; ``wouldCreate`` adds ``text``).

``kind`` is ``"applied"``, ``"explained"``, ``"cancelled"``, ``"declined"``,
``"unchanged"``, ``"unsupported"``, ``"created"``, ``"wouldCreate"``, ``"started"`` or an
error kind from :mod:`m21_lsp.errors` (``"auth"``, ``"timeout"``…, ``"internal"`` for a
crash); ``reason`` repeats the kind for failures and is None otherwise. ``"started"`` is
the answer a client that would give up waiting gets at once (:mod:`.detach`): the work goes
on in the background and its outcome is a message. ``seconds`` is the command's wall time; ``usage`` is None
when no model call finished.
"""

from __future__ import annotations

from typing import Any, TypedDict


class UsageResult(TypedDict):
    """Token counts as the endpoint reported them: null (never 0) when it reported none."""

    promptTokens: int | None
    completionTokens: int | None
    reasoningTokens: int | None
    cachedTokens: int | None
    creditsUsed: float | None
    reported: bool


class CommandResult(TypedDict):
    applied: bool
    cancelled: bool
    kind: str
    reason: str | None
    message: str
    seconds: float
    usage: UsageResult | None
    warnings: list[str]


class AppliedResult(CommandResult):
    version: int | None
    edits: int
    syntaxChecked: bool
    modelCalls: int
    pipelineSeconds: float


class ExplainedResult(CommandResult):
    markdown: str


class UnsupportedResult(CommandResult):
    edit: dict[str, Any]


class CreatedResult(CommandResult):
    """A user action with a target wrote its file (docs/actions.md)."""

    targetUri: str
    targetPath: str
    bytes: int
    existed: bool


class WouldCreateResult(CreatedResult):
    """The client cannot create files: nothing applied; ``text`` is what would be written."""

    text: str


SHAPES: dict[str, type[CommandResult]] = {
    "created": CreatedResult,
    "wouldCreate": WouldCreateResult,
    "applied": AppliedResult,
    "explained": ExplainedResult,
    "unsupported": UnsupportedResult,
}


def shape_for(kind: str) -> type[CommandResult]:
    """The TypedDict a result of this ``kind`` has (every other kind: the base shape)."""
    return SHAPES.get(kind, CommandResult)
