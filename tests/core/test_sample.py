"""The demo sample and the basic fixture are one module (see ``tests/support/sample.py``)."""

from __future__ import annotations

from support.sample import FIXTURE_EXTRA, FIXTURE_PATH, body, sample_text


def test_basic_fixture_is_the_demo_sample_plus_format_tag() -> None:
    fixture = FIXTURE_PATH.read_text(encoding="utf-8")
    assert FIXTURE_EXTRA in fixture, "sample_basic.py lost format_tag"
    assert body(fixture.replace(FIXTURE_EXTRA, "", 1)) == body(sample_text()), (
        "fixtures/sources/sample_basic.py drifted from server/m21_lsp/demo_data/sample.py"
    )
