"""Replacement-pair replies for the fidelity corpus (docs/edit-format.md).

The same real modules, selections and transformations as :mod:`corpus` (tabs and CRLF
variants included); the reply carries only the change. Pairs are derived from the
selection as the prompt shows it before and after the transformation (a line diff, each
hunk grown by neighbouring lines until its old text is unique), so what a reply *means* is
known without running the code under test. Presentations:

* ``xml`` — M2.1's tool-call XML in the visible text;
* ``structured`` — the same pairs as structured ``tool_calls`` (no content);
* ``mangled`` — old text with its indentation shifted and trailing spaces added, new text
  shifted alike (the whitespace-tolerant match must give the same edit);
* ``think`` — a decoy pair inside the reasoning, the real pairs after it;
* ``twice`` — one pair's old text occurs twice in the selection: must be refused;
* ``outside`` — one pair quotes a line of the file outside the selection: must be refused.

Unambiguous presentations must give exactly the expected file; the others must be refused
with a message saying which pair and why, the file untouched.
"""

from __future__ import annotations

import ast
import collections
import difflib
import json
import random
from dataclasses import dataclass

import corpus
from m21_lsp.pipeline import prompt

PRESENTATIONS = ("xml", "structured", "mangled", "think", "twice", "outside")
REFUSALS = {"twice": "places in the selection", "outside": "outside the selection"}


@dataclass(frozen=True)
class PairCase:
    id: str
    kind: str
    presentation: str
    variant: str
    text: str
    start: int
    end: int
    reply: str
    calls: tuple[tuple[str, str], ...]
    expected: str
    refusal: str = ""  # what the refusal must say; "" when the edit must be exact


Pairs = list[tuple[str, str]]


def derive_pairs(old: str, new: str) -> Pairs | None:
    """Pairs turning ``old`` into ``new`` (both as the prompt shows them), each old text
    unique in ``old``; None when the change cannot be told as such pairs."""
    a = old.rstrip("\n").split("\n")
    b = new.rstrip("\n").split("\n")
    whole = "\n".join(a)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    hunks: list[list[int]] = []  # [a1, a2, b1, b2]
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i1 == i2:  # a pure insertion quotes the line above it (or below, at the top)
            if i1 > 0:
                i1, j1 = i1 - 1, j1 - 1
            elif i2 < len(a):
                i2, j2 = i2 + 1, j2 + 1
            else:
                return None
        hunks.append([i1, i2, j1, j2])
    if not hunks:
        return None
    grown: list[list[int]] = []
    for h in hunks:
        while _count(whole, "\n".join(a[h[0] : h[1]])) != 1 or not "".join(a[h[0] : h[1]]).strip():
            if h[0] > 0:
                h[0], h[2] = h[0] - 1, h[2] - 1
            elif h[1] < len(a):
                h[1], h[3] = h[1] + 1, h[3] + 1
            else:
                return None
        if grown and h[0] < grown[-1][1]:
            grown[-1][1], grown[-1][3] = h[1], h[3]
        else:
            grown.append(h)
    for g in grown:  # a merge can make a block ambiguous again only by growing it: recheck
        if _count(whole, "\n".join(a[g[0] : g[1]])) != 1:
            return None
    return [("\n".join(a[g[0] : g[1]]), "\n".join(b[g[2] : g[3]])) for g in grown]


def _count(haystack: str, needle: str) -> int:
    n, at = 0, haystack.find(needle)
    while at >= 0 and needle:
        n += 1
        at = haystack.find(needle, at + 1)
    return n


def xml(pairs: Pairs) -> str:
    invokes = "".join(
        f'<invoke name="replace">\n<parameter name="old_text">{old}</parameter>\n'
        f'<parameter name="new_text">{new}</parameter>\n</invoke>\n'
        for old, new in pairs
    )
    return f"<minimax:tool_call>\n{invokes}</minimax:tool_call>\n"


