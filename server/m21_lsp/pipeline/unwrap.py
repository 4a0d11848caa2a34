"""Take the selection's part out of a reply that wraps it in what encloses it.

Asked to rewrite a method, models often answer with its ``class`` line around it, with or
without the other members, with "rest unchanged" comments, or with the whole file. Spliced
as it is, such a reply puts a second ``class K:`` inside ``K``. Text matching cannot tell
which repeated lines are context when the selection sits far below its header, so this
works on syntax: the chain of blocks that enclose the selection in the document (read
with :mod:`ast` from the top-level statement that holds it, so the cost does not grow with
the file) is followed down the reply by name (``class``/``def``) or header text (``if``,
``for``, ``with``…). At the innermost level, members that stand outside the selection in
the document (by name for definitions, by syntax tree for other statements) and
placeholders (``pass``, ``...``) are dropped from both ends; what is left, with its
decorators, is the selection's replacement.

Anything the reply adds outside the selection that the document does not have (a new
helper function beside the class) cannot be placed: that is refused, never dropped.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from ..errors import ReplyError
from ..text import pyscan

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Level:
    """One block that encloses the selection, and its other statements."""

    kind: str  # "class", "def" or "other"
    name: str  # the definition's name, or the normalized header line
    siblings_names: set[str] = field(default_factory=set)
    siblings_dumps: set[str] = field(default_factory=set)
    has_docstring_outside: bool = False
    body_index: int = 0  # which of the block's bodies (body, else, a handler…) holds it


@dataclass
class Chain:
    levels: list[Level]
    selection_names: set[str]
    selection_dumps: set[str]
    selection_starts_with_comment: bool


def _first_line(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", None) or []
    return min([node.lineno, *(d.lineno for d in decorators)])  # type: ignore[attr-defined]


def _header(node: ast.AST, lines: list[str]) -> str:
    return " ".join(lines[node.lineno - 1].split())  # type: ignore[attr-defined]


def _level_of(node: ast.AST, lines: list[str]) -> tuple[str, str]:
    if isinstance(node, ast.ClassDef):
        return "class", node.name
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return "def", node.name
    return "other", _header(node, lines)


def _bodies(node: ast.AST) -> list[list[ast.stmt]]:
    out: list[list[ast.stmt]] = []
    for attr in ("body", "orelse", "finalbody"):
        value = getattr(node, attr, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            out.append(value)
    for handler in getattr(node, "handlers", None) or []:
        out.append(handler.body)
    for case in getattr(node, "cases", None) or []:
        out.append(case.body)
    return out


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_placeholder(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Pass) or (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is Ellipsis
    )


def _dump(stmt: ast.stmt) -> str:
    return ast.dump(stmt, annotate_fields=False, include_attributes=False)


def enclosing_chain(text: str, start: int, end: int) -> Chain | None:
    """The blocks enclosing ``text[start:end]``, outermost first; ``None`` when the
    selection is at module level, does not parse around, or starts mid-line."""
    if text[pyscan.line_start(text, start) : start].strip(" \t"):
        return None
    a, b = pyscan.top_level_region(text, start, max(end - 1, start), proven=True)
    try:
        tree = ast.parse(text[a:b])
    except (SyntaxError, ValueError, RecursionError):
        return None
    lines = text[a:b].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = _line_no(text, a, start)
    last = _line_no(text, a, max(end - 1, start))
    levels: list[Level] = []
    body: list[ast.stmt] = tree.body
    while True:
        holder = next(
            (
                s
                for s in body
                if _first_line(s) < first and (s.end_lineno or s.lineno) >= last and _bodies(s)
            ),
            None,
        )
        if holder is None:
            break
        index, inner = next(
            (
                (k, blk)
                for k, blk in enumerate(_bodies(holder))
                if _first_line(blk[0]) <= last and (blk[-1].end_lineno or 0) >= first
            ),
            (0, None),
        )
        if inner is None:
            break
        kind, name = _level_of(holder, lines)
        level = Level(kind, name, body_index=index)
        for s in inner:
            if (s.end_lineno or s.lineno) < first or _first_line(s) > last:
                if isinstance(s, _DEFS):
                    level.siblings_names.add(s.name)
                level.siblings_dumps.add(_dump(s))
        level.has_docstring_outside = _is_docstring(inner[0]) and (inner[0].end_lineno or 0) < first
        levels.append(level)
        body = inner
    if not levels:
        return None
    selected = [s for s in body if _first_line(s) >= first and (s.end_lineno or s.lineno) <= last]
    first_text = next((ln for ln in lines[first - 1 : last] if ln.strip()), "")
    return Chain(
        levels=levels,
        selection_names={s.name for s in selected if isinstance(s, _DEFS)},
        selection_dumps={_dump(s) for s in selected},
        selection_starts_with_comment=first_text.lstrip().startswith("#"),
    )


def _line_no(text: str, a: int, pos: int) -> int:
    """1-based line of ``pos`` counted from the line starting at ``a``."""
    segment = text[a : pyscan.line_start(text, pos)]
    return segment.count("\n") + segment.count("\r") - segment.count("\r\n") + 1


def _dedent_lines(lines: list[str]) -> list[str]:
    kinds = pyscan.line_kinds(lines)
    widths = [
        pyscan.indent_width(lines[k])
        for k, (kind, _o) in enumerate(kinds)
        if kind == pyscan.STATEMENT
    ]
    cut = min(widths, default=0)
    out = []
    for line in lines:
        ws = len(line) - len(line.lstrip(" \t"))
        out.append(
            line[min(ws, cut) :] if pyscan.indent_width(line[:ws]) >= cut else line.lstrip(" \t")
        )
    return out


class _Doc:
    """Whitespace-folded document text, for "does the document already have this?"."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._folded: str | None = None

    def has(self, segment: str) -> bool:
        if self._folded is None:
            self._folded = " ".join(self.text.split())
        return " ".join(segment.split()) in self._folded


