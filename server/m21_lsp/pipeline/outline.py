"""The structural guard: an edit that parses can still be wrong.

A method spliced with a repeated ``class K:`` around it parses, and so does a docstring
whose lines moved left; both passed every other check once. So before an edit leaves the
pipeline, the file's outline (the nesting path of every class and function, ``K.n``,
``K.__init__``, ``f.<locals>.g``) is compared before and after:

* every definition outside the selection keeps its path, and so do the definitions that
  enclose it;
* definitions in the selection keep their level (a method stays a method of the same
  class): none of them ends up inside a new definition, and no new definition repeats the
  name of the class or function that encloses the selection;
* a multi-line string of the selection that the reply gave back (same lines, whatever
  their indentation) keeps its value byte for byte.

Only the top-level statements around the change are parsed (with :mod:`ast`), so the cost
does not grow with the file. :func:`check` returns what the edit did wrong, in words for
the user, or ``None``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..text import pyscan

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Definition:
    path: str  # "K.n", "f.<locals>.g"
    name: str
    kind: str  # "class" or "def"
    first: int  # 1-based lines in the parsed region, decorators included
    last: int
    parent: Definition | None


def _walk(
    body: list[ast.stmt], prefix: str, parent: Definition | None, out: list[Definition]
) -> None:
    for node in body:
        if isinstance(node, _DEFS):
            kind = "class" if isinstance(node, ast.ClassDef) else "def"
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            definition = Definition(
                prefix + node.name, node.name, kind, first, node.end_lineno or node.lineno, parent
            )
            out.append(definition)
            inner = definition.path + ("." if kind == "class" else ".<locals>.")
            _walk(node.body, inner, definition, out)
            continue
        for field in ("body", "orelse", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                _walk(value, prefix, parent, out)
        for handler in getattr(node, "handlers", None) or []:
            _walk(handler.body, prefix, parent, out)
        for case in getattr(node, "cases", None) or []:
            _walk(case.body, prefix, parent, out)


def definitions(tree: ast.Module) -> list[Definition]:
    out: list[Definition] = []
    _walk(tree.body, "", None, out)
    return out


def _strings(tree: ast.Module, first: int, last: int) -> list[tuple[int, str]]:
    """(line, value) of the multi-line string constants lying within lines first..last."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (node.end_lineno or node.lineno) > node.lineno
            and first <= node.lineno
            and (node.end_lineno or 0) <= last
        ):
            found.append((node.lineno, node.value))
    return found


def _folded(value: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in value.split("\n"))


def _line_of(text: str, base: int, pos: int) -> int:
    segment = text[base : pyscan.line_start(text, pos)]
    return segment.count("\n") + segment.count("\r") - segment.count("\r\n") + 1


def _parse(text: str, lo: int, hi: int) -> tuple[ast.Module, int] | None:
    for a, b in ((lo, hi), (0, len(text))):
        try:
            return ast.parse(text[a:b]), a
        except (SyntaxError, ValueError, RecursionError):
            if (a, b) == (0, len(text)):
                return None
    return None


def _parse_regions(
    old_text: str, old_span: tuple[int, int], new_text: str, new_span: tuple[int, int]
) -> tuple[tuple[ast.Module, int] | None, tuple[ast.Module, int] | None]:
    """The same stretch of the file parsed before and after the edit.

    Each side's region is the smallest proven one around its span; when they do not cover
    the same code (a comment added at column 0 at the selection's edge proves no boundary,
    so the new region reaches up into the function above), both sides are parsed whole:
    comparing outlines of different stretches would call a definition the old region never
    held "put outside the selection".
    """
    a, b = pyscan.top_level_region(old_text, *_last(old_span), proven=True)
    c, d = pyscan.top_level_region(new_text, *_last(new_span), proven=True)
    if a != c or len(old_text) - b != len(new_text) - d:
        a, b, c, d = 0, len(old_text), 0, len(new_text)
    return _parse(old_text, a, b), _parse(new_text, c, d)


def _last(span: tuple[int, int]) -> tuple[int, int]:
    return span[0], max(span[1] - 1, span[0])


def check(
    old_text: str,
    old_span: tuple[int, int],
    new_text: str,
    new_span: tuple[int, int],
    *,
    allow_moves: bool = False,
) -> str | None:
    """What the edit of ``old_text[old_span]`` into ``new_text[new_span]`` breaks in the
    file's structure, or ``None`` when it keeps it (or cannot be judged)."""
    old, new = _parse_regions(old_text, old_span, new_text, new_span)
    if old is None or new is None:
        return None
    (old_tree, old_base), (new_tree, new_base) = old, new
    s1 = _line_of(old_text, old_base, old_span[0])
    s2 = _line_of(old_text, old_base, max(old_span[1] - 1, old_span[0]))
    n1 = _line_of(new_text, new_base, new_span[0])
    n2 = _line_of(new_text, new_base, max(new_span[1] - 1, new_span[0]))
    old_defs, new_defs = definitions(old_tree), definitions(new_tree)

    def outside(defs: list[Definition], lo: int, hi: int) -> list[str]:
        return sorted(
            d.path for d in defs if d.last < lo or d.first > hi or (d.first < lo and d.last >= hi)
        )

    before, after = outside(old_defs, s1, s2), outside(new_defs, n1, n2)
    if before != after:
        lost = sorted(set(before) - set(after))
        gained = sorted(set(after) - set(before))
        if lost:
            moved = next((p for p in after if p.endswith("." + lost[0].rsplit(".", 1)[-1])), None)
            where = f" (it would become `{moved}`)" if moved else ""
            return f"the edit would move `{lost[0]}`, which is outside the selection{where}"
        return f"the edit would put `{gained[0]}` outside the selection"

    inside_old = [d for d in old_defs if d.first >= s1 and d.last <= s2]
    inside_new = [d for d in new_defs if d.first >= n1 and d.last <= n2]
    enclosing = [d for d in old_defs if d.first < s1 and d.last >= s2]
    holder = max(enclosing, key=lambda d: d.first, default=None)
    enclosing_names = {d.name for d in enclosing}

    def top(d: Definition, lo: int, hi: int) -> bool:
        return d.parent is None or not (d.parent.first >= lo and d.parent.last <= hi)

    old_top = {d.name for d in inside_old if top(d, s1, s2)}
    new_top = {d.name for d in inside_new if top(d, n1, n2)}
    if not allow_moves:
        for d in inside_new:
            if top(d, n1, n2) and d.name in enclosing_names and d.name not in old_top:
                where = f"`{holder.path}`" if holder else "itself"
                return f"the reply nests `{d.kind} {d.name}` inside {where}"
        for name in sorted(old_top - new_top):
            deeper = next((d for d in inside_new if d.name == name and not top(d, n1, n2)), None)
            if deeper is not None:
                old_path = next(d.path for d in inside_old if d.name == name and top(d, s1, s2))
                return f"the edit would move `{old_path}` to `{deeper.path}`"

    old_strings = {_folded(v): v for _line, v in _strings(old_tree, s1, s2)}
    for line, value in _strings(new_tree, n1, n2):
        original = old_strings.get(_folded(value))
        if original is not None and original != value:
            doc_line = new_text.count("\n", 0, new_base) + line
            return (
                "the edit would change the indentation inside the multi-line string at "
                f"line {doc_line}, which the reply did not change"
            )
    return None
