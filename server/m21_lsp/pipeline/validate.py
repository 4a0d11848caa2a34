"""Check a Python candidate with libcst, at a cost that does not grow with the file.

A full libcst parse of a 20,000-line module takes seconds. But only the changed spans are
new: every top-level statement outside them is the text that was there before. So the
check parses the smallest run of whole top-level statements around each span, and only
that. It is sound when the run's boundaries are real statement boundaries:

* the start is a column-0 line that begins a statement (not ``else:``/``except:``, not a
  closing bracket, not the line after a decorator), reached in a clean tokenizer state:
  :func:`pyscan.is_clean` proves there is no open string, bracket or backslash
  continuation before it, masking strings and comments with one C-speed regex pass;
* the region parses on its own, so it ends in a clean state, and its end is a column-0
  statement line that is not a clause continuing the region's last statement;
* the text after the region, read from a clean state, is itself consistent (no stray
  quote, brackets balanced), so it tokenizes as it did before the edit.

When any of that cannot be shown, the whole document is parsed instead: slower, never
wrong. Names are checked the same way: scope analysis of the region, plus C-speed searches
of the rest of the document for a definition before calling a name undefined.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, ScopeProvider

from ..errors import InvalidPython
from ..text import pyscan
from ..text.positions import LineIndex
from ..text.strings import splice

_LOCATION = re.compile(r"^(?:parser error: )?error at (\d+):(\d+): ")
_BUILTINS = frozenset(dir(builtins)) | {
    "__file__",
    "__name__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "__builtins__",
    "__path__",
    "__annotations__",
    "__dict__",
    "__class__",
    "__module__",
    "__qualname__",
    "reveal_type",
}


def region_bounds(text: str, span_start: int, span_end: int) -> tuple[int, int]:
    """Top-level statements around a changed span, including the line before it (a
    deleted body leaves its header there) and the line that holds its end."""
    return pyscan.top_level_region(text, max(span_start - 1, 0), span_end, proven=True)


def _merged_regions(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    regions: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        a, b = region_bounds(text, s, e)
        if regions and a <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(b, regions[-1][1]))
        else:
            regions.append((a, b))
    return regions


def _error_from(exc: cst.ParserSyntaxError, text: str, offset: int) -> InvalidPython:
    """An :class:`InvalidPython` naming the document's line and the parser's message."""
    message = exc.message
    line, column = exc.raw_line, exc.raw_column
    m = _LOCATION.match(message)
    if m:
        line, column = int(m.group(1)), int(m.group(2))
        message = message[m.end() :]
    index = LineIndex(text)
    first_line = index.line_of(offset)
    doc_line = first_line + line  # 1-based
    source = index.text[index.line_start(doc_line - 1) : index.line_end(doc_line - 1)].strip()
    shown = f" (`{source[:80]}`)" if source else ""
    # The line is counted in the edited document, which the user cannot open yet: say so.
    return InvalidPython(
        f"Syntax error at line {doc_line} of the file as it would be after the edit, "
        f"column {column + 1}{shown}: {message}",
        detail=str(exc),
        line=doc_line,
    )


def _parse(text: str, start: int, end: int) -> None:
    try:
        cst.parse_module(text[start:end])
    except cst.ParserSyntaxError as exc:
        raise _error_from(exc, text, start) from None
    except RecursionError:
        raise InvalidPython("The code is nested too deeply to check.", line=None) from None


def plan_regions(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """Regions whose separate parses decide the whole document, or ``None`` when the
    boundaries cannot be shown sound (then only a full parse will do).

    Each region starts at a boundary proven clean from the top of the file; its end is
    clean once the region parses; the text after the last region must read cleanly too.
    """
    regions = _merged_regions(text, spans)
    prev = 0
    for a, b in regions:
        if a < prev:
            return None
        prev = b
    if prev < len(text) and not pyscan.clean_between(text, prev, len(text)):
        return None
    return regions


def check_python(new_text: str, changed_spans: Sequence[tuple[int, int]]) -> None:
    """Raise :class:`InvalidPython` (document line and parser message) if the document no
    longer parses because of the changed spans. Parses only the regions around them."""
    if not changed_spans:
        return
    regions = plan_regions(new_text, changed_spans)
    if regions is None:
        _parse(new_text, 0, len(new_text))
        return
    for a, b in regions:
        _parse(new_text, a, b)


# --- names -----------------------------------------------------------------------------


def _dedent(code: str) -> str:
    lines = code.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    widths = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
    cut = min(widths, default=0)
    return "\n".join(ln[cut:] if ln.strip() else "" for ln in lines)


def _target_names(node: cst.CSTNode) -> list[str]:
    """Names bound by an assignment target (``a``, ``a, b``, ``[a, *b]``); attribute and
    subscript targets bind nothing new."""
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, cst.Tuple | cst.List):
        return [n for el in node.elements for n in _target_names(el.value)]
    if isinstance(node, cst.StarredElement):
        return _target_names(node.value)
    return []


def _bound_at_top(body: Sequence[cst.CSTNode], names: dict[str, bool]) -> None:
    """Collect names bound by top-level statements, looking into ``if``/``try``/``for``/
    ``with`` bodies (still module level) but not into functions or classes."""
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            names[stmt.name.value] = True
            continue
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    for target in small.targets:
                        for n in _target_names(target.target):
                            names.setdefault(n, False)
                elif isinstance(small, cst.AnnAssign | cst.AugAssign):
                    for n in _target_names(small.target):
                        names.setdefault(n, False)
                elif isinstance(small, cst.Import | cst.ImportFrom) and not isinstance(
                    small.names, cst.ImportStar
                ):
                    for alias in small.names:
                        if alias.asname is not None:
                            bound = alias.asname.name
                            names.setdefault(
                                bound.value if isinstance(bound, cst.Name) else "", False
                            )
                        else:
                            dotted = cst.Module([]).code_for_node(alias.name)
                            names.setdefault(dotted.split(".")[0], False)
            continue
        if isinstance(stmt, cst.For):
            for n in _target_names(stmt.target):
                names.setdefault(n, False)
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None:
                    for n in _target_names(item.asname.name):
                        names.setdefault(n, False)
        for attr in ("body", "orelse", "finalbody"):
            child = getattr(stmt, attr, None)
            if isinstance(child, cst.IndentedBlock):
                _bound_at_top(child.body, names)
            elif isinstance(child, cst.Else | cst.Finally):
                _bound_at_top(child.body.body, names)
            elif isinstance(child, cst.If):
                _bound_at_top([child], names)
        for handler in getattr(stmt, "handlers", ()):
            _bound_at_top(handler.body.body, names)
    names.pop("", None)


def _module_level_names(code: str) -> dict[str, bool] | None:
    """Names ``code`` binds at its top level, each marked True for ``def``/``class``.
    ``None`` if the code does not parse on its own (a partial selection)."""
    try:
        module = cst.parse_module(_dedent(code))
    except (cst.ParserSyntaxError, RecursionError):
        return None
    names: dict[str, bool] = {}
    _bound_at_top(module.body, names)
    return names


def _defined_in_document(name: str, text: str) -> bool:
    """A definition of ``name`` anywhere in the document, found with C-speed searches:
    deliberately generous, as a missed definition would be a false warning."""
    n = re.escape(name)
    pattern = (
        rf"(?m)^[ \t]*(?:async[ \t]+)?def[ \t]+{n}\b|^[ \t]*class[ \t]+{n}\b"
        rf"|\bimport\b[^\n]*\b{n}\b|\bas[ \t]+{n}\b|\bfor\b[^\n]*\b{n}\b[^\n]*\bin\b"
        rf"|\b{n}[ \t]*(?::[^=\n]*)?=(?!=)|\b{n}[ \t]*:=|\bglobal\b[^\n]*\b{n}\b"
        rf"|\bnonlocal\b[^\n]*\b{n}\b|[(,][ \t]*\*{{0,2}}{n}[ \t]*[,):=]"
        rf"|^[ \t]*{n}[ \t]*[,)=:]|\bexcept\b[^\n]*\bas[ \t]+{n}\b"
    )
    return re.search(pattern, text) is not None


_STAR_TAIL = re.compile(r"import[ \t]+\*")
_STAR_HEAD = re.compile(r"[ \t]*from[ \t]+\S+[ \t]+")


def _star_import(text: str) -> bool:
    """A ``from m import *`` line (``(?m)^[ \\t]*from[ \\t]+\\S+[ \\t]+import[ \\t]+\\*``).

    That pattern, run over the whole file, tries every line start in Python's regex
    engine; ``import *`` is rare, so its literal prefix is searched for instead (at C
    speed) and only the lines holding it are checked with the head of the pattern.
    """
    for m in _STAR_TAIL.finditer(text):
        line = text.rfind("\n", 0, m.start()) + 1
        if _STAR_HEAD.fullmatch(text, line, m.start()):
            return True
    return False


def _unresolved_near(text: str, a: int, b: int, start: int, end: int) -> set[str]:
    """Names read inside ``text[start:end]`` that no scope of the region ``text[a:b]``
    defines, analysing the fewest top-level statements that settle it.

    Scope analysis costs about as much per statement as parsing does several times over,
    and the validated region also holds the statement above the span (where a deleted
    body leaves its header). So the statements the span touches are analysed alone
    first. That answer is the region's unless a name it reports unresolved appears in the
    region's other statements: only those could bind it there (module scope), and adding
    statements never unbinds a name. Then, or when those statements do not parse on their
    own, the whole region is analysed, as before.
    """
    ia, ib = pyscan.top_level_region(text, start, max(end - 1, start), proven=True)
    if a <= ia and ib <= b and (ia, ib) != (a, b) and ia <= start and end <= ib:
        inner = _unresolved_in(text[ia:ib], start - ia, end - ia)
        if inner is not None:
            outer = text[a:ia] + "\n" + text[ib:b]
            if not any(re.search(rf"\b{re.escape(name)}\b", outer) for name in inner):
                return inner
    return _unresolved_in(text[a:b], start - a, end - a) or set()


def _unresolved_in(region: str, lo: int, hi: int) -> set[str] | None:
    """Names read inside ``region[lo:hi]`` that no scope of the region defines; None
    when the region does not parse on its own."""
    try:
        module = cst.parse_module(region)
    except (cst.ParserSyntaxError, RecursionError):
        return None
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    scopes = wrapper.resolve(ScopeProvider)
    positions = wrapper.resolve(PositionProvider)
    index = LineIndex(region)
    first_line = index.line_of(lo) + 1
    last_line = index.line_of(max(hi - 1, lo)) + 1
    missing: set[str] = set()
    seen: set[int] = set()
    for scope in {id(s): s for s in scopes.values() if s is not None}.values():
        if id(scope) in seen:
            continue
        seen.add(id(scope))
        for access in scope.accesses:
            if access.referents:
                continue
            name = access.node.value if isinstance(access.node, cst.Name) else None
            if not name or name in _BUILTINS:
                continue
            pos = positions.get(access.node)
            if pos is not None and first_line <= pos.start.line <= last_line:
                missing.add(name)
    return missing


def name_warnings(
    old_selection: str,
    replacement: str,
    new_document: str,
    span: tuple[int, int] | None = None,
) -> list[str]:
    """Warnings for names the edit loses or leaves undefined (shown with the edit).

    * a name the selection defined at its top level that the replacement no longer
      defines: always for ``def``/``class``; for variables only when code outside the
      replacement still mentions them (a renamed local is not worth a warning);
    * a name the replacement reads that nothing defines: not its region (scope analysis),
      not the rest of the document (definition search), not builtins.

    ``span`` is where the replacement stands in ``new_document`` (the candidate knows);
    without it the replacement is searched for, which costs a scan of the document and
    finds the first copy of code the file repeats.
    """
    warnings: list[str] = []
    if span is not None and new_document[span[0] : span[1]] == replacement:
        start, end = span
    else:
        start = new_document.find(replacement) if replacement else -1
        end = start + len(replacement) if start >= 0 else -1

    # The top-level statements around the replacement: both checks below look there.
    bounds = region_bounds(new_document, start, end) if start >= 0 else None
    old_names = _module_level_names(old_selection)
    new_names = _module_level_names(replacement)
    if old_names is not None and new_names is not None:
        outside: str | None = None
        if bounds is not None:
            indented = replacement[:1] in (" ", "\t")
            r0, r1 = bounds if indented else (0, len(new_document))
            outside = "".join((new_document[r0:start], "\n", new_document[end:r1]))
        for name, is_def in sorted(old_names.items()):
            if name in new_names or (name.startswith("__") and not is_def):
                continue  # a dunder method (``__init__``) lost is worth a warning too
            if is_def:
                warnings.append(
                    f"`{name}` was defined by the selected code but the new code no longer "
                    "defines it."
                )
                continue
            if outside is not None and re.search(rf"\b{re.escape(name)}\b", outside):
                warnings.append(
                    f"`{name}` was assigned by the selected code and is used elsewhere, "
                    "but the new code no longer assigns it."
                )

    if bounds is not None:
        a, b = bounds
        # The region's scopes first: the document-wide searches (a star import, a definition
        # elsewhere) are only made for names the region leaves unresolved, which is rare.
        unresolved = _unresolved_near(new_document, a, b, start, end)
        if unresolved and not _star_import(new_document):
            rest = splice(new_document, a, b, "\n")
            for name in sorted(unresolved):
                if not _defined_in_document(name, rest):
                    warnings.append(
                        f"`{name}` is used by the new code but is not defined or imported anywhere."
                    )
    return warnings
