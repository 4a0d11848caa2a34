"""Seeded fidelity cases drawn from real code installed on this machine.

Nobody on this project wrote the documents: they are standard-library and site-packages
modules, sometimes converted to tabs or CRLF. Each case is a selection, a model reply in
one of the ways a reasoning model presents code, and the document the edit must produce:

* ``repeat`` replies give back exactly what the prompt showed (read out of the real
  prompt), so the expected document is the original one: "unchanged", no edit;
* transformation replies (rename a local, add a comment, add a docstring, ``ast.unparse``
  one statement) are derived from an expected document that this module builds by editing
  the original at known positions, never by running the code under test.

Everything is decided by ``random.Random(seed)``; the list of candidate files is sorted,
so one seed gives the same cases on machines with the same Python and packages. What the
draw covers does not depend on luck or on which packages are installed: variants, kinds,
presentations and transformations are handed out in turn (the least used first), files are
drawn until every one of them has come up, and the final cut keeps one case of each before
filling up at random (:func:`generate`). The standard library alone holds every kind, so any
machine that ran the README's install can cover them all.

The whitespace shapes of issue 19 are in the draw: whitespace-only lines inside blocks (the
``blankws`` variant), tab-plus-space continuation lines (``tabs``), a comment added just
above the selection's first line (``comment-above``, in wrapped and whole-file replies too),
spaces written for tabs around multi-line strings (``reindent4`` on ``tabs``), and module-level
statements after a function (the ``module`` kind).
"""

from __future__ import annotations

import ast
import collections
import io
import random
import re
import sys
import sysconfig
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from m21_lsp.pipeline import prompt

# Site-packages that `.[test]` installs, so CI has them too.
PACKAGES = (
    "libcst", "httpx", "httpcore", "pygls", "lsprotocol", "hypothesis", "cattrs", "attr",
    "_pytest", "pytest_lsp", "anyio", "h11", "idna", "sniffio", "pytest_asyncio",
)  # fmt: skip

KINDS = (
    "method", "dunder", "decorated", "async", "nested", "class", "function",
    "statements", "midline", "module",
)  # fmt: skip
PRESENTATIONS = (
    "dedented", "original", "wrapped", "siblings", "placeholders", "wholefile",
    "think-prose", "fences", "unlabelled", "py", "reindent4",
)  # fmt: skip
TRANSFORMS = ("rename", "comment", "docstring", "unparse", "comment-above")
FAMILIES = ("repeat", *TRANSFORMS)
VARIANTS = ("original", "tabs", "crlf", "blankws")
# Presentations of one selection per family: few, so a draw spreads over many selections.
PER_FAMILY = 3


@dataclass(frozen=True)
class Case:
    """One selection, one reply, and the document the edit must produce."""

    id: str
    kind: str
    presentation: str
    family: str  # "repeat" or a transformation
    variant: str  # one of VARIANTS
    text: str
    start: int
    end: int
    reply: str
    expected: str
    language: str = "python"  # the LSP language id the request carries
    path: str = "module.py"

    @property
    def selection(self) -> str:
        return self.text[self.start : self.end]


# ----------------------------------------------------------------------------- sources


