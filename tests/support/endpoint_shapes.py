"""Reply shapes MiniMax M2.x endpoints are publicly reported to send (``fixtures/endpoint_shapes``).

Each JSON file names its public source first (``source``, the issue thread or documentation
page it comes from; ``also`` for more reports), then the ``steps`` the scripted model server
plays (``Step`` fields) and what must come of them (``expect``): applied with text the file
must (``file_has``) and must not (``file_lacks``) hold, or refused with a kind and phrases of
the message. The CLI and the language server replay the same files on ``sample_basic.py``'s
``total_price``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m21_lsp.testing.scripted_server import Step, fixtures_dir

SOURCE = "sample_basic.py"
LINES = "6-13"  # total_price
FIRST_LINE = "def total_price"


@dataclass(frozen=True)
class Shape:
    name: str
    source: str
    steps: list[dict[str, Any]]
    expect: dict[str, Any]

    def scripted_steps(self) -> list[Step]:
        return [Step(**step) for step in self.steps]


def folder() -> Path:
    return fixtures_dir() / "endpoint_shapes"


def load(name: str) -> Shape:
    data = json.loads((folder() / f"{name}.json").read_text(encoding="utf-8"))
    return Shape(name, data["source"], data["steps"], data["expect"])


def names() -> list[str]:
    return sorted(p.stem for p in folder().glob("*.json"))


def check_text(shape: Shape, original: str, after: str) -> None:
    """The file after the run: changed as the shape says, or byte for byte untouched."""
    expect = shape.expect
    if not expect["applied"]:
        assert after == original, shape.name
        return
    assert after != original, shape.name
    assert expect["file_has"] in after, (shape.name, after)
    if "file_lacks" in expect:
        assert expect["file_lacks"] not in after, (shape.name, after)


def check_message(shape: Shape, message: str) -> None:
    for phrase in shape.expect.get("message", []):
        assert phrase in message, (shape.name, phrase, message)
    for phrase in shape.expect.get("message_lacks", []):
        assert phrase not in message, (shape.name, phrase, message)