def _ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def mangle(pairs: Pairs, rng: random.Random) -> Pairs:
    """Each pair shifted as a whole: its common indentation taken off (or two spaces added
    when it has none), trailing spaces on its old lines."""
    out: Pairs = []
    for old, new in pairs:
        lines = [ln for ln in (old + "\n" + new).split("\n") if ln.strip()]
        common = _ws(lines[0]) if lines else ""
        for ln in lines:
            while not ln.startswith(common):
                common = common[:-1]

        def shift(text: str, common: str = common) -> str:
            if common:
                return "\n".join(ln[len(common) :] if ln.strip() else ln for ln in text.split("\n"))
            return "\n".join("  " + ln if ln.strip() else ln for ln in text.split("\n"))

        old_m = "\n".join(ln + " " * rng.randint(1, 3) for ln in shift(old).split("\n"))
        out.append((old_m, shift(new)))
    return out


def _think(decoy: Pairs) -> str:
    return "<think>\nFirst idea, dropped:\n" + xml(decoy) + "Better pairs below.\n</think>\n\n"


_VARIANTS = ("tabs", "crlf", "original")


def generate_pairs(seed: int, count: int) -> list[PairCase]:
    """``count`` pair cases over real modules, seeded like :func:`corpus.generate`."""
    rng = random.Random(seed)
    files = corpus.source_files()
    rng.shuffle(files)
    cases: list[PairCase] = []
    used: collections.Counter[str] = collections.Counter()
    kinds = [k for k in corpus.KINDS if k != "midline"]
    for path in files:
        if len(cases) >= count:
            break
        original = corpus._read(path)
        if original is None:
            continue
        # The least-used file variant that this module allows, so that every variant is
        # drawn by construction, whatever else happens to be installed (ties: tabs first).
        variant, text = "original", original
        for wanted in sorted(_VARIANTS, key=lambda v: used[v]):
            if wanted == "tabs":
                tabbed = corpus.to_tabs(original)
                if tabbed is None:
                    continue
                variant, text = wanted, tabbed
            elif wanted == "crlf":
                variant, text = wanted, original.replace("\n", "\r\n")
            break
        lf = text.replace("\r\n", "\n")
        found = corpus.selections(lf, rng)
        picked = 0
        for kind in list(kinds):
            options = found.get(kind) or []
            if not options:
                continue
            sel = rng.choice(options)
            made = _cases_for(path.name, variant, text, lf, sel, rng)
            cases.extend(made)
            used[variant] += len(made)
            if made:
                kinds.remove(kind)
                kinds.append(kind)
                picked += 1
            if picked == 2:
                break
    cases = cases[:count]  # cut before shuffling, so the rotation's variants all stay
    rng.shuffle(cases)
    return cases


