"""The source fixtures really have the awkward properties the other tests rely on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"


def test_crlf_fixture_keeps_crlf_bytes() -> None:
    data = (SOURCES / "crlf_module.py").read_bytes()
    assert data.count(b"\r\n") > 10
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_no_trailing_newline_fixture() -> None:
    assert not (SOURCES / "no_trailing_newline.py").read_bytes().endswith((b"\n", b"\r"))


def test_tabs_fixture_is_tab_indented() -> None:
    data = (SOURCES / "tabs_indented.py").read_bytes()
    assert b"\n\t\t" in data
    assert b"\n    def" not in data


def test_unicode_fixture_has_emoji_and_cjk() -> None:
    text = (SOURCES / "unicode_text.py").read_text(encoding="utf-8")
    assert any(ord(ch) > 0xFFFF for ch in text)  # astral: two UTF-16 units
    assert any(0x4E00 <= ord(ch) <= 0x9FFF for ch in text)


@pytest.mark.parametrize("path", sorted(SOURCES.glob("*.py")), ids=lambda p: p.name)
def test_every_source_fixture_is_valid_python(path: Path) -> None:
    ast.parse(path.read_bytes())
