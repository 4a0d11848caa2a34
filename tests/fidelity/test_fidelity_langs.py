"""The fidelity bar for the brace languages, on a small seeded draw per language.

The cases come from real code on the machine (see ``corpus_langs``): npm packages for
JavaScript and TypeScript, Debian's Go, Rust, C and C++ source packages. Every reply
either repeats what the prompt showed or carries a transformation whose expected file is
built independently of the pipeline, so an applied edit that is not that file is a bug.
"""

from __future__ import annotations

import collections
import os

import corpus
import corpus_langs
import pytest

SEED = 4
COUNT = 80


def _outcomes(lang: str) -> list[corpus.Outcome]:
    reason = corpus_langs.missing_reason(lang)
    if reason is not None:
        if os.environ.get("CI") and lang in ("javascript", "typescript"):
            pytest.fail(f"{lang}: {reason}; CI runs editors/vscode/scripts/ci-setup.sh first")
        pytest.skip(f"{lang}: {reason}")
    cases = corpus_langs.generate(lang, SEED, COUNT)
    assert len(cases) >= COUNT // 2, f"too little real {lang} code to draw from"
    return [corpus.run_case(case) for case in cases]


@pytest.mark.parametrize("lang", corpus_langs.LANGUAGES)
def test_no_edit_differs_and_at_least_95_percent_exact(lang: str) -> None:
    outcomes = _outcomes(lang)
    wrong = [f"{o.case.id}: {o.message}" for o in outcomes if o.verdict in ("different", "crash")]
    assert not wrong, "\n".join(wrong)
    counts = collections.Counter(o.verdict for o in outcomes)
    print(f"\n{lang} fidelity (seed {SEED}): {dict(counts)} of {len(outcomes)}")
    assert counts["exact"] >= 0.95 * len(outcomes), counts
    families = {o.case.family for o in outcomes}
    assert "repeat" in families and len(families) >= 2, families
