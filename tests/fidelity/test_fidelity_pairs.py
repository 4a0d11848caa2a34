"""Replacement-pair replies on real code (tests/fidelity/corpus_pairs.py), a seeded draw.

The bar is the issue's, for both reply forms: no edit differs from what the reply meant;
every unambiguous pair reply (XML, structured, mangled whitespace, decoy in the reasoning)
gives exactly the expected file, tabs and CRLF files included; a pair that matches twice or
quotes code outside the selection is refused with that reason and nothing is changed.
"""

from __future__ import annotations

import collections

import corpus_pairs
import pytest

SEED = 3
COUNT = 36


@pytest.fixture(scope="module")
def outcomes() -> list[tuple[corpus_pairs.PairCase, object]]:
    cases = corpus_pairs.generate_pairs(SEED, COUNT)
    assert len(cases) >= COUNT * 0.9, "the machine has too little real code to draw from"
    return [(case, corpus_pairs.run_pair_case(case)) for case in cases]


def test_no_pair_edit_differs_from_what_the_reply_meant(outcomes) -> None:
    wrong = [f"{c.id}: {o.message}" for c, o in outcomes if o.verdict in ("different", "crash")]
    assert not wrong, "\n".join(wrong)


def test_unambiguous_pairs_are_exact_and_the_others_refused_with_their_reason(outcomes) -> None:
    clear = [(c, o) for c, o in outcomes if not c.refusal]
    exact = sum(o.verdict == "exact" for _, o in clear)
    assert clear and exact >= 0.98 * len(clear), [(c.id, o.message) for c, o in clear]
    for case, outcome in outcomes:
        if case.refusal:
            assert outcome.verdict == "refused", case.id
            assert case.refusal in outcome.message and "Nothing was changed" in outcome.message


def test_the_draw_covers_every_presentation_and_file_variant(outcomes) -> None:
    seen = collections.Counter(c.presentation for c, _ in outcomes)
    assert set(seen) >= {"xml", "structured", "mangled", "think", "outside"}, seen
    assert {c.variant for c, _ in outcomes} >= {"original", "tabs", "crlf"}


def test_derived_pairs_are_unique_in_what_the_prompt_showed() -> None:
    old = "a = 1\nb = 2\na = 1\nc = 3\n"
    new = "a = 1\nb = 2\na = 1\nc = 4\n"
    assert corpus_pairs.derive_pairs(old, new) == [("c = 3", "c = 4")]
    # "a = 1" alone is ambiguous: the pair grows until it is unique.
    changed = corpus_pairs.derive_pairs(old, "a = 1\nb = 2\na = 0\nc = 3\n")
    assert changed == [("b = 2\na = 1", "b = 2\na = 0")]