def source_files() -> list[Path]:
    """Candidate modules: the standard library (no tests) and the test extra's packages."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [
        p for p in stdlib.glob("*.py") if not p.name.startswith(("test", "_pydoc", "__phello"))
    ]
    for sub in ("json", "email", "asyncio", "concurrent/futures", "importlib", "logging",
                "http", "urllib", "xml/dom", "unittest", "collections", "tomllib"):  # fmt: skip
        files.extend(sorted((stdlib / sub).glob("*.py")))
    for entry in map(Path, sys.path):
        # Debian's Python installs packages into dist-packages.
        if entry.name not in ("site-packages", "dist-packages") or not entry.is_dir():
            continue
        for pkg in PACKAGES:
            root = entry / pkg
            if root.is_dir():
                files.extend(p for p in sorted(root.rglob("*.py")) if "tests" not in p.parts)
    return sorted(set(files))


def _read(path: Path) -> str | None:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not 1_500 <= len(text) <= 250_000 or "\r" in text or "\f" in text or "\x00" in text:
        return None
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return None
    return text


def _string_lines(text: str) -> set[int]:
    """0-based lines that begin inside a multi-line string token (f-strings included)."""
    inside: set[int] = set()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return set(range(text.count("\n") + 1))
    open_fstring: list[int] = []
    for tok in tokens:
        name = tokenize.tok_name[tok.type]
        if name == "FSTRING_START":
            open_fstring.append(tok.start[0])
        elif name == "FSTRING_END" and open_fstring:
            first = open_fstring.pop()
            inside.update(range(first, tok.end[0]))
        elif tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            inside.update(range(tok.start[0], tok.end[0]))  # 1-based start -> next lines
    return inside


def to_tabs(text: str) -> str | None:
    """The module with each 4-space indentation level as a tab, outside strings; ``None``
    when the file does not indent in fours or the conversion changes its meaning."""
    inside = _string_lines(text)
    lines = text.split("\n")
    out = []
    for k, line in enumerate(lines):
        body = line.lstrip(" ")
        width = len(line) - len(body)
        if k in inside or not body or "\t" in line[:width]:
            out.append(line)
            continue
        tabs, extra = divmod(width, 4)
        out.append("\t" * tabs + " " * extra + body)
    new = "\n".join(out)
    try:
        same = ast.dump(ast.parse(new)) == ast.dump(ast.parse(text))
    except (SyntaxError, ValueError):
        return None
    return new if same and new != text else None


def blank_ws(text: str) -> str | None:
    """The module with each blank line inside an indented block (outside strings) holding
    the indentation of the next line, as many editors leave them; ``None`` when there is
    no such line."""
    inside = _string_lines(text)
    lines = text.split("\n")
    out = list(lines)
    for k, line in enumerate(lines):
        if line or k in inside or k + 1 >= len(lines) or k == 0:
            continue
        nxt = lines[k + 1]
        ws = nxt[: len(nxt) - len(nxt.lstrip(" \t"))]
        prev = lines[k - 1]
        if ws and nxt.strip() and prev.strip() and prev.startswith(ws):
            out[k] = ws
    new = "\n".join(out)
    return new if new != text else None


# -------------------------------------------------------------------------- selections


@dataclass(frozen=True)
class Selection:
    kind: str
    start: int
    end: int
    node: ast.AST | None
    chain: tuple[ast.AST, ...]  # enclosing class/def nodes, outermost first


def _offsets(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


def _def_kind(node: ast.AST, chain: tuple[ast.AST, ...]) -> str:
    parent = chain[-1] if chain else None
    if isinstance(node, ast.ClassDef):
        return "class" if parent is None else "nested"
    name = node.name  # type: ignore[attr-defined]
    in_class = isinstance(parent, ast.ClassDef)
    if in_class and name.startswith("__") and name.endswith("__"):
        return "dunder"
    if node.decorator_list:  # type: ignore[attr-defined]
        return "decorated"
    if isinstance(node, ast.AsyncFunctionDef):
        return "async"
    if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        return "nested"
    return "method" if in_class else "function"


def _walk(
    node: ast.AST, chain: tuple[ast.AST, ...]
) -> Iterator[tuple[ast.AST, tuple[ast.AST, ...]]]:
    for child in ast.iter_child_nodes(node):
        yield child, chain
        inner = (
            (*chain, child)
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            else chain
        )
        yield from _walk(child, inner)


def selections(text: str, rng: random.Random) -> dict[str, list[Selection]]:
    """Every candidate selection of the module, by kind (whole lines unless ``midline``)."""
    tree = ast.parse(text)
    starts = _offsets(text)
    lines = text.split("\n")
    inside = _string_lines(text)
    found: dict[str, list[Selection]] = {k: [] for k in KINDS}

    def line_range(first: int, last: int) -> tuple[int, int]:
        end = starts[last] if last < len(starts) else len(text)
        return starts[first - 1], end

    body = tree.body
    for k in range(1, len(body)):
        # Module-level statements right after a function or class (uuid's constants).
        if not isinstance(body[k - 1], ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        run = []
        for nxt in body[k:]:
            if not isinstance(nxt, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Expr):
                break
            if _is_docstring(nxt):
                break
            run.append(nxt)
        run = run[: rng.randint(1, 3)]
        if run and not any(n in inside for n in range(run[0].lineno - 1, run[-1].end_lineno or 0)):
            a, b = line_range(run[0].lineno, run[-1].end_lineno or run[0].lineno)
            found["module"].append(Selection("module", a, b, None, ()))
    for node, chain in _walk(tree, ()):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            last = node.end_lineno or node.lineno
            if last - first > 120 or any(k in inside for k in (first - 1,)):
                continue
            a, b = line_range(first, last)
            found[_def_kind(node, chain)].append(
                Selection(_def_kind(node, chain), a, b, node, chain)
            )
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and len(node.body) >= 3:
                body = node.body
                lo = 1 if _is_docstring(body[0]) else 0
                if len(body) - lo >= 2:
                    i = rng.randrange(lo, len(body) - 1)
                    j = min(len(body), i + rng.randint(1, 4))
                    s_first, s_last = body[i].lineno, body[j - 1].end_lineno or body[j - 1].lineno
                    if hasattr(body[i], "decorator_list") and body[i].decorator_list:  # type: ignore[attr-defined]
                        s_first = min(d.lineno for d in body[i].decorator_list)  # type: ignore[attr-defined]
                    if s_last - s_first <= 60:
                        a, b = line_range(s_first, s_last)
                        found["statements"].append(
                            Selection("statements", a, b, None, (*chain, node))
                        )
        elif isinstance(node, ast.Call | ast.BinOp | ast.Compare | ast.BoolOp | ast.Subscript):
            if node.lineno != node.end_lineno or not chain:
                continue
            line = lines[node.lineno - 1]
            raw = line.encode("utf-8")
            a_col = len(raw[: node.col_offset].decode("utf-8", "replace"))
            b_col = len(raw[: node.end_col_offset].decode("utf-8", "replace"))
            segment = line[a_col:b_col]
            if len(segment) < 8 or not line[:a_col].strip() or "'''" in line or '"""' in line:
                continue
            base = starts[node.lineno - 1]
            found["midline"].append(Selection("midline", base + a_col, base + b_col, node, chain))
    return found


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


