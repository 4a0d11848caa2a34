"""editors/helix/languages.toml: valid TOML that starts the server the way docs/editors.md says.

Helix itself is not packaged for the test machines; what the server does for it (answer
commands at once, so Helix's 20 s request timeout never fires) is tested over stdio with
Helix's clientInfo in tests/lsp/test_impatient_clients.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[2]
HELIX = REPO / "editors" / "helix" / "languages.toml"
DOCS = REPO / "docs" / "editors.md"
HELIX_DEFAULT_TIMEOUT = 20  # seconds, Helix's `timeout` for a language server


def test_helix_config_starts_m21_for_python_with_the_default_timeout():
    data = tomllib.loads(HELIX.read_text(encoding="utf-8"))
    server = data["language-server"]["m21"]
    assert server["command"] == "m21-lsp" and server["args"] == ["serve", "--stdio"]
    assert server["config"]["hover"] == "cached"  # "auto" would make hover wait for the model
    assert server.get("timeout", HELIX_DEFAULT_TIMEOUT) == HELIX_DEFAULT_TIMEOUT
    (python,) = [lang for lang in data["language"] if lang["name"] == "python"]
    assert "m21" in python["language-servers"]


def test_the_timeout_is_documented_where_helix_is_configured():
    helix_section = DOCS.read_text(encoding="utf-8").split("## Helix", 1)[1].split("\n## ", 1)[0]
    for text in (helix_section, HELIX.read_text(encoding="utf-8")):
        assert "timeout" in text and "at once" in text, text