def unwrap(code: str, text: str, start: int, end: int) -> str | None:
    """The part of ``code`` that replaces ``text[start:end]`` when ``code`` wraps it in
    enclosing blocks; ``None`` when it does not (then the code is used as it is).

    Raises :class:`ReplyError` when the wrapper adds code outside the selection that the
    document does not have.
    """
    chain = enclosing_chain(text, start, end)
    if chain is None:
        return None
    raw_lines = code.replace("\r\n", "\n").split("\n")
    lines = _dedent_lines(raw_lines)
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError):
        return None
    paths = [
        path
        for k in range(len(chain.levels))
        for path in _descents(tree.body, chain.levels[k:], lines)
        if path
    ]
    if not paths:
        return None
    # Several blocks may share a header (``if _WINDOWS:`` twice in a module): prefer the
    # one whose innermost body holds the selection's own definitions or statements.
    outer = max(paths, key=lambda path: _overlap(path[-1], chain))
    _nodes, node, matched = outer[-1]
    doc = _Doc(text)
    imports: list[str] = []
    for body, kept, _level in outer:
        for stmt in body:
            if stmt is kept or _is_placeholder(stmt) or _is_docstring(stmt):
                continue
            segment = "\n".join(lines[_first_line(stmt) - 1 : stmt.end_lineno])
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                if not doc.has(segment):
                    imports.append(segment.strip())
                continue
            if isinstance(stmt, _DEFS) and _defines(text, stmt.name):
                continue
            if not doc.has(segment):
                what = (
                    f"`{stmt.name}`"
                    if isinstance(stmt, _DEFS)
                    else f"`{lines[stmt.lineno - 1].strip()[:60]}`"
                )
                raise ReplyError(
                    f"The model's reply also adds {what} outside the selected code, which "
                    "cannot be applied with it, so nothing was changed. Select the code that "
                    "should change together and try again."
                )
    innermost = chain.levels[-1]
    if matched is not innermost:  # the reply left out the blocks below ``matched``
        innermost = Level(
            matched.kind,
            matched.name,
            siblings_names=matched.siblings_names | innermost.siblings_names,
            siblings_dumps=matched.siblings_dumps | innermost.siblings_dumps,
            has_docstring_outside=matched.has_docstring_outside,
        )
    members = _body(node, matched)
    core = [k for k, stmt in enumerate(members) if not _sibling(stmt, k, innermost, chain)]
    if not core:
        return None
    first_stmt, last_stmt = members[core[0]], members[core[-1]]
    lo = _first_line(first_stmt) - 1
    if chain.selection_starts_with_comment:
        while lo > 0 and lines[lo - 1].lstrip().startswith("#"):
            lo -= 1
    else:
        lo = _added_comments_above(lines, lo, text, start)
    hi = last_stmt.end_lineno or last_stmt.lineno
    body_lines = raw_lines[lo:hi]  # as the model indented them: reindent reads that
    if imports:
        body_lines = [*imports, "", *body_lines]
    return "\n".join(body_lines) + "\n"


def _added_comments_above(lines: list[str], lo: int, text: str, start: int) -> int:
    """``lo`` moved up over the comment lines the reply put right above the selection's
    first statement that the document does not have above the selection (those are context
    the model repeated, such as comments under the enclosing header). A line added at the
    selection's edge belongs to the selection (issue 19: "# Reviewed." above a method in a
    whole-file reply was dropped and the reply called unchanged)."""
    if lo == 0 or not lines[lo - 1].lstrip().startswith("#"):
        return lo
    line_start = text.rfind("\n", 0, start) + 1
    window = text[max(0, line_start - _COMMENT_REACH) : line_start]
    known = {line.strip() for line in window.splitlines() if line.lstrip().startswith("#")}
    while lo > 0 and lines[lo - 1].lstrip().startswith("#") and lines[lo - 1].strip() not in known:
        lo -= 1
    return lo