# --------------------------------------------------------------------- what the model saw


_SHOWN = re.compile(
    r"Selected code[^\n]*:\n(?P<fence>`{3,})python\n(?P<code>.*?)\n(?P=fence)(?:\n|$)", re.S
)


def shown_selection(text: str, start: int, end: int) -> str:
    """The selection exactly as the real prompt shows it to the model."""
    messages = prompt.refactor_messages(text, start, end, path="module.py")
    m = _SHOWN.search(messages[-1]["content"])
    assert m, "the prompt has no selected-code block"
    return m.group("code") + "\n"


# -------------------------------------------------------------------------- transforms


def _names_in(node: ast.AST) -> list[ast.AST]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Name | ast.arg)]


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for a, b, new in sorted(edits, reverse=True):
        text = text[:a] + new + text[b:]
    return text


def _col(lines: list[str], lineno: int, col: int) -> int:
    line = lines[lineno - 1]
    return len(line.encode("utf-8")[:col].decode("utf-8", "replace"))


def rename_local(text: str, sel: Selection) -> str | None:
    """Rename one local variable of a function inside the selection everywhere in it."""
    tree = ast.parse(text)
    starts = _offsets(text)
    lines = text.split("\n")
    sel_first = text.count("\n", 0, sel.start) + 1
    sel_last = text.count("\n", 0, max(sel.end - 1, sel.start)) + 1
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not (sel_first <= fn.lineno and (fn.end_lineno or 0) <= sel_last):
            continue
        stored = [
            n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        ]
        nested_scopes = [
            c
            for c in ast.walk(fn)
            if c is not fn
            and isinstance(
                c,
                ast.FunctionDef
                | ast.AsyncFunctionDef
                | ast.Lambda
                | ast.ClassDef
                | ast.comprehension,
            )
        ]
        declared = {
            name
            for n in ast.walk(fn)
            if isinstance(n, ast.Global | ast.Nonlocal)
            for name in n.names
        }
        for name in sorted(set(stored)):
            if name in declared or len(name) < 2 or nested_scopes:
                continue
            new = f"{name}_renamed"
            if re.search(rf"\b{re.escape(new)}\b", text):
                continue
            edits = []
            for n in ast.walk(fn):
                if isinstance(n, ast.Name) and n.id == name:
                    a = starts[n.lineno - 1] + _col(lines, n.lineno, n.col_offset)
                    edits.append((a, a + len(name), new))
            if len(edits) < 2:
                continue
            # f-strings and strings are left alone: only real Name nodes were edited.
            return _apply(text, edits)
    return None


