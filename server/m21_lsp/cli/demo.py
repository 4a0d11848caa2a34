"""``m21-lsp demo``: the whole product offline, against the bundled scripted server."""

from __future__ import annotations

import argparse
from typing import TextIO

from .. import config
from ..pipeline import run as pipeline
from ..pipeline.types import RefactorRequest
from .diffs import unified_diff
from .exits import EXIT_OK
from .progress import TerminalProgress


async def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The whole pipeline on a bundled sample with a recorded reply, offline, no key."""
    from importlib import resources

    from ..model.client import ModelClient
    from ..testing.scripted_server import ScriptedModelServer, Step

    data = resources.files("m21_lsp") / "demo_data"
    sample = (data / "sample.py").read_text(encoding="utf-8")
    reply = (data / "reply.md").read_text(encoding="utf-8")
    marker = "def total_price"
    start = sample.index(marker)
    end = sample.index("\n\n\n", start) + 1
    print(
        "m21-lsp demo: refactoring a bundled sample through the real client, pipeline and\n"
        "validation, against a scripted model server on 127.0.0.1 that replays a RECORDED\n"
        "M2.1-style reply (no key, no network). The diff below is what the CLI prints.\n",
        file=out,
    )
    with ScriptedModelServer() as server:
        server.default = Step(content=reply)
        settings, _ = config.apply_overrides(
            config.Settings(),
            {"apiKey": "demo-not-a-real-key", "baseUrl": server.base_url},
            source="demo",
        )
        req = RefactorRequest(
            text=sample,
            start=start,
            end=end,
            instruction="Make it clearer and more idiomatic.",
            path="sample.py",
        )
        progress = TerminalProgress(err, "Refactor with m2-1 (recorded)")
        try:
            async with ModelClient(settings) as client:
                result = await pipeline.refactor(req, settings, client, progress)
        finally:
            progress.clear()
    out.write(unified_diff(sample, result.new_text, "sample.py"))
    for warning in result.warnings:
        print(f"warning: {warning}", file=out)
    print(
        f"\nThe reply was recorded, not live. {len(result.edits)} edit(s), syntax-checked with "
        f"libcst. With a key set (M21_API_KEY), try:\n"
        f"  m21-lsp refactor yourfile.py --lines 10-30 --instruction 'simplify'",
        file=out,
    )
    return EXIT_OK
