"""The reduced fidelity corpus: real standard-library and site-packages code, seeded.

``bench/fidelity.py`` runs the same generator at full size (500+ cases) and prints the
figures; CI runs this smaller draw on every commit. The bar is the issue's: no edit that
differs from what the reply meant, at least 98 % exact, the rest refused with a message.
"""

from __future__ import annotations

import collections

import corpus
import pytest

SEED = 8
COUNT = 160


@pytest.fixture(scope="module")
def outcomes() -> list[corpus.Outcome]:
    cases = corpus.generate(SEED, COUNT)
    assert len(cases) >= COUNT * 0.9, "the machine has too little real code to draw from"
    return [corpus.run_case(case) for case in cases]


def test_no_edit_differs_from_what_the_reply_meant(outcomes: list[corpus.Outcome]) -> None:
    wrong = [f"{o.case.id}: {o.message}" for o in outcomes if o.verdict in ("different", "crash")]
    assert not wrong, "\n".join(wrong)


def test_at_least_98_percent_exact_and_every_refusal_says_why(
    outcomes: list[corpus.Outcome],
) -> None:
    counts = collections.Counter(o.verdict for o in outcomes)
    print(f"\nfidelity corpus (seed {SEED}): {dict(counts)} of {len(outcomes)}")
    assert counts["exact"] >= 0.98 * len(outcomes), counts
    for o in outcomes:
        if o.verdict == "refused":
            assert "Nothing was changed" in o.message or "nothing was changed" in o.message


def test_the_draw_covers_every_kind_presentation_and_family(
    outcomes: list[corpus.Outcome],
) -> None:
    """A corpus that silently stopped producing a kind of case would prove nothing."""
    kinds = {o.case.kind for o in outcomes}
    presentations = {o.case.presentation for o in outcomes}
    families = {o.case.family for o in outcomes}
    assert {"method", "dunder", "statements", "midline", "class"} <= kinds
    assert {"dedented", "wrapped", "wholefile", "original", "fences"} <= presentations
    assert "repeat" in families and len(families) >= 3
    assert {o.case.variant for o in outcomes} >= {"original", "crlf"}


def test_repeat_replies_are_reported_unchanged(outcomes: list[corpus.Outcome]) -> None:
    """The invariant behind half the corpus, checked on the pipeline's own result."""
    repeats = [o for o in outcomes if o.case.family == "repeat"]
    assert repeats
    assert all(o.verdict == "exact" for o in repeats), [
        o.case.id for o in repeats if o.verdict != "exact"
    ]