def _statement_lines(text: str, sel: Selection) -> list[tuple[int, str]]:
    """(0-based line, indentation) of each simple-statement line that starts a statement
    inside the selection's lines and is not inside a string."""
    tree = ast.parse(text)
    sel_first = text.count("\n", 0, sel.start) + 1
    sel_last = text.count("\n", 0, max(sel.end - 1, sel.start)) + 1
    lines = text.split("\n")
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.stmt)
            and sel_first < node.lineno <= sel_last
            and not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        ):
            if getattr(node, "decorator_list", None):
                continue
            line = lines[node.lineno - 1]
            indent = line[: len(line) - len(line.lstrip(" \t"))]
            if line.strip() and line.lstrip(" \t")[:1] not in ("@",):
                out.append((node.lineno - 1, indent))
    return sorted(set(out))


def add_comment(text: str, sel: Selection, rng: random.Random) -> str | None:
    """A comment line above one statement of the selection, at its indentation."""
    candidates = _statement_lines(text, sel)
    if not candidates:
        return None
    line, indent = rng.choice(candidates)
    starts = _offsets(text)
    return _apply(text, [(starts[line], starts[line], f"{indent}# Reviewed: keep this step.\n")])


def add_comment_above(text: str, sel: Selection) -> str | None:
    """A comment line just above the selection's first line, at its indentation: the line
    a reply adds at the selection's edge (issue 19)."""
    if sel.kind == "midline":
        return None
    first = text.rfind("\n", 0, sel.start) + 1
    line = text[first : text.find("\n", first) if "\n" in text[first:] else len(text)]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    if first in _string_lines(text):
        return None
    return _apply(text, [(first, first, f"{indent}# Reviewed: checked above.\n")])


def add_docstring(text: str, sel: Selection) -> str | None:
    """A one-line docstring for the first function of the selection that has none."""
    tree = ast.parse(text)
    starts = _offsets(text)
    lines = text.split("\n")
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not (sel.start <= starts[fn.lineno - 1] < sel.end) or _is_docstring(fn.body[0]):
            continue
        first = fn.body[0]
        if first.lineno == fn.lineno or getattr(first, "decorator_list", None):
            continue  # one-line def, or a decorated first statement
        body_line = lines[first.lineno - 1]
        indent = body_line[: len(body_line) - len(body_line.lstrip(" \t"))]
        if not body_line.strip() or (first.lineno - 2) in _string_lines(text):
            continue
        return _apply(text, [(starts[first.lineno - 1],) * 2 + (f'{indent}"""Do the work."""\n',)])
    return None


