"""``m21-lsp explain``: the model's explanation of a selection, as markdown or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from ..pipeline import run as pipeline
from ..pipeline.types import RefactorRequest
from .exits import EXIT_OK
from .files import read_text
from .languages import language_of
from .progress import summary
from .ranges import selection
from .session import settings_for_run, with_model


async def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    path = Path(args.path)
    text = read_text(path)
    start, end = selection(args, text)
    settings = settings_for_run()
    req = RefactorRequest(
        text=text, start=start, end=end, language_id=language_of(path), path=str(path)
    )
    result, progress = await with_model(
        settings, err, "Explain", lambda client, p: pipeline.explain(req, settings, client, p)
    )
    progress.line(summary(result.seconds, result.usage))
    if args.json:
        report = {
            "markdown": result.markdown,
            "usage": result.usage.as_dict(),
            "secretsKeptOut": result.secrets_kept_out,
        }
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        out.write(result.markdown.rstrip("\n") + "\n")
    return EXIT_OK
