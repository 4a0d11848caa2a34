"""Replacement pairs: a reply that carries only the change (docs/edit-format.md).

A large selection with a small change costs the model thousands of tokens to write back
whole. Instead it may answer with *pairs*: old text quoted verbatim from the selection and
the new text for it, written in M2.1's own tool-call form inside ``content``::

    <minimax:tool_call>
    <invoke name="replace">
    <parameter name="old_text">…</parameter>
    <parameter name="new_text">…</parameter>
    </invoke>
    </minimax:tool_call>

or as structured ``tool_calls`` (some endpoints turn that text into them). This module reads
either form, finds each pair's old text in the selection *as the prompt showed it* (dedented,
LF line ends) and applies the pairs in order against that original text. The result is the
whole new selection in the same frame, which the caller hands to the usual extract → shape
→ validate path as if the model had written it out: every check of a whole reply applies.

Matching is strict where it matters: exact first, then ignoring leading indentation and
trailing whitespace line by line (the new text then takes the selection's indentation), and
a pair must match exactly once, inside the selection, without overlapping another. Anything
else is a :class:`PairProblem` the caller sends back once (:func:`repair_message`, quoting
the closest lines) and then refuses with :class:`PairError`. An empty pair list or an empty
old text is a problem too: it is never read as "replace nothing" or "delete everything".

Pure Python, no imports beyond the standard library and the prompt's dedent.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import ReplyError

__all__ = [
    "Pair",
    "PairError",
    "PairProblem",
    "ToolCallLike",
    "apply_pairs",
    "parse_pairs",
    "preview_pairs",
    "repair_message",
    "resolve",
]

TOOL_NAME = "replace"
OLD_KEYS = ("old_text", "old_string", "old_str", "old")
NEW_KEYS = ("new_text", "new_string", "new_str", "new")

_BLOCK_OPEN = "<minimax:tool_call>"
_BLOCK_CLOSE = "</minimax:tool_call>"
_INVOKE = re.compile(r'<invoke\s+name\s*=\s*"([^"]*)"\s*>')
_PARAM = re.compile(r'<parameter\s+name\s*=\s*"([^"]*)"\s*>')
_PARAM_END = re.compile(r"</parameter>\s*$")


class PairError(ReplyError, kind="pairs"):
    """A replacement-pair reply that could not be applied even after its repair turn:
    nothing was changed, and the message names the pair and what was wrong with it."""


@dataclass(frozen=True)
class Pair:
    """One replacement: ``old`` quoted from the selection, ``new`` to put there.

    ``number`` counts from 1 in the reply's order (messages name pairs by it). ``new`` is
    None when the reply gave no new text at all (never read as a deletion).
    """

    number: int
    old: str
    new: str | None


@dataclass(frozen=True)
class PairProblem:
    """Why one pair (or the whole reply, ``number`` 0) cannot be applied."""

    number: int
    what: str
    old: str = ""

    def describe(self) -> str:
        who = f"Replacement pair {self.number}" if self.number else "The reply"
        return f"{who} {self.what}"


@dataclass(frozen=True)
class _Span:
    pair: Pair
    start: int
    end: int
    new: str


class ToolCallLike(Protocol):
    """What :func:`parse_pairs` needs of a structured tool call (``model.types.ToolCall``)."""

    @property
    def arguments(self) -> str: ...


# ---------------------------------------------------------------------- reading a reply
_BLOCK_LINE = re.compile(r"^[ \t]*<minimax:tool_call>", re.M)
_FENCE_LINE = re.compile(r"^[ \t]{0,3}(?:`{3,}|~{3,})[^\n]*\n", re.M)


def _block_start(text: str) -> int:
    """Where the reply's first tool-call block starts, or -1 when it is not in pair form.

    The block must open on a line of its own before any code fence (a whole rewrite of code
    that itself mentions ``<minimax:tool_call>`` is not a pair reply), except a fence that
    wraps the block directly (```xml then the block).
    """
    m = _BLOCK_LINE.search(text)
    if m is None:
        return -1
    fences = list(_FENCE_LINE.finditer(text, 0, m.start()))
    if not fences:
        return m.start()
    if len(fences) == 1 and not text[fences[0].end() : m.start()].strip():
        return m.start()
    return -1


def is_pair_reply(text: str) -> bool:
    """Whether visible reply text is written in the pair form (a tool-call block opens)."""
    return _block_start(text) >= 0


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _layout(values: Iterable[str]) -> bool:
    """Whether an invoke's values are written on lines of their own (``>`` newline, value,
    newline ``</parameter>``): then those two newlines are layout, not content. Decided per
    invoke, over every non-empty value, so a value that really ends with a line break (a
    blank line quoted after the code) keeps it when the others are written inline."""
    filled = [v for v in values if v]
    return bool(filled) and all(v.startswith("\n") and v.endswith("\n") for v in filled)


def _trim(value: str) -> str:
    return value[1:-1] if len(value) >= 2 else ""


def _invokes(text: str, *, complete_only: bool) -> Iterable[tuple[str, str]]:
    """(tool name, body) of every ``<invoke>`` in the visible text, in order.

    An invoke ends at the ``</invoke>`` followed by the next invoke, the block's end or the
    end of the text, so a ``</invoke>`` inside quoted code does not cut it short. With
    ``complete_only`` (the live preview) an invoke still being written is left out.
    """
    pos = max(_block_start(text), 0)
    while True:
        m = _INVOKE.search(text, pos)
        if m is None:
            return
        nxt = _INVOKE.search(text, m.end())
        limit = nxt.start() if nxt else len(text)
        region = text[m.end() : limit]
        block_end = region.find(_BLOCK_CLOSE)
        if block_end >= 0:
            region = region[:block_end]
        ends = list(re.finditer(r"</invoke>", region))
        if ends:
            body = region[: ends[-1].start()]
        elif complete_only:
            return
        else:
            body = region
        yield m.group(1).strip(), body
        pos = limit if nxt else len(text)


def _params(body: str) -> dict[str, str]:
    """Parameter values of one invoke: each runs to the next ``<parameter`` start, so code
    that quotes ``</parameter>`` keeps it; the closing tag of the last one is dropped."""
    marks = list(_PARAM.finditer(body))
    out: dict[str, str] = {}
    for k, m in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(body)
        raw = body[m.end() : end]
        raw = _PARAM_END.sub("", raw, count=1) if k + 1 < len(marks) else _strip_last(raw)
        out.setdefault(m.group(1).strip(), _lf(raw))
    if _layout(out.values()):
        out = {key: _trim(value) if value else value for key, value in out.items()}
    return out


def _strip_last(raw: str) -> str:
    at = raw.rfind("</parameter>")
    return raw[:at] if at >= 0 else raw


def _pair_of(number: int, params: dict[str, object]) -> Pair | None:
    old = next((params[k] for k in OLD_KEYS if k in params), None)
    new = next((params[k] for k in NEW_KEYS if k in params), None)
    if old is None and new is None:
        return None
    return Pair(
        number,
        _lf(old) if isinstance(old, str) else "",
        _lf(new) if isinstance(new, str) else None,
    )


def parse_pairs(
    text: str, tool_calls: Sequence[ToolCallLike] = (), *, complete_only: bool = False
) -> list[Pair] | None:
    """The pairs of a reply, or None when the reply is not in pair form (a whole rewrite).

    ``text`` is the visible reply, reasoning already taken out (a pair the model only
    thought about is never the answer). Structured calls come first (an endpoint that
    returns them returned the whole answer there), then the XML form in the text. An
    invoke or call that carries neither old nor new text is not a pair; a reply in pair
    form with no pair gives ``[]``, which the caller refuses.
    """
    pairs: list[Pair] = []
    seen_form = False
    for call in tool_calls:
        seen_form = True
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            pairs.append(Pair(len(pairs) + 1, "", None))  # a broken call is a broken pair
            continue
        if isinstance(args, dict):
            pair = _pair_of(len(pairs) + 1, args)
            if pair is not None:
                pairs.append(pair)
    if is_pair_reply(text):
        seen_form = True
        for _name, body in _invokes(text, complete_only=complete_only):
            pair = _pair_of(len(pairs) + 1, dict(_params(body)))
            if pair is not None:
                pairs.append(pair)
    return pairs if seen_form else None


# ---------------------------------------------------------------------- matching
def _ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _width(indent: str, tab: int = 4) -> int:
    return sum(tab if ch == "\t" else 1 for ch in indent)


def _occurrences(haystack: str, needle: str) -> list[int]:
    out: list[int] = []
    at = haystack.find(needle)
    while at >= 0:
        out.append(at)
        at = haystack.find(needle, at + 1)
    return out


def _key_lines(text: str) -> list[str]:
    """Lines compared with indentation and trailing whitespace ignored, blank edges dropped."""
    lines = [line.strip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _line_windows(lines: list[str], keys: list[str]) -> list[int]:
    n = len(keys)
    stripped = [line.strip() for line in lines]
    return [i for i in range(len(lines) - n + 1) if stripped[i : i + n] == keys]


def _unit_of(lines: Iterable[str], tabs: bool | None = None) -> str:
    """The indent step of ``lines``: a tab when they indent with tabs, else the smallest
    rise in spaces between successive non-blank lines (4 when nothing rises).

    ``tabs`` forces the kind (the matched lines' own indentation decides it for a mixed
    selection); only lines indented with that kind count then.
    """
    widths: list[int] = []
    seen_tab = False
    prev: int | None = None
    for line in lines:
        if not line.strip():
            continue
        ind = _ws(line)
        if tabs is not None and ind and ("\t" in ind) != tabs:
            continue
        seen_tab = seen_tab or "\t" in ind
        width = _width(ind)
        if prev is not None and width > prev:
            widths.append(width - prev)
        prev = width
    if tabs if tabs is not None else seen_tab:
        return "\t"
    return " " * (min(widths) if widths else 4)


def _reindent(new: str, old_base: str, sel_base: str, model_unit: str, sel_unit: str) -> str:
    """``new`` moved from the indentation the model quoted (``old_base``) to the one the
    matched selection lines have (``sel_base``).

    Relative indentation is kept column for column (hanging indents included); only when
    the model indents with spaces where the selection uses tabs, or the reverse, are the
    levels converted to the selection's unit.
    """
    convert = ("\t" in model_unit) != ("\t" in sel_unit)
    step_in = _width(model_unit) or 4
    out: list[str] = []
    for line in new.split("\n"):
        if not line.strip():
            out.append("")
            continue
        ind = _ws(line)
        body = line[len(ind) :]
        rest = _width(ind) - _width(old_base)
        if rest < 0:  # dedented past the quoted base: take as much off the selection's
            drop = -(-rest // step_in) * _width(sel_unit) if convert else -rest
            out.append(_take_width(sel_base, drop) + body)
        elif not convert:
            extra = ind[len(old_base) :] if ind.startswith(old_base) else " " * rest
            out.append(sel_base + extra + body)
        else:
            levels, extra = divmod(rest, step_in)
            out.append(sel_base + sel_unit * levels + " " * extra + body)
    return "\n".join(out)


def _take_width(indent: str, width: int) -> str:
    """``indent`` with ``width`` columns taken off its end."""
    while width > 0 and indent:
        width -= _width(indent[-1])
        indent = indent[:-1]
    return indent


def _closest(selection: str, old: str, limit: int = 8) -> str:
    """The lines of the selection most like ``old`` (difflib), for a repair message."""
    lines = selection.split("\n")
    keys = _key_lines(old) or [old.strip()]
    n = max(1, len(keys))
    best, best_at = 0.0, 0
    target = "\n".join(keys)
    for i in range(max(1, len(lines) - n + 1)):
        window = "\n".join(line.strip() for line in lines[i : i + n])
        ratio = difflib.SequenceMatcher(None, target, window, autojunk=False).quick_ratio()
        if ratio > best:
            ratio = difflib.SequenceMatcher(None, target, window, autojunk=False).ratio()
            if ratio > best:
                best, best_at = ratio, i
    return "\n".join(lines[best_at : best_at + min(n, limit)])


def _locate(pair: Pair, shown: str, lines: list[str], starts: list[int]) -> _Span | PairProblem:
    old = pair.old
    if pair.new is None:
        return PairProblem(pair.number, "has no new text (new_text is missing).", old)
    if not old.strip():
        return PairProblem(
            pair.number,
            "has an empty old text: quote the exact lines of the selection to replace.",
            old,
        )
    exact = _occurrences(shown, old)
    if len(exact) > 1:
        return PairProblem(
            pair.number,
            f"matches {len(exact)} places in the selection: quote more lines around it so "
            "it matches exactly once.",
            old,
        )
    keys = _key_lines(old)
    full, old_nl = _full_keys(old)
    inside: list[int] | None = None  # windows must hold this offset (the one exact match)
    if len(exact) == 1:
        at = exact[0]
        before = shown[shown.rfind("\n", 0, at) + 1 : at]
        if not before or before.strip():
            end = at + len(old)
            if not pair.new and not before and (end == len(shown) or shown[end] == "\n"):
                # Whole lines replaced by nothing: they go, line break included.
                if end < len(shown):
                    end += 1
                elif at > 0:
                    at -= 1
            return _Span(pair, at, end, pair.new)
        # The old text starts inside a line's indentation: it quoted less indentation
        # than the line has, so its new text is re-indented as a whole-line match, the one
        # that holds this occurrence (or taken as written when no whole lines match).
        inside = [at]

    def windows(want: list[str]) -> list[int]:
        got = _line_windows(lines, want)
        if inside is None:
            return got
        return [
            i
            for i in got
            if starts[i]
            <= inside[0]
            < starts[i + len(want) - 1] + len(lines[i + len(want) - 1]) + 1
        ]

    # Every quoted line counts, blank ones included (a quoted blank line is replaced too);
    # only when that matches nothing are blank lines at the edges let go.
    found = windows(full)
    whole_lines = len(found) == 1
    if not whole_lines:
        found = windows(keys) if keys else []
    if inside is not None and len(found) != 1:
        return _Span(pair, inside[0], inside[0] + len(old), pair.new)
    if len(found) > 1:
        return PairProblem(
            pair.number,
            f"matches {len(found)} places in the selection (ignoring indentation): quote "
            "more lines around it so it matches exactly once.",
            old,
        )
    if not found:
        return PairProblem(pair.number, "does not match any lines of the selection.", old)
    first = found[0]
    count = len(full) if whole_lines else len(keys)
    last = first + count - 1
    start = starts[first]
    end = starts[last] + len(lines[last])
    old_lines = [line for line in old.split("\n") if line.strip()]
    sel_lines = lines[first : last + 1]
    old_base = _ws(old_lines[0])
    sel_base = _ws(next(line for line in sel_lines if line.strip()))
    new_text = pair.new
    add_nl = False
    if whole_lines and old_nl:
        if end < len(shown):
            end += 1  # the quoted line break is replaced too
            add_nl = bool(new_text)
        if new_text.endswith("\n"):
            new_text = new_text[:-1]
    new_lines = new_text.split("\n")
    if not whole_lines:
        while new_lines and not new_lines[0].strip():
            new_lines.pop(0)
        while new_lines and not new_lines[-1].strip():
            new_lines.pop()
    if not new_lines or not pair.new:
        # Deleting whole lines: take their line end too, so no blank line is left behind.
        if not (whole_lines and old_nl):
            if end < len(shown):
                end += 1
            elif start > 0:
                start -= 1
        return _Span(pair, start, end, "")
    model_unit = _unit_of([*old_lines, *new_lines])
    sel_unit = _unit_of(lines, "\t" in sel_base if sel_base else None)
    new = _reindent("\n".join(new_lines), old_base, sel_base, model_unit, sel_unit)
    return _Span(pair, start, end, new + ("\n" if add_nl else ""))


def _full_keys(text: str) -> tuple[list[str], bool]:
    """Every line of ``text`` compared without its indentation and trailing whitespace, and
    whether ``text`` ends with a line break (then the last line's break is quoted too)."""
    nl = text.endswith("\n")
    body = text[:-1] if nl else text
    return [line.strip() for line in body.split("\n")], nl


def resolve(pairs: Sequence[Pair], shown: str) -> list[_Span] | list[PairProblem]:
    """Where each pair applies in ``shown`` (the selection as the prompt showed it), or
    every problem found. Spans are in reply order; overlaps are problems."""
    if not pairs:
        return [
            PairProblem(
                0,
                "is in the replacement-pair form but contains no pair (no old_text/new_text).",
            )
        ]
    lines, starts = _lines_and_starts(shown)
    spans: list[_Span] = []
    problems: list[PairProblem] = []
    for pair in pairs:
        got = _locate(pair, shown, lines, starts)
        if isinstance(got, PairProblem):
            problems.append(got)
        else:
            spans.append(got)
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end or (b.start == a.start and b.end == a.end):
            problems.append(
                PairProblem(
                    b.pair.number,
                    f"overlaps replacement pair {a.pair.number}: each pair must replace "
                    "different lines.",
                    b.pair.old,
                )
            )
    if problems:
        return sorted(problems, key=lambda p: p.number)
    return spans


def _lines_and_starts(shown: str) -> tuple[list[str], list[int]]:
    """The lines of ``shown`` and the offset each starts at: what :func:`_locate` searches."""
    lines = shown.split("\n")
    starts: list[int] = []
    pos = 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    return lines, starts


def apply_spans(shown: str, spans: Sequence[_Span]) -> str:
    """``shown`` with every span replaced, all positions taken in the original text."""
    out: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: s.start):
        out.append(shown[pos : span.start])
        out.append(span.new)
        pos = span.end
    out.append(shown[pos:])
    return "".join(out)


def apply_pairs(pairs: Sequence[Pair], shown: str) -> str | list[PairProblem]:
    """The new selection (in the prompt's frame), or the problems that stop it."""
    got = resolve(pairs, shown)
    if got and isinstance(got[0], PairProblem):
        return [p for p in got if isinstance(p, PairProblem)]
    return apply_spans(shown, [s for s in got if isinstance(s, _Span)])


def outside_problems(
    problems: Sequence[PairProblem], document: str, selection: str
) -> list[PairProblem]:
    """Problems reworded when a pair that matched nothing quotes code around the selection:
    the model must not edit outside what it was given."""
    doc = _lf(document).split("\n")
    out: list[PairProblem] = []
    for problem in problems:
        keys = _key_lines(problem.old)
        if problem.what.startswith("does not match") and keys and _line_windows(doc, keys):
            problem = PairProblem(
                problem.number,
                "quotes code outside the selection: only the selected code may be replaced.",
                problem.old,
            )
        out.append(problem)
    return out


def repair_message(problems: Sequence[PairProblem], shown: str) -> str:
    """The user turn of the one repair call: each problem, with the selection's lines
    closest to what the model quoted, and what to send instead."""
    parts = ["Your replacement pairs could not be applied:"]
    for problem in problems:
        parts.append(f"- {problem.describe()}")
        if problem.old.strip():
            closest = _closest(shown, problem.old)
            if closest.strip():
                parts.append("  The closest lines of the selection are:\n" + _quoted(closest))
    parts.append(
        "Reply again with all the replacement pairs (old_text copied exactly from the "
        "selected code, each matching exactly once), or with the complete new selection in "
        "one fenced code block."
    )
    return "\n".join(parts)


def _quoted(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"  {fence}\n{text}\n  {fence}"


def refusal(problems: Sequence[PairProblem], calls: int) -> PairError:
    """The error a caller raises when pairs fail after the repair turn."""
    listed = " ".join(p.describe() for p in problems[:3])
    more = f" ({len(problems) - 3} more)" if len(problems) > 3 else ""
    tried = f" after {calls - 1} repair turn(s)" if calls > 1 else ""
    return PairError(
        f"The model's replacement pairs could not be applied{tried}: {listed}{more} Nothing "
        "was changed. Try again, select exactly the code to change, or set editFormat to "
        '"whole" to have the selection rewritten.'
    )


def render_call(name: str, arguments: str) -> str:
    """A structured call written in the XML form (for the repair turn's copy of a reply)."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        args = {}
    if not isinstance(args, dict):
        args = {}
    params = "".join(
        f'<parameter name="{key}">{value}</parameter>\n'
        for key, value in args.items()
        if isinstance(value, str)
    )
    return (
        f'\n{_BLOCK_OPEN}\n<invoke name="{name or TOOL_NAME}">\n{params}</invoke>\n{_BLOCK_CLOSE}'
    )


# ---------------------------------------------------------------------- live preview
def _dedent(text: str) -> tuple[str, str]:
    lines = text.split("\n")
    indents = [_ws(line) for line in lines if line.strip()]
    if not indents:
        return text, ""
    common = indents[0]
    for ind in indents[1:]:
        while not ind.startswith(common):
            common = common[:-1]
    return "\n".join(line[len(common) :] if line.strip() else line for line in lines), common


def _pair_being_written(visible: str, number: int) -> Pair | None:
    """The last invoke while its new text is still streaming: its old text is complete (the
    new text's parameter has begun), so the view can already put the new text written so
    far in its place, as an editor that streams an edit would. None otherwise."""
    last = next(reversed(list(_INVOKE.finditer(visible, max(_block_start(visible), 0)))), None)
    if last is None:
        return None
    region = visible[last.end() :]
    if "</invoke>" in region or _BLOCK_CLOSE in region:
        return None
    marks = list(_PARAM.finditer(region))
    if len(marks) < 2 or marks[-1].group(1).strip() not in NEW_KEYS:
        return None
    tail = region[marks[-1].end() :]
    cut = tail.rfind("<")
    if cut >= 0 and "</parameter>".startswith(tail[cut:]):
        tail = tail[:cut]  # a closing tag half written is not code
    old_raw = region[marks[-2].end() : marks[-1].start()]
    if _PARAM_END.sub("", old_raw, count=1).startswith("\n") and not tail.endswith("\n"):
        tail += "\n"  # values on lines of their own: the layout newline is still to come
    pair = _pair_of(number, dict(_params(region[: marks[-1].end()] + tail + "</parameter>\n")))
    return pair if pair is not None and pair.old and pair.new is not None else None


def preview_pairs(visible: str, selection: str) -> str | None:
    """The selection with every pair applied so far, for the live view: the completed ones
    and the one whose new text is streaming (:func:`_pair_being_written`).

    ``visible`` is (the start of) the reply's visible text; ``selection`` the selected text
    exactly as in the document. Pairs that do not match (yet) are skipped, never guessed.
    None when the reply is not in pair form.
    """
    if not is_pair_reply(visible):
        return None
    pairs = parse_pairs(visible, complete_only=True) or []
    writing = _pair_being_written(visible, len(pairs) + 1)
    if writing is not None:
        pairs.append(writing)
    crlf = "\r\n" in selection
    shown, common = _dedent(_lf(selection))
    lines, starts = _lines_and_starts(shown)
    spans: list[_Span] = []
    for pair in pairs:
        got = _locate(pair, shown, lines, starts)
        if isinstance(got, _Span) and all(got.end <= s.start or got.start >= s.end for s in spans):
            spans.append(got)
    result = apply_spans(shown, spans)
    if common:
        result = "\n".join(common + line if line.strip() else line for line in result.split("\n"))
    return result.replace("\n", "\r\n") if crlf else result