def unparse_statement(text: str, sel: Selection, rng: random.Random) -> str | None:
    """One simple statement of the selection rewritten by ``ast.unparse`` (one line)."""
    tree = ast.parse(text)
    starts = _offsets(text)
    lines = text.split("\n")
    inside = _string_lines(text)
    options = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign | ast.AugAssign | ast.Return | ast.Expr | ast.AnnAssign):
            continue
        a = starts[node.lineno - 1]
        end_line = node.end_lineno or node.lineno
        if not (
            sel.start <= a and starts[end_line] <= sel.end if end_line < len(starts) else False
        ):
            continue
        if any(k in inside for k in range(node.lineno - 1, end_line)):
            continue
        if _is_docstring(node) or lines[node.lineno - 1].lstrip().startswith("@"):
            continue
        first = lines[node.lineno - 1]
        if _col(lines, node.lineno, node.col_offset) != len(first) - len(first.lstrip(" \t")):
            continue  # shares its line with something else (``if x: y = 1``)
        last = lines[end_line - 1]
        if _col(lines, end_line, node.end_col_offset or 0) != len(last.rstrip()) or "#" in last:
            continue
        new_code = ast.unparse(node)
        if "\n" in new_code:
            continue
        options.append((node, new_code))
    if not options:
        return None
    node, new_code = rng.choice(options)
    indent = lines[node.lineno - 1][: _col(lines, node.lineno, node.col_offset)]
    end_line = node.end_lineno or node.lineno
    return _apply(text, [(starts[node.lineno - 1], starts[end_line] - 1, indent + new_code)])


# ------------------------------------------------------------------------ presentations

THINK = (
    "<think>\nThe user wants the selected code back, cleaned up. Let me look at it.\n"
    "I could write ```python\nprint('draft')\n``` but that is only a thought.\n</think>\n\n"
)


def _headers(
    text: str, chain: tuple[ast.AST, ...], unit: str, selection_line: int | None = None
) -> list[str]:
    """Header lines (decorators included) of each enclosing block, each dedented by the
    outermost block's indentation and re-indented one ``unit`` a level.

    A header never reaches into the selection (1-based ``selection_line``): a comment line
    added at the selection's edge sits between the header and the first statement, and
    belongs to the selection, not to the header (else the reply would repeat it)."""
    lines = text.split("\n")
    out: list[str] = []
    for level, node in enumerate(chain):
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])  # type: ignore[attr-defined]
        member = node.body[0]  # type: ignore[attr-defined]
        body_first = min(
            [member.lineno, *(d.lineno for d in getattr(member, "decorator_list", []))]
        )
        stop = max(node.lineno, body_first - 1)  # type: ignore[attr-defined]
        if selection_line is not None:
            stop = max(node.lineno, min(stop, selection_line - 1))  # type: ignore[attr-defined]
        head = lines[first - 1 : stop]
        head = [ln for ln in head if ln.strip()]
        if not head:
            return []
        ws = len(head[0]) - len(head[0].lstrip(" \t"))
        out.extend(unit * level + ln[ws:] for ln in head)
    return out


def _indent(code: str, prefix: str) -> str:
    return "".join(prefix + ln if ln.strip() else ln for ln in code.splitlines(keepends=True))


def _reindent4(code: str, unit: str) -> str | None:
    """``code`` with each ``unit`` of statement indentation as four spaces (in a space file,
    docstrings move with their statement; in a tab file, string lines stay as they are,
    which is what a model that writes spaces for tabs and keeps a string's content does)."""
    inside = _string_lines(code)
    out = []
    shift = 0
    lines = code.split("\n")
    for k, line in enumerate(lines):
        if k in inside and unit == "\t":
            out.append(line)  # a string's content stays as the file has it: tabs and all
            continue
        if k in inside:
            if shift and line.startswith(" " * max(0, -shift)):
                line = " " * shift + line if shift > 0 else line[-shift:]
            out.append(line)
            continue
        body = line.lstrip(" \t")
        ws = line[: len(line) - len(body)]
        if unit == "\t":
            levels, extra = ws.count("\t"), ws.replace("\t", "")
        else:
            levels, rest = divmod(len(ws), len(unit))
            extra = " " * rest
        new_ws = "    " * levels + extra
        shift = len(new_ws) - len(ws) if "\t" not in ws else 0
        out.append(new_ws + body)
    return "\n".join(out)


