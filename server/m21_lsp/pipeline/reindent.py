"""Put the model's lines back where the prompt took the selection from.

The prompt shows the selection with its common indentation (``common``) taken off every
line, lines inside strings included (:func:`prompt.dedent_selection`). The model answers
in that frame. Re-indenting is the exact inverse, line for line: ``common`` goes back on
every line, strings included, so a reply that repeats what the prompt showed gives the
document back byte for byte, and an untouched docstring keeps its value.

Models do not always answer in the frame. Some repeat the code at its original
indentation, some write four spaces where the file uses tabs or two spaces. So the frame
is checked, not assumed: the reply's base indentation and indent unit (read from its
statement lines only, never from lines inside strings, brackets or after a backslash) are
compared with the frame's. When they agree the reply's own indentation is kept; when they
do not, statement lines are moved level by level into the frame's unit, continuation lines
follow their statement, and string lines either keep the text the model wrote, move with
their statement (a docstring written in the model's unit), or have their indentation
converted level by level as statements are (spaces written for a tab file's tabs, inside the
string too), whichever gives back a string the prompt showed; when none does, a docstring
moves and any other string stays.

Reply lines that equal a shown line (ignoring trailing whitespace) are emitted as the
document's original line, so whitespace the prompt could not show (trailing spaces, the
content of blank lines) survives a reply that did not change them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..text import pyscan

_STMT = (pyscan.STATEMENT, pyscan.COMMENT)


@dataclass(frozen=True)
class Frame:
    """What the prompt showed: the selection's lines with ``common`` taken off, the
    document's lines they came from, and the indent unit to use for new levels."""

    shown: list[str]
    original: list[str]
    common: str
    unit: str
    python: bool = True
    first_partial: bool = False  # the selection starts after code on its first line


def _ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def kinds(lines: list[str], python: bool) -> list[tuple[str, int]]:
    if python:
        return pyscan.line_kinds(lines)
    return [(pyscan.STATEMENT if line.strip() else pyscan.BLANK, k) for k, line in enumerate(lines)]


def indent_unit(
    lines: list[str], line_kinds: list[tuple[str, int]], skip_first: bool = False
) -> str | None:
    """The most common step between a statement line and a deeper one after it (the
    string that one more level adds: ``"\\t"``, ``"    "``, ``"  "``), or ``None``."""
    steps: Counter[str] = Counter()
    stack: list[str] = []
    for k, (kind, _owner) in enumerate(line_kinds):
        if kind != pyscan.STATEMENT or (skip_first and k == 0):
            continue
        ws = _ws(lines[k])
        while (
            stack and pyscan.indent_width(stack[-1]) >= pyscan.indent_width(ws) and stack[-1] != ws
        ):
            stack.pop()
        if stack and stack[-1] == ws:
            continue
        if stack and ws.startswith(stack[-1]):
            steps[ws[len(stack[-1]) :]] += 1
        elif stack:
            steps[" " * (pyscan.indent_width(ws) - pyscan.indent_width(stack[-1]))] += 1
        stack.append(ws)
    if not steps:
        return None
    best = max(steps.values())
    return min((s for s, c in steps.items() if c == best), key=lambda s: (len(s), s))


