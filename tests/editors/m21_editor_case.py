"""The one refactor/explain case every editor test plays, with its expected results.

The expected file is computed here by plain string replacement of literal text, never by the
code under test, so a wrong edit from the server cannot also produce the expectation.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from support.sample import sample_text

_SECURITY = str(Path(__file__).resolve().parents[1] / "security")
if _SECURITY not in sys.path:  # the security tests' key-fragment search, one copy
    sys.path.insert(0, _SECURITY)
from security_helpers import leaks  # noqa: E402

# The one sample module (tests/support/sample.py): the file `m21-lsp demo` ships and refactors.
SOURCE = sample_text()

OLD_FUNCTION = """\
def total_price(items, tax_rate):
    total = 0
    for i in range(len(items)):
        item = items[i]
        if item["qty"] > 0:
            total = total + item["price"] * item["qty"]
    total = total + total * tax_rate
    return round(total, 2)
"""

NEW_FUNCTION = """\
def total_price(items, tax_rate):
    \"\"\"Sum price * qty over items with a positive quantity, then add tax.\"\"\"
    subtotal = sum(item["price"] * item["qty"] for item in items if item["qty"] > 0)
    return round(subtotal * (1 + tax_rate), 2)
"""

REASONING = "SECRET-REASONING: the user wants a generator expression; keep the rounding."

REFACTOR_REPLY = (
    f"<think>\n{REASONING}\n</think>\n\n"
    "Here is a clearer version with the same behaviour:\n\n"
    f"```python\n{NEW_FUNCTION}```\n\n"
    "The index loop became a generator expression.\n"
)

EXPLANATION_SENTENCE = "adds the tax rate once and rounds to cents"
EXPLANATION = (
    "## What `total_price` does\n\n"
    "It sums `price * qty` over the items whose quantity is positive, then "
    f"{EXPLANATION_SENTENCE}.\n"
)
EXPLAIN_REPLY = f"<think>\n{REASONING}\n</think>\n\n{EXPLANATION}"

OLD_LOADER = """\
def load_items(path):
    with open(path) as fh:
        return json.load(fh)
"""

NEW_LOADER = """\
def load_items(path):
    \"\"\"Read the list of items from a UTF-8 JSON file.\"\"\"
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
"""

INSTRUCTION = "read the file as UTF-8"

LOADER_REPLY = f"<think>\n{REASONING}\n</think>\n\n```python\n{NEW_LOADER}```\n"

LOADER_SENTENCE = "opens the file as UTF-8 and parses it as JSON"
LOADER_EXPLAIN_REPLY = f"<think>\n{REASONING}\n</think>\n\n`load_items` {LOADER_SENTENCE}.\n"

USER_LINE = "# typed while the model was thinking\n"


# The live view (docs/preview.md): words of the explanation written before the model is held.
EXPLAIN_PARTIAL = "whose quantity is positive"
# A line of the new code the refactor's live view shows before the model is held, and one it
# cannot show yet.
LIVE_MARKER = NEW_FUNCTION.splitlines()[1].strip()
LIVE_NOT_YET = "return round(subtotal"


def stall_after(content: str, needle: str, chunk_chars: int) -> int:
    """``Step.stall_after_chunks`` for a stream that sends ``content`` up to the end of
    ``needle`` (and at most one chunk more), then stalls until released: frame 0 is the role,
    then one frame per ``chunk_chars`` characters of content."""
    end = content.index(needle) + len(needle)
    return -(-end // chunk_chars) + 1


def expected_after_refactor(text: str) -> str:
    assert text.count(OLD_FUNCTION) == 1, "fixture must hold the old function exactly once"
    return text.replace(OLD_FUNCTION, NEW_FUNCTION)


def line_span(text: str, snippet: str) -> tuple[int, int]:
    """1-based first and last line of ``snippet`` (which ends with a newline) in ``text``."""
    start = text.index(snippet)
    first = text.count("\n", 0, start) + 1
    return first, first + snippet.count("\n") - 1


def editors_required() -> bool:
    """CI sets ``M21_REQUIRE_EDITORS=1``: a missing editor then fails instead of skipping."""
    return os.environ.get("M21_REQUIRE_EDITORS", "") not in ("", "0", "false", "no")


def write_project(tmp_path: Path, *, pyproject: bool = False) -> Path:
    """``tmp_path/project/shop.py`` holding the sample (and a ``pyproject.toml`` marking the
    root, for editors that look for one); returns the file."""
    project = tmp_path / "project"
    project.mkdir()
    if pyproject:
        (project / "pyproject.toml").write_text('[project]\nname = "shop"\n', encoding="utf-8")
    target = project / "shop.py"
    target.write_text(SOURCE, encoding="utf-8")
    return target


def assert_no_key(key: str, *texts: str) -> None:
    """The key-leak search: neither ``key`` nor any fragment of it (``leaks``: a key cut
    short, or split across two lines, must not pass) is in the editor's outputs, logs or
    files read."""
    found = sorted({piece for t in texts for piece in leaks(t, key)}, key=len, reverse=True)
    assert not found, f"the API key (or part of it: {found[:3]}) appeared in editor output"