def present(
    case_text: str, start: int, end: int, sel: Selection, how: str, unit: str
) -> str | None:
    """The model's reply that gives back ``case_text[start:end]`` presented ``how``."""
    shown = shown_selection(case_text, start, end)
    lf = case_text.replace("\r\n", "\n")
    fence = "```python"
    body = shown
    before, after = "Here is the refactored code:\n\n", "\nThis keeps the behaviour the same.\n"
    if how == "original":
        if sel.kind == "midline":
            return None
        first = case_text.rfind("\n", 0, start) + 1
        body = case_text[first:end].replace("\r\n", "\n")
    elif how in ("wrapped", "placeholders", "siblings"):
        if not sel.chain or sel.kind == "midline":
            return None
        if how == "siblings":
            node = sel.chain[-1]
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])  # type: ignore[attr-defined]
            block = "\n".join(lf.split("\n")[first - 1 : node.end_lineno]) + "\n"  # type: ignore[attr-defined]
            ws = len(block) - len(block.lstrip(" \t"))
            body = "".join(
                "\n" if not ln.strip() else ln[ws:] if not ln[:ws].strip() else ln
                for ln in block.splitlines(keepends=True)
            )
            return THINK + before + fence + "\n" + body + "```\n" + after
        heads = _headers(lf, sel.chain, unit, case_text.count("\n", 0, start) + 1)
        if not heads:
            return None
        depth = unit * len(sel.chain)
        inner = _indent(shown, depth)
        if how == "placeholders":
            inner = f"{depth}# ... other members unchanged ...\n\n{inner}\n{depth}# ... rest unchanged ...\n"
        body = "\n".join(heads) + "\n" + inner
    elif how == "wholefile":
        if sel.kind == "midline":
            return None
        body = lf if lf.endswith("\n") else lf + "\n"
    elif how == "think-prose":
        before = "I'll simplify it. Note that `x = 1` in prose is not code.\n\n"
    elif how == "fences":
        after = (
            "\nExample usage:\n\n```python\nresult = run()\nprint(result)\n```\n\n"
            "Run the tests with:\n\n```bash\npython -m pytest\n```\n"
        )
    elif how == "unlabelled":
        fence = "```"
    elif how == "py":
        fence = "```py"
    elif how == "reindent4":
        if unit == "    " or sel.kind == "midline":
            return None
        converted = _reindent4(shown, unit)
        if converted is None:
            return None
        body = converted
    if not body.endswith("\n"):
        body += "\n"
    return THINK + before + fence + "\n" + body + "```\n" + after


# -------------------------------------------------------------------------------- cases


def _unit(text: str) -> str:
    if re.search(r"(?m)^\t+\S", text):
        return "\t"
    widths = [
        len(m.group(1)) for m in re.finditer(r"(?m)^((?: {2})+)(?:def|class|if|for|return) ", text)
    ]
    if widths and min(widths) == 2:
        return "  "
    return "    "


def _variant_text(original: str, variant: str) -> str | None:
    if variant == "tabs":
        return to_tabs(original)
    if variant == "crlf":
        return original.replace("\n", "\r\n")
    if variant == "blankws":
        return blank_ws(original)
    return original


