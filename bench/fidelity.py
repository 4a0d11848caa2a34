"""Edit fidelity on real code nobody here wrote: how often the edit is exactly what the
reply meant.

Draws seeded selections from the standard library and the installed site-packages
(tests/fidelity/corpus.py), answers each with replies that repeat what the prompt showed
(must give "unchanged") or carry a known transformation (must give exactly the expected
file), in every presentation, and runs the real pipeline on each. Prints exact /
applied-but-different / refused counts by selection kind and by presentation, then the
same figures per language beside Python's: JavaScript and TypeScript from the VS Code
extension's node_modules ($M21_FIDELITY_NODE_MODULES to point elsewhere), Go, Rust, C and
C++ from Debian source packages (tests/fidelity/corpus_langs.py); a language whose sources
are missing is listed with the reason. Asserts nothing; the tests in tests/fidelity hold
the bar on a reduced draw.

    python bench/fidelity.py                  # 600 cases, seed 2
    python bench/fidelity.py --cases 1000 --seed 5
    python bench/fidelity.py --smoke          # 40 cases (CI)
    python bench/fidelity.py --planted-secrets  # secrets planted in the cases (redaction)

Then the same for replies that carry only the change (replacement pairs,
tests/fidelity/corpus_pairs.py): XML, structured tool calls, mangled whitespace, a decoy in
the reasoning (each must be exact), a pair that matches twice and one that quotes code
outside the selection (each must be refused with that reason).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests" / "fidelity"))

import corpus  # noqa: E402
import corpus_langs  # noqa: E402
import corpus_pairs  # noqa: E402

VERDICTS = ("exact", "different", "refused", "crash")


def _table(title: str, rows: dict[str, collections.Counter[str]]) -> list[str]:
    lines = [f"{title:<14}" + "".join(f"{v:>11}" for v in VERDICTS)]
    for key in sorted(rows):
        lines.append(f"  {key:<12}" + "".join(f"{rows[key][v]:>11}" for v in VERDICTS))
    return lines


def _row(lang: str, outcomes: list[corpus.Outcome], seconds: float) -> str:
    n = len(outcomes)
    counts = collections.Counter(o.verdict for o in outcomes)
    wrong = counts["different"] + counts["crash"]
    exact = 100 * counts["exact"] / (n or 1)
    return f"  {lang:<12}{n:>7}{exact:>10.1f} %{counts['refused']:>9}{wrong:>15}{seconds:>9.1f} s"


def _languages(seed: int, count: int, python: list[corpus.Outcome]) -> str:
    """Per-language figures, Python's (the run above) first; a language whose sources or
    grammar are missing on this machine is listed with the reason."""
    lines = [
        f"by language {'cases':>7}{'exact':>12}{'refused':>9}{'applied wrong':>15}{'time':>11}"
    ]
    lines.append(_row("python", python, 0.0).rsplit(None, 2)[0])
    for lang in corpus_langs.LANGUAGES:
        reason = corpus_langs.missing_reason(lang)
        if reason is not None:
            lines.append(f"  {lang:<12}skipped: {reason}")
            continue
        started = time.monotonic()
        outcomes = [corpus.run_case(c) for c in corpus_langs.generate(lang, seed, count)]
        lines.append(_row(lang, outcomes, time.monotonic() - started))
        for o in [o for o in outcomes if o.verdict in ("different", "crash")][:3]:
            lines.append(f"    {o.verdict}: {o.case.id}: {o.message[:160]}")
    return "\n".join(lines)


def _pairs(seed: int, count: int) -> list[str]:
    """Figures for replacement-pair replies: by presentation, and the bar's two numbers."""
    started = time.monotonic()
    outcomes = [corpus_pairs.run_pair_case(c) for c in corpus_pairs.generate_pairs(seed, count)]
    seconds = time.monotonic() - started
    rows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for o in outcomes:
        rows[f"{o.case.presentation}/{o.case.variant}"][o.verdict] += 1
    must_refuse = [o for o in outcomes if o.case.presentation in corpus_pairs.REFUSALS]
    clear = [o for o in outcomes if o.case.presentation not in corpus_pairs.REFUSALS]
    exact = sum(o.verdict == "exact" for o in clear)
    refused = sum(o.verdict == "refused" for o in must_refuse)
    wrong = [o for o in outcomes if o.verdict in ("different", "crash")]
    lines = [
        f"replacement pairs: {len(outcomes)} cases (seed {seed}) in {seconds:.1f} s: "
        f"exact {exact}/{len(clear)} ({100 * exact / (len(clear) or 1):.1f} %) where the "
        f"pairs are unambiguous, refused with their reason {refused}/{len(must_refuse)}, "
        f"applied different {len(wrong)}"
    ]
    lines.append(f"{'by pair form':<20}" + "".join(f"{v:>11}" for v in VERDICTS))
    for key in sorted(rows):
        lines.append(f"  {key:<18}" + "".join(f"{rows[key][v]:>11}" for v in VERDICTS))
    lines += [f"  {o.verdict}: {o.case.id}: {o.message[:200]}" for o in wrong[:10]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=600)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="40 cases, for CI")
    parser.add_argument("--show", type=int, default=10, help="list this many non-exact cases")
    parser.add_argument(
        "--pair-cases", type=int, default=None, help="pair-reply cases (default 200, smoke 30)"
    )
    parser.add_argument(
        "--lang-cases",
        type=int,
        default=None,
        help="cases per other language (default 200, smoke 60)",
    )
    parser.add_argument(
        "--planted-secrets",
        action="store_true",
        help="the same draw with a secret planted inside each selection and above it "
        "(bench/bench_redact.py): 0 applied-but-different, the secrets byte-identical",
    )
    args = parser.parse_args(argv)
    count = 40 if args.smoke else args.cases
    if args.planted_secrets:
        sys.path.insert(0, str(ROOT / "bench"))
        import bench_redact

        verdicts, notes = bench_redact.planted_fidelity(args.seed, count)
        print(
            "fidelity with planted secrets: "
            + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))
        )
        for note in notes[: args.show]:
            print(f"  {note}")
        return 1 if verdicts["different"] or verdicts["secret changed"] or verdicts["leaked"] else 0
    started = time.monotonic()
    cases = corpus.generate(args.seed, count)
    drawn = time.monotonic() - started
    outcomes = [corpus.run_case(case) for case in cases]
    seconds = time.monotonic() - started - drawn
    total = collections.Counter(o.verdict for o in outcomes)
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_presentation: dict[str, collections.Counter[str]] = collections.defaultdict(
        collections.Counter
    )
    by_family: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_variant: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for o in outcomes:
        by_kind[o.case.kind][o.verdict] += 1
        by_presentation[o.case.presentation][o.verdict] += 1
        by_family[o.case.family][o.verdict] += 1
        by_variant[o.case.variant][o.verdict] += 1
    files = len({o.case.id.split(" ")[0].split(":")[0] for o in outcomes})
    n = len(outcomes) or 1
    print(
        f"fidelity: {len(outcomes)} cases from {files} real modules (seed {args.seed}), "
        f"drawn in {drawn:.1f} s, run in {seconds:.1f} s ({1000 * seconds / n:.0f} ms a case)"
    )
    print(
        f"  exact {total['exact']} ({100 * total['exact'] / n:.1f} %), applied but different "
        f"{total['different']}, refused {total['refused']}, crashed {total['crash']}"
    )
    for title, rows in (
        ("by kind", by_kind),
        ("by presentation", by_presentation),
        ("by reply", by_family),
        ("by file", by_variant),
    ):
        print("\n".join(_table(title, rows)))
    per_lang = args.lang_cases or (60 if args.smoke else 200)
    print(_languages(args.seed, per_lang, outcomes))
    print("\n".join(_pairs(args.seed, args.pair_cases or (30 if args.smoke else 200))))
    shown = [o for o in outcomes if o.verdict != "exact"][: args.show]
    for o in shown:
        print(f"  {o.verdict}: {o.case.id}: {o.message[:200]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
