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
    """A corpus that silently stopped producing a kind of case would prove nothing. The draw
    covers every value by construction (corpus.generate), on any machine that ran the
    README's install: this holds it to all of them, not to a lucky few."""
    assert {o.case.kind for o in outcomes} == set(corpus.KINDS)
    assert {o.case.presentation for o in outcomes} == set(corpus.PRESENTATIONS)
    assert {o.case.family for o in outcomes} == set(corpus.FAMILIES)
    assert {o.case.variant for o in outcomes} == set(corpus.VARIANTS)
    files = {o.case.id.split(":")[0] for o in outcomes}
    assert len(files) >= 15, files  # spread over many modules, not a handful


def test_the_draw_comes_from_the_stdlib_and_the_installed_pins_only() -> None:
    """The sources are what the README's install guarantees: the standard library and the
    packages the install pins (test extra included), nothing else that happens to be there."""
    import sysconfig
    from pathlib import Path

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in corpus.source_files():
        if path.is_relative_to(stdlib) and "packages" not in path.parts[len(stdlib.parts) :][:1]:
            continue
        parts = path.parts
        where = max(i for i, p in enumerate(parts) if p in ("site-packages", "dist-packages"))
        assert parts[where + 1] in corpus.PACKAGES, path


def test_dist_packages_are_searched_too(tmp_path, monkeypatch) -> None:
    """Debian's Python installs into dist-packages; the draw used to miss it."""
    package = tmp_path / "dist-packages" / "h11"
    package.mkdir(parents=True)
    (package / "_probe.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "dist-packages"))
    assert package / "_probe.py" in corpus.source_files()


def test_repeat_replies_are_reported_unchanged(outcomes: list[corpus.Outcome]) -> None:
    """The invariant behind half the corpus, checked on the pipeline's own result."""
    repeats = [o for o in outcomes if o.case.family == "repeat"]
    assert repeats
    assert all(o.verdict == "exact" for o in repeats), [
        o.case.id for o in repeats if o.verdict != "exact"
    ]