# How far above the selection (in characters) a comment the reply repeats is looked for.
_COMMENT_REACH = 64 * 1024


def _body(node: ast.stmt, level: Level) -> list[ast.stmt]:
    bodies = _bodies(node)
    return bodies[level.body_index] if level.body_index < len(bodies) else []


Step = tuple[list[ast.stmt], ast.stmt, "Level"]


def _descents(nodes: list[ast.stmt], levels: list[Level], lines: list[str]) -> list[list[Step]]:
    """Every way down the reply's blocks matching ``levels`` (by name or header), each a
    list of (the statements a block was found in, the block, the level it matched).

    Models repeat ``class`` and ``def`` headers but often leave out an ``if``/``try``/
    ``with`` between them, so such a level may be skipped (an empty tail means the path
    ends at the block above).
    """
    level, rest = levels[0], levels[1:]
    found: list[list[Step]] = []
    if level.kind == "other":
        found.extend(_descents(nodes, rest, lines) if rest else [[]])
    for node in nodes:
        kind, name = _level_of(node, lines)
        if kind != level.kind or name != level.name or not _bodies(node):
            continue
        if not rest:
            found.append([(nodes, node, level)])
            continue
        for tail in _descents(_body(node, level), rest, lines):
            found.append([(nodes, node, level), *tail])
    return found


def _overlap(step: Step, chain: Chain) -> int:
    _nodes, node, level = step
    return sum(
        1
        for stmt in _body(node, level)
        if (isinstance(stmt, _DEFS) and stmt.name in chain.selection_names)
        or _dump(stmt) in chain.selection_dumps
    )


def _defines(text: str, name: str) -> bool:
    return (
        re.search(rf"(?m)^[ \t]*(?:async[ \t]+def|def|class)[ \t]+{re.escape(name)}\b", text)
        is not None
    )


def _sibling(stmt: ast.stmt, index: int, level: Level, chain: Chain) -> bool:
    """A member that stands outside the selection in the document, or a placeholder."""
    if isinstance(stmt, _DEFS):
        if stmt.name not in chain.selection_names:
            return stmt.name in level.siblings_names
        if stmt.name not in level.siblings_names:
            return False
        # A name the selection shares with a sibling (a property's getter and setter, an
        # overload): a member written exactly as that sibling is in the document is it.
        dump = _dump(stmt)
        return dump in level.siblings_dumps and dump not in chain.selection_dumps
    dump = _dump(stmt)
    if dump in chain.selection_dumps:
        return False
    if index == 0 and _is_docstring(stmt) and level.has_docstring_outside:
        return True
    if _is_placeholder(stmt):
        return True
    return dump in level.siblings_dumps


# ----------------------------------------------------------------- brace languages

# How alike the selection and a wrapped reply's middle must be (a rewrite keeps most of
# its text; a whole-file reply read as a wrapper leaves far more than the selection).
_ALIKE = 0.5
_CLOSER = re.compile(r"^\}[\s}\]);,]*$")


def brace_balance(lines: list[str]) -> int:
    """``{`` minus ``}`` over ``lines``, ignoring quoted text and ``//`` comments (a
    rough count, enough to compare a reply's middle with the selection)."""
    total = 0
    for line in lines:
        line = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|//.*', "", line)
        total += line.count("{") - line.count("}")
    return total


def bracket_balance(lines: list[str]) -> int:
    """Opening minus closing brackets of every kind over ``lines`` (as :func:`brace_balance`)."""
    total = 0
    for line in lines:
        line = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|//.*', "", line)
        total += sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")
    return total


def _width(line: str) -> int:
    return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())


def _header_lines(above: list[str], width: int) -> list[str]:
    """The stripped header lines of the blocks that enclose a line indented ``width``,
    outermost first: each line above indented less than everything between it and the
    selection (the line that opens the block), with the lines of the same header above
    it (parameters, ``where`` clauses, attributes, a doc comment), up to a blank line or
    the end of the statement before."""
    found: list[int] = []
    k = len(above) - 1
    while k >= 0 and width > 0:
        line = above[k]
        if line.strip() and _width(line) < width and line.rstrip().endswith("{"):
            # Only a line that opens a block encloses: a less indented ``}`` or comment
            # above the selection belongs to something that ended before it.
            width = _width(line)
            found.append(k)
            # A header the line opens on a later line (``f(a,\n  b) {``) continues it.
            j = k + 1
            while not above[j - 1].rstrip().endswith("{") and j < len(above) and j - k <= 12:
                found.append(j)
                j += 1
            # A header whose opening line closes brackets (``}[] {`` ending a return
            # type) began where they were opened.
            head = above[k].rstrip()
            balance = bracket_balance([head[:-1] if head.endswith("{") else head])
            j = k - 1
            while j >= 0 and balance < 0 and k - j <= 24:
                found.append(j)
                balance += bracket_balance([above[j]])
                j -= 1
            while j >= 0 and k - j <= 12:
                prev = above[j].rstrip()
                if not prev.strip() or prev.endswith((";", "{", "}")):
                    break
                found.append(j)
                j -= 1
            k = j
            continue
        k -= 1
    return [above[k].strip() for k in sorted(set(found))]