def _cases_for(
    name: str, variant: str, text: str, lf: str, sel: corpus.Selection, rng: random.Random
) -> list[PairCase]:
    crlf = variant == "crlf"
    start, end = corpus._to_doc(text, sel.start), corpus._to_doc(text, sel.end)
    transform = rng.choice(corpus.TRANSFORMS)
    if transform == "rename":
        expected_lf = corpus.rename_local(lf, sel)
    elif transform == "comment":
        expected_lf = corpus.add_comment(lf, sel, rng)
    elif transform == "docstring":
        expected_lf = corpus.add_docstring(lf, sel)
    else:
        expected_lf = corpus.unparse_statement(lf, sel, rng)
    if expected_lf is None or expected_lf == lf:
        return []
    try:
        ast.parse(expected_lf)
    except SyntaxError:
        return []
    expected = expected_lf.replace("\n", "\r\n") if crlf else expected_lf
    new_end = end + len(expected) - len(text)
    _, common_old = prompt.dedent_selection(text, start, end)
    _, common_new = prompt.dedent_selection(expected, start, new_end)
    if common_old != common_new:
        return []
    old_shown = corpus.shown_selection(text, start, end)
    new_shown = corpus.shown_selection(expected, start, new_end)
    pairs = derive_pairs(old_shown, new_shown)
    if not pairs:
        return []
    label = f"{name}:{lf.count(chr(10), 0, sel.start) + 1} {sel.kind} {variant} {transform}"
    out: list[PairCase] = []

    def add(how: str, reply: str, calls: tuple[tuple[str, str], ...] = (), refusal: str = ""):
        out.append(
            PairCase(
                f"{label} {how}", sel.kind, how, variant, text, start, end, reply, calls,
                text if refusal else expected, refusal,
            )
        )  # fmt: skip

    add("xml", corpus.THINK + "Here are the changes:\n\n" + xml(pairs) + "\nDone.\n")
    args = tuple(("replace", json.dumps({"old_text": old, "new_text": new})) for old, new in pairs)
    add("structured", corpus.THINK, args)
    add("mangled", xml(mangle(pairs, rng)))
    decoy = [(pairs[0][0], pairs[0][0] + "\nraise SystemExit(1)")]
    add("think", _think(decoy) + xml(pairs))
    old_lines = old_shown.rstrip("\n").split("\n")
    repeated = [
        ln for ln in old_lines if ln.strip() and _count(old_shown, ln) >= 2 and ln.strip() != ln
    ]
    if repeated:
        line = rng.choice(repeated)
        add("twice", xml([(line, line + "  # changed")]), refusal=REFUSALS["twice"])
    first = lf.count("\n", 0, sel.start)
    last = lf.count("\n", 0, max(sel.end - 1, sel.start))
    lines = lf.split("\n")
    around = [
        ln
        for k, ln in enumerate(lines)
        if (first - 8 <= k < first or last < k <= last + 8)
        and len(ln.strip()) > 6
        and _count(lf, ln.strip()) == 1
        and ln.strip() not in old_shown
    ]
    if around and sel.kind != "midline":
        line = rng.choice(around).strip()
        add("outside", xml([(line, line + "  # changed")]), refusal=REFUSALS["outside"])
    return out


def run_pair_case(case: PairCase) -> corpus.Outcome:
    """The real pipeline on one pair case; its one pair repair turn gets the same reply."""
    import asyncio

    from m21_lsp.config import Settings
    from m21_lsp.errors import M21Error
    from m21_lsp.model.reasoning import strip_reasoning
    from m21_lsp.model.types import Completion, ToolCall
    from m21_lsp.pipeline import run as pipeline

    class OneReply:
        async def complete(self, messages, *, on_progress=None):  # type: ignore[no-untyped-def]
            split = strip_reasoning(case.reply)
            return Completion(
                raw=case.reply,
                text=split.text,
                reasoning=split.reasoning,
                finish_reason="stop",
                tool_calls=[ToolCall(n, a) for n, a in case.calls],
            )

    request = pipeline.RefactorRequest(
        text=case.text, start=case.start, end=case.end, path="module.py"
    )
    as_case = corpus.Case(
        case.id, case.kind, case.presentation, "pairs", case.variant, case.text, case.start,
        case.end, case.reply, case.expected,
    )  # fmt: skip
    try:
        result = asyncio.run(pipeline.refactor(request, Settings(repair_turns=1), OneReply()))
    except M21Error as exc:
        if case.refusal and case.refusal not in exc.message:
            return corpus.Outcome(as_case, "crash", f"refused for another reason: {exc.message}")
        return corpus.Outcome(as_case, "refused", exc.message)
    except Exception as exc:
        return corpus.Outcome(as_case, "crash", f"{type(exc).__name__}: {exc}")
    if case.refusal:
        return corpus.Outcome(as_case, "different", "applied a reply that must be refused")
    if result.new_text == case.expected:
        return corpus.Outcome(as_case, "exact")
    return corpus.Outcome(
        as_case, "different", corpus._first_difference(case.expected, result.new_text)
    )
