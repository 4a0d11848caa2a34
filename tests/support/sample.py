"""The one sample module and the files that derive from it.

``server/m21_lsp/demo_data/sample.py`` is the sample: it ships in the wheel because
``m21-lsp demo`` refactors it, so it is the one copy every other use starts from. The editor
tests write it into their project folder (``tests/editors/m21_editor_case.py``). The
scripted replies in ``fixtures/replies/`` were written against
``fixtures/sources/sample_basic.py``, which is the sample plus ``format_tag`` (for the replies
that refactor that function); ``test_sample.py`` keeps the two from drifting apart.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE_PATH = REPO / "server" / "m21_lsp" / "demo_data" / "sample.py"
FIXTURE_PATH = REPO / "fixtures" / "sources" / "sample_basic.py"

# What sample_basic.py adds to the sample, between total_price and load_items.
FIXTURE_EXTRA = """

def format_tag(name):
    return "<" + name + ">"
"""


def sample_text() -> str:
    """The sample module's text."""
    return SAMPLE_PATH.read_text(encoding="utf-8")


def body(text: str) -> str:
    """``text`` without its first line (each copy's docstring says what it is for)."""
    return text.split("\n", 1)[1]