def _shared_prefix(items: list[str]) -> str:
    """The longest string every item starts with."""
    if not items:
        return ""
    shortest = min(items, key=len)
    for k, char in enumerate(shortest):
        if any(item[k] != char for item in items):
            return shortest[:k]
    return shortest


def _between_closers(
    lines: list[str], first: int, matched_end: int, sel_lines: list[str]
) -> list[str] | None:
    """The reply lines after the headers ``lines[first:matched_end]`` and before the
    ``}`` lines that close them, when there are exactly as many closers as headers
    open and the part left balances its braces as the selection does."""
    opened = brace_balance(lines[first:matched_end])
    if opened <= 0:
        return None
    tail_start = len(lines)
    closed = 0
    while tail_start > matched_end and closed < opened:
        last = lines[tail_start - 1].strip()
        if not last:
            tail_start -= 1
            continue
        if not _CLOSER.match(last):
            break
        closed += last.count("}")
        tail_start -= 1
    middle = lines[matched_end:tail_start]
    if closed != opened or not any(ln.strip() for ln in middle):
        return None
    if brace_balance(middle) != brace_balance(sel_lines):
        return None
    return middle


def unwrap_braces(code: str, text: str, start: int, end: int) -> str | None:
    """The selection's part of a brace-language reply that repeats the headers of the
    blocks around it (``impl Foo {``, ``class K {``, ``func (s *S) Run() {``) and closes
    them again, dedented; ``None`` when the reply does not look like that.

    The headers are recognised as a run of the reply's leading lines that repeats, in
    order, lines above the selection indented less than it, opening as many blocks as the
    reply closes with ``}`` lines at its end; what is left must open and close braces as
    the selection does, so a reply that merely starts like its surroundings is kept whole.
    """
    lines = code.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    first = next((k for k, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        return None
    sel_lines = text[start:end].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    line_begin = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    sel_first = next((ln for ln in sel_lines if ln.strip()), "")
    sel_width = _width(text[line_begin:start] + sel_first) if sel_lines else 0
    above = text[:line_begin].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    outer = _header_lines(above, sel_width)
    # Leading reply lines found, in order, among the enclosing lines; each one that opens
    # a block is a place where the selection's part may begin.
    pos = 0
    k = first
    ends: list[int] = []
    while k < len(lines):
        stripped = lines[k].strip()
        if not stripped:
            k += 1
            continue
        try:
            pos = outer.index(stripped, pos) + 1
        except ValueError:
            break
        k += 1
        if stripped.endswith("{"):
            ends.append(k)
    # The selection's own first line may read like an enclosing header (``if ok {``
    # inside ``if ok {``): of the places, the one whose middle is most like the selection.
    wanted = "\n".join(ln.strip() for ln in sel_lines if ln.strip())
    best: tuple[float, list[str]] | None = None
    for matched_end in ends:
        middle = _between_closers(lines, first, matched_end, sel_lines)
        if middle is None:
            continue
        got = "\n".join(ln.strip() for ln in middle if ln.strip())
        matcher = SequenceMatcher(None, wanted, got, autojunk=False)
        if matcher.real_quick_ratio() < _ALIKE or matcher.quick_ratio() < _ALIKE:
            continue  # far longer or other text: the whole file, not a wrapped selection
        ratio = matcher.ratio()
        if ratio >= _ALIKE and (best is None or ratio > best[0]):
            best = (ratio, middle)
    if best is None:
        return None
    # The reply taken whole may be the selection itself: an inner ``if ok {`` repeated
    # under an outer ``if ok {`` reads like a wrapper around its own body. Unwrapping must
    # make the reply more like the selection, or it would drop the selection's header.
    whole = "\n".join(ln.strip() for ln in lines[first:] if ln.strip())
    if SequenceMatcher(None, wanted, whole, autojunk=False).ratio() >= best[0]:
        return None
    middle = best[1]
    # Only whitespace every line shares is taken off: a line indented otherwise (inside a
    # template literal, say) keeps what it has beyond that.
    prefix = _shared_prefix([ln[: len(ln) - len(ln.lstrip(" \t"))] for ln in middle if ln.strip()])
    out = [ln[len(prefix) :] if ln.startswith(prefix) else ln for ln in middle]
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out) + "\n"