class _Usage:
    """How often each value of each dimension has come up: the least used goes next."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.counts: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )

    def order(self, dimension: str, values: list[str] | tuple[str, ...]) -> list[str]:
        shuffled = list(values)
        self.rng.shuffle(shuffled)
        return sorted(shuffled, key=lambda v: self.counts[dimension][v])

    def add(self, case: Case) -> None:
        for dimension, value in _dimensions(case):
            self.counts[dimension][value] += 1

    def missing(self) -> list[tuple[str, str]]:
        return [(d, v) for d, values in _ALL for v in values if not self.counts[d][v]]


_ALL = (
    ("kind", KINDS),
    ("presentation", PRESENTATIONS),
    ("family", FAMILIES),
    ("variant", VARIANTS),
)


def _dimensions(case: Case) -> list[tuple[str, str]]:
    return [
        ("kind", case.kind),
        ("presentation", case.presentation),
        ("family", case.family),
        ("variant", case.variant),
    ]


def generate(seed: int, count: int) -> list[Case]:
    """``count`` cases (a selection × presentation × family each), seeded, that cover every
    kind, presentation, family and variant whenever ``count`` allows (by construction: files
    are drawn until each has come up, then one case of each is kept before the rest)."""
    rng = random.Random(seed)
    files = source_files()
    rng.shuffle(files)
    usage = _Usage(rng)
    pool: list[Case] = []
    for path in files:
        if len(pool) >= 2 * count and not usage.missing():
            break
        original = _read(path)
        if original is None:
            continue
        for variant in usage.order("variant", VARIANTS):
            text = _variant_text(original, variant)
            if text is not None:
                break
        else:  # pragma: no cover - "original" always gives a text
            continue
        lf_text = text.replace("\r\n", "\n")
        found = selections(lf_text, rng)
        # Two kinds per file, the least used first; a kind the file lacks waits for the next.
        picked = 0
        for kind in usage.order("kind", KINDS):
            options = found.get(kind) or []
            if not options:
                continue
            sel = rng.choice(options)
            pool.extend(_cases_for(path, variant, text, lf_text, sel, rng, usage))
            picked += 1
            if picked == 2:
                break
    rng.shuffle(pool)
    chosen: list[Case] = []
    have: set[tuple[str, str]] = set()
    for dimension, values in _ALL:
        for value in values:
            if (dimension, value) in have:
                continue
            case = next((c for c in pool if (dimension, value) in _dimensions(c)), None)
            if case is not None and len(chosen) < count:
                chosen.append(case)
                have.update(_dimensions(case))
    taken = {id(c) for c in chosen}
    chosen.extend(c for c in pool if id(c) not in taken)
    chosen = chosen[:count]
    rng.shuffle(chosen)
    return chosen


def _to_doc(text: str, lf_offset: int) -> int:
    """An offset in the LF text as an offset in ``text`` (CRLF or not)."""
    if "\r\n" not in text:
        return lf_offset
    return lf_offset + text.replace("\r\n", "\n")[:lf_offset].count("\n")


def _cases_for(
    path: Path,
    variant: str,
    text: str,
    lf_text: str,
    sel: Selection,
    rng: random.Random,
    usage: _Usage,
) -> list[Case]:
    crlf = variant == "crlf"
    unit = _unit(lf_text)
    start, end = _to_doc(text, sel.start), _to_doc(text, sel.end)
    if sel.kind != "midline" and rng.random() < 0.3:
        # An editor selection that starts at the code and stops at the end of the line.
        line = lf_text[sel.start : lf_text.find("\n", sel.start) + 1]
        start += len(line) - len(line.lstrip(" \t"))
        if text[end - 1 : end] == "\n":
            end -= 2 if crlf else 1
    label = f"{path.name}:{lf_text.count(chr(10), 0, sel.start) + 1}"
    out: list[Case] = []
    families = ["repeat", *usage.order("family", TRANSFORMS)[:1]]
    for family in families:
        expected_lf = lf_text
        sel_start = start
        if family == "comment-above":
            expected_lf = add_comment_above(lf_text, sel)
            # The added line belongs to the selection: it starts at the line's start.
            line_start = lf_text.rfind("\n", 0, sel.start) + 1
            sel_start = _to_doc(text, line_start)
        elif family == "rename":
            expected_lf = rename_local(lf_text, sel)
        elif family == "comment":
            expected_lf = add_comment(lf_text, sel, rng)
        elif family == "docstring":
            expected_lf = add_docstring(lf_text, sel)
        elif family == "unparse":
            expected_lf = unparse_statement(lf_text, sel, rng)
        if expected_lf is None:
            continue
        expected = expected_lf.replace("\n", "\r\n") if crlf else expected_lf
        # The selection in the expected document: same start, end moved by the growth.
        new_end = end + len(expected) - len(text)
        if family != "repeat" and sel.kind != "midline":
            try:
                exp_tree = ast.parse(expected_lf)
            except SyntaxError:
                continue
            del exp_tree
        made = 0
        for how in usage.order("presentation", PRESENTATIONS):
            if made == PER_FAMILY:
                break
            try:
                reply = present(
                    expected, sel_start, new_end, _shifted(sel, expected_lf, lf_text), how, unit
                )
            except (SyntaxError, AssertionError):
                reply = None
            if reply is None:
                continue
            made += 1
            out.append(
                case := Case(
                    id=f"{label} {sel.kind} {variant} {family} {how}",
                    kind=sel.kind,
                    presentation=how,
                    family=family,
                    variant=variant,
                    text=text,
                    start=start,
                    end=end,
                    reply=reply,
                    expected=expected,
                )
            )
            usage.add(case)
    return out


def _shifted(sel: Selection, expected_lf: str, lf_text: str) -> Selection:
    """The selection's enclosing nodes as they stand in the expected document (only
    their header lines and indentation are read, which the transformations keep)."""
    if expected_lf == lf_text or not sel.chain:
        return sel
    tree = ast.parse(expected_lf)
    # The headers sit above the selection, so their lines are where they were: the line
    # tells apart overloads that share a name (anyio's ``@overload`` ``call_async``).
    wanted = [
        (type(n).__name__, getattr(n, "name", None), n.col_offset, n.lineno)  # type: ignore[attr-defined]
        for n in sel.chain
    ]
    chain: list[ast.AST] = []
    for node, _ in _walk(tree, ()):
        key = (
            type(node).__name__,
            getattr(node, "name", None),
            getattr(node, "col_offset", -1),
            getattr(node, "lineno", -1),
        )
        if (
            len(chain) < len(wanted)
            and key == wanted[len(chain)]
            and node.lineno >= (chain[-1].lineno if chain else 0)
        ):  # type: ignore[attr-defined]
            chain.append(node)
    return (
        Selection(sel.kind, sel.start, sel.end, sel.node, tuple(chain))
        if len(chain) == len(wanted)
        else sel
    )


# ------------------------------------------------------------------------------ running


@dataclass(frozen=True)
class Outcome:
    """How one case ended: ``exact``, ``different`` (applied, not the expected file),
    ``refused`` (a clear error, file untouched) or ``crash`` (anything else)."""

    case: Case
    verdict: str
    message: str = ""


class _OneReply:
    """A model client that answers every call with the same reply, as the server would
    stream it (reasoning stripped by the real stripper)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def complete(self, messages, *, on_progress=None):  # type: ignore[no-untyped-def]
        from m21_lsp.model.reasoning import strip_reasoning
        from m21_lsp.model.types import Completion

        split = strip_reasoning(self.reply)
        return Completion(
            raw=self.reply, text=split.text, reasoning=split.reasoning, finish_reason="stop"
        )


def run_case(case: Case) -> Outcome:
    """Run the real pipeline on one case (no repair turn: the reply would not change)."""
    import asyncio

    from m21_lsp.config import Settings
    from m21_lsp.errors import M21Error
    from m21_lsp.pipeline import run as pipeline

    settings = Settings(repair_turns=0)
    request = pipeline.RefactorRequest(
        text=case.text,
        start=case.start,
        end=case.end,
        path=case.path,
        language_id=case.language,
    )
    try:
        result = asyncio.run(pipeline.refactor(request, settings, _OneReply(case.reply)))
    except M21Error as exc:
        return Outcome(case, "refused", exc.message)
    except Exception as exc:  # a crash is a bug, reported as such
        return Outcome(case, "crash", f"{type(exc).__name__}: {exc}")
    if result.new_text == case.expected:
        return Outcome(case, "exact")
    return Outcome(case, "different", _first_difference(case.expected, result.new_text))


def _first_difference(expected: str, got: str) -> str:
    exp, new = expected.splitlines(), got.splitlines()
    for k, (a, b) in enumerate(zip(exp, new, strict=False)):
        if a != b:
            return f"line {k + 1}: expected {a!r}, got {b!r}"
    return f"{len(exp)} lines expected, {len(new)} got"
