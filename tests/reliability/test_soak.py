"""The soak test, reduced for CI: the same code as ``bench/soak.py`` with fewer commands.

See ``soak_run.py`` for what it does and asserts. It prints its figures (run pytest with
``-s`` to see them, or ``python bench/soak.py`` for the full-size run). ``M21_SOAK_COMMANDS``
sets the size of the main run.
"""

from __future__ import annotations

import os

import pytest
from m21_lsp.testing.scripted_server import ScriptedModelServer
from soak_run import SoakConfig, run_soak

pytestmark = pytest.mark.soak


@pytest.mark.parametrize(
    ("encoding", "commands"),
    [("utf-16", int(os.environ.get("M21_SOAK_COMMANDS", "60"))), ("utf-8", 24)],
)
async def test_soak_faults_under_load(
    model_server: ScriptedModelServer, sentinel_key: str, encoding: str, commands: int
) -> None:
    config = SoakConfig(commands=commands, concurrency=8, position_encoding=encoding)
    report = await run_soak(config, model_server, sentinel_key)
    assert report.problems == [], report.figures()
    assert sum(report.commands_sent.values()) == config.commands
    # The run must really have exercised faults, typing, cancels and both kinds of success.
    assert report.outcomes["applied"] > 0 and report.outcomes["explained"] > 0
    assert len(report.faults) >= 8, report.faults
    assert report.user_edits and report.cancels_sent


@pytest.mark.parametrize(
    ("sabotage", "caught"),
    [
        ("overwrite", "it overwrote that change"),
        ("refuse", "got a clean reply on a function untouched meanwhile but ended 'stale'"),
        ("on-its-way", "says its edit changed on its way to the editor, but"),
        ("kept-changing", "says the document kept changing, but"),
        ("leak-memory", "server memory grew past the bound"),
        ("leak-task", "asyncio tasks left"),
    ],
)
async def test_the_soak_fails_a_server_that_breaks_one_of_its_rules(
    model_server: ScriptedModelServer, sentinel_key: str, sabotage: str, caught: str
) -> None:
    """A soak that passes any server proves nothing: one that lands an edit over the
    user's typing, refuses edits it could have made, refuses with an honest refusal's
    words what it never tried to send, keeps memory or tasks from every command, must
    fail it, and for that reason (``debug_server.py`` says how each one is broken).

    Whether the user types into a function while its command runs depends on timing,
    so a loaded machine can let one seeded run pass without giving the sabotage a
    chance: up to three seeds are run, and the soak must catch it in one of them.
    """
    figures = []
    for seed in (2126, 7, 31):
        config = SoakConfig(commands=40, concurrency=8, sabotage=sabotage, seed=seed)
        report = await run_soak(config, model_server, sentinel_key, log=lambda _text: None)
        if any(caught in problem for problem in report.problems):
            return
        figures.append(report.figures())
    pytest.fail("the soak did not catch the sabotage in three runs:\n" + "\n".join(figures))
