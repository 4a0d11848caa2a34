"""``m21-lsp --version`` reports the installed distribution, not a constant in the source.

A user with two installs (pipx, the editor's private venv, a checkout) needs to see which one
answers; the wheel's metadata is what pip, pipx and uv installed, so that is what is printed.
"""

from __future__ import annotations

from importlib import metadata

import m21_lsp
import pytest
from m21_lsp import cli


def test_version_comes_from_the_installed_metadata(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    def fake_version(name: str) -> str:
        seen.append(name)
        return "9.8.7"

    monkeypatch.setattr(metadata, "version", fake_version)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == "m21-lsp 9.8.7"
    assert seen == ["m21-lsp"]


def test_version_without_metadata_is_the_source_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout on PYTHONPATH with nothing installed still answers."""

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert m21_lsp.version() == m21_lsp.__version__