def _hanging_unit(lines: list[str], line_kinds: list[tuple[str, int]]) -> str | None:
    """The step a bracket's continuation lines take past the line that opened it, when
    every one of them is a whole number of that step (``"\t"``, ``"    "``), else ``None``.

    A reply with no nested statement (a dict literal and an assert) shows its indent unit
    only there: ``"passed": ...`` four spaces past ``obtained = {`` in a tab file.
    """
    extras: list[str] = []
    for k, (kind, owner) in enumerate(line_kinds):
        if kind != pyscan.CONTINUATION or not lines[k].strip():
            continue
        owner_ws, ws = _ws(lines[owner]), _ws(lines[k])
        if not ws.startswith(owner_ws) or len(ws) == len(owner_ws):
            continue
        extras.append(ws[len(owner_ws) :])
    if not extras:
        return None
    step = min(extras, key=len)
    if len(set(step)) != 1 or any(e != step * (len(e) // len(step)) for e in extras):
        return None
    return step


def _statement_widths(
    lines: list[str], line_kinds: list[tuple[str, int]], skip_first: bool
) -> list[int]:
    return [
        pyscan.indent_width(lines[k])
        for k, (kind, _o) in enumerate(line_kinds)
        if kind == pyscan.STATEMENT and not (skip_first and k == 0)
    ]


def _base_ws(
    lines: list[str], line_kinds: list[tuple[str, int]], width: int, skip_first: bool
) -> str:
    for k, (kind, _o) in enumerate(line_kinds):
        if kind == pyscan.STATEMENT and not (skip_first and k == 0):
            if pyscan.indent_width(lines[k]) == width:
                return _ws(lines[k])
    return " " * width


def _relevel(ws: str, base_ws: str, r_unit: str | None, r_unit_width: int, unit: str) -> str:
    """The indentation ``ws`` (the reply's, above its base ``base_ws``) as levels of
    ``unit``; what does not make a whole level stays as spaces."""
    if ws.startswith(base_ws):
        rel = ws[len(base_ws) :]
    else:
        rel = " " * max(pyscan.indent_width(ws) - pyscan.indent_width(base_ws), 0)
    if r_unit == "\t":
        tabs = len(rel) - len(rel.lstrip("\t"))
        levels, extra = tabs, pyscan.indent_width(rel[tabs:].replace("\t", " " * 8))
    else:
        levels, extra = divmod(pyscan.indent_width(rel), max(r_unit_width, 1))
    return unit * levels + " " * extra


def _string_runs(line_kinds: list[tuple[str, int]]) -> dict[int, list[int]]:
    """Owner line -> the string lines that belong to it."""
    runs: dict[int, list[int]] = {}
    for k, (kind, owner) in enumerate(line_kinds):
        if kind == pyscan.STRING:
            runs.setdefault(owner, []).append(k)
    return runs


def _contains_run(haystack: list[str], needle: list[str]) -> bool:
    if not needle:
        return True
    n = len(needle)
    first = needle[0]
    for i in range(len(haystack) - n + 1):
        if haystack[i] == first and haystack[i : i + n] == needle:
            return True
    return False


def _moved(line: str, old_ws: str, new_ws: str) -> str:
    """``line`` moved as its owner moved from ``old_ws`` to ``new_ws``."""
    if line.startswith(old_ws):
        return new_ws + line[len(old_ws) :]
    delta = pyscan.indent_width(new_ws) - pyscan.indent_width(old_ws)
    if delta >= 0:
        return " " * delta + line
    return _remove_columns(line, -delta)


def _remove_columns(line: str, columns: int) -> str:
    """``line`` without its first ``columns`` columns of indentation (tabs count to the
    next multiple of eight, as the tokenizer counts them)."""
    width = k = 0
    while k < len(line) and line[k] in " \t" and width < columns:
        width = (width // 8 + 1) * 8 if line[k] == "\t" else width + 1
        k += 1
    return line[k:]


def _indent_chars(lines: list[str], line_kinds: list[tuple[str, int]], base: int) -> set[bool]:
    """Whether each statement line indented past ``base`` uses a tab, as a set."""
    return {
        "\t" in _ws(lines[k])
        for k, (kind, _o) in enumerate(line_kinds)
        if kind == pyscan.STATEMENT and pyscan.indent_width(lines[k]) > base
    }


def to_frame(code: list[str], frame: Frame, *, force: bool = False) -> list[str]:
    """The reply's lines in the prompt's frame (see the module docs)."""
    r_kinds = kinds(code, frame.python)
    s_kinds = kinds(frame.shown, frame.python)
    skip = frame.first_partial
    r_widths = _statement_widths(code, r_kinds, skip)
    s_widths = _statement_widths(frame.shown, s_kinds, skip)
    if not r_widths:
        return code
    r_base = min(r_widths)
    s_base = min(s_widths) if s_widths else 0
    r_unit = indent_unit(code, r_kinds, skip)
    if r_unit is None and _hanging_unit(frame.shown, s_kinds) == frame.unit:
        # No nesting to read the reply's unit from: its hanging indents say it, when the
        # selection's are in whole levels of the file's unit.
        r_unit = _hanging_unit(code, r_kinds)
    r_chars = _indent_chars(code, r_kinds, r_base)
    # A file that mixes tabs and spaces (older C and JavaScript do) shows both: a reply
    # that uses only the kinds of indentation the selection showed is in its frame.
    chars_agree = r_chars <= ({frame.unit == "\t"} | _indent_chars(frame.shown, s_kinds, s_base))
    if not force and r_base == s_base and (r_unit is None or r_unit == frame.unit) and chars_agree:
        return code
    unit = frame.unit
    unit_width = pyscan.indent_width(unit) if unit != "\t" else 8
    r_unit_width = (
        pyscan.indent_width(r_unit) if r_unit and r_unit != "\t" else (8 if r_unit else unit_width)
    )
    base = _base_ws(frame.shown, s_kinds, s_base, skip)
    r_base_ws = _base_ws(code, r_kinds, r_base, skip)
    out = list(code)
    new_ws: dict[int, str] = {}
    shown_lines = {ln.rstrip() for ln in frame.shown}
    for k, (kind, owner) in enumerate(r_kinds):
        line = code[k]
        if skip and k == 0:
            new_ws[k] = _ws(line)
            continue
        if kind in _STMT:
            ws = base + _relevel(_ws(line), r_base_ws, r_unit, r_unit_width, unit)
            new_ws[k] = ws
            out[k] = ws + line.lstrip(" \t")
        elif kind == pyscan.CONTINUATION:
            old_owner = _ws(code[owner])
            owner_ws = new_ws.get(owner, old_owner)
            ws = _ws(line)
            rel = pyscan.indent_width(ws) - pyscan.indent_width(old_owner)
            if ws.startswith(old_owner) and rel > 0 and rel % r_unit_width == 0:
                # A hanging indent in whole levels: it follows the unit too.
                out[k] = (
                    owner_ws
                    + _relevel(ws, old_owner, r_unit, r_unit_width, unit)
                    + line.lstrip(" \t")
                )
            else:
                out[k] = _moved(line, old_owner, owner_ws)
                # Aligned with the file's unit and then spaces (``\t\t\t   "…"`` under a
                # ``\t\t`` statement), written in the model's unit: its whole levels go back
                # to the file's unit when that gives the line the prompt showed.
                if out[k].rstrip() not in shown_lines and ws.startswith(old_owner):
                    releveled = (
                        owner_ws
                        + _relevel(ws, old_owner, r_unit, r_unit_width, unit)
                        + line.lstrip(" \t")
                    )
                    if releveled.rstrip() in shown_lines:
                        out[k] = releveled
    if frame.python:
        shown_stripped = [ln.rstrip() for ln in frame.shown]
        for owner, run in _string_runs(r_kinds).items():
            old_owner, owner_ws = _ws(code[owner]), new_ws.get(owner, _ws(code[owner]))
            kept = [code[k] for k in run]
            moved = [_moved(code[k], old_owner, owner_ws) for k in run]
            # Each level of the reply's unit as one of the frame's, as for statements: a
            # model that wrote spaces for tabs did so inside the string too.
            releveled = [
                base
                + _relevel(_ws(code[k]), r_base_ws, r_unit, r_unit_width, unit)
                + code[k].lstrip(" \t")
                if code[k].strip()
                else code[k]
                for k in run
            ]
            # The string copied from the file as it stands there (``common`` included).
            common = frame.common
            copied = [ln[len(common) :] if ln.startswith(common) else ln for ln in kept]
            for option in (moved, kept, releveled, copied):
                if _contains_run(shown_stripped, [ln.rstrip() for ln in option]):
                    chosen = option
                    break
            else:
                chosen = moved if _is_docstring_owner(code[owner]) else kept
            for k, line in zip(run, chosen, strict=True):
                out[k] = line
    return out


def _is_docstring_owner(line: str) -> bool:
    body = line.lstrip(" \t").lstrip("rRuU")
    return body.startswith(('"""', "'''"))


def restore(frame_lines: list[str], frame: Frame) -> list[str]:
    """Document lines for reply lines that are in the frame: the original line where the
    reply repeats a shown one, else ``common`` put back (blank lines stay empty)."""
    shown = [ln.rstrip() for ln in frame.shown]
    reply = [ln.rstrip() for ln in frame_lines]
    matcher = SequenceMatcher(None, shown, reply, autojunk=False)
    out: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.extend(frame.original[i1:i2])
            continue
        for j in range(j1, j2):
            line = frame_lines[j]
            if not line.strip() and j != 0:
                out.append("")
            elif j == 0 and frame.first_partial:
                out.append(line.lstrip(" \t"))
            else:
                out.append(frame.common + line)
    return out


def _spaces_for_tabs(lines: list[str], frame: Frame) -> list[str]:
    """In a tab file, a line the reply wrote with spaces where the prompt showed tabs, and
    nothing else changed, becomes the line the prompt showed (then :func:`restore` gives it
    its original bytes). This catches what :func:`to_frame` cannot see: a reply without
    nested statements has no indent unit to read, so its continuation lines (``\t…\t else
    x)`` written as 37 spaces) stayed in spaces."""
    if frame.unit != "\t":
        return lines
    shown = {ln.rstrip() for ln in frame.shown}
    out = list(lines)
    for k, line in enumerate(lines):
        ws = _ws(line)
        if not line.strip() or "\t" in ws or len(ws) < 2 or line.rstrip() in shown:
            continue
        for width in (4, 8, 2):
            levels, extra = divmod(len(ws), width)
            candidate = "\t" * levels + " " * extra + line[len(ws) :]
            if candidate.rstrip() in shown:
                out[k] = candidate
                break
    return out


def fit(code: list[str], frame: Frame, *, force: bool = False) -> list[str]:
    """Document lines that replace the selection's lines, for reply lines ``code``."""
    return restore(_spaces_for_tabs(to_frame(code, frame, force=force), frame), frame)
