"""The soak run as Neovim without the plugin: its own applyEdit handler (stale versioned edits
skipped but answered "applied"), its changedtick versions, and the user typing while an edit is
on its way. ``bench/soak.py --client neovim`` is the same at full size."""

from __future__ import annotations

import os

import pytest
from m21_lsp.testing.scripted_server import ScriptedModelServer
from soak_run import SoakConfig, run_soak

pytestmark = pytest.mark.soak


async def test_soak_as_neovim_never_misplaces_an_edit(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    commands = int(os.environ.get("M21_SOAK_NEOVIM_COMMANDS", "40"))
    config = SoakConfig(commands=commands, concurrency=8, client="neovim")
    report = await run_soak(config, model_server, sentinel_key)
    assert report.problems == [], report.figures()
    assert report.misplaced_edits == 0 and report.hangs == 0
    # The race really happened: the user typed while edits were on their way, Neovim skipped
    # them, and the server still applied others.
    assert report.user_edits["while an edit was on its way"] > 0, report.figures()
    assert report.skipped_edits > 0, report.figures()
    assert report.outcomes["applied"] > 0 and report.outcomes["stale"] > 0, report.figures()
