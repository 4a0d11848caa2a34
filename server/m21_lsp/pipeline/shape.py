"""Fit the model's code into the document: indentation, line endings, imports.

The model writes code at column 0 with spaces and ``\\n``; the document may be indented
with tabs, use CRLF, and have the selection deep inside a class. This module turns the
code into the exact text that replaces the selection, keeping:

* the selection's base indentation, in the file's own style (tabs or its space width);
* the content of multi-line strings, byte for byte (only their line endings follow the
  file, as Python reads them the same);
* the document's line endings and the selection's leading/trailing blank-line shape;
* for Python, import lines the reply put at its top, moved to the end of the module's
  leading import block (or after the docstring and ``__future__`` imports), once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..text import pyscan
from ..text.strings import splice
from . import prompt, reindent

_EOL = re.compile(r"\r\n|\r|\n")
_TRIPLE = re.compile(
    r'"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*(?:"""|$)'
    r"|'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*(?:'''|$)"
    r'|"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"?'
    r"|'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*'?"
    r"|\#[^\n]*"
)
_IMPORT_START = re.compile(r"(?:import|from)[ \t]")
_MODULE_IMPORT = re.compile(
    r"^(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|[^\r\n]*)|import[ \t]+([^\r\n]*))",
    re.M,
)


@dataclass
class Candidate:
    """The document after the change, and what changed in it.

    ``changed_spans`` are ``(start, end)`` offsets in ``new_text`` of every inserted or
    replaced piece (the replacement, the hoisted imports): validation only has to look
    around them.
    """

    new_text: str
    replacement: str
    changed_spans: list[tuple[int, int]] = field(default_factory=list)
    hoisted_imports: list[str] = field(default_factory=list)
    start: int = 0  # the replaced range in the old document (the selection, or from
    end: int = 0  # its line start when the first line's indentation changed)

    @property
    def key(self) -> tuple[object, ...]:
        """What ``new_text`` is made of, given the document: equal keys, equal texts.

        Comparing keys instead of texts keeps telling two readings of a reply apart from
        costing a hash of the whole document (a third of a millisecond at 20,000 lines).
        """
        return (
            self.start,
            self.end,
            self.replacement,
            tuple(self.changed_spans),
            tuple(self.hoisted_imports),
        )


def document_eol(text: str, near: int = 0) -> str:
    """The line ending used around ``near`` (the first one after it, else the first in
    the document), ``\\n`` for a one-line document."""
    m = _EOL.search(text, near) or _EOL.search(text)
    return m.group(0) if m else "\n"


@dataclass(frozen=True)
class IndentStyle:
    """``"\\t"`` or ``" " * width``: one indentation level in the file."""

    unit: str

    @property
    def uses_tabs(self) -> bool:
        return self.unit == "\t"


def detect_indent_style(text: str, near: int = 0) -> IndentStyle:
    """How the file indents: looks at indented lines near ``near``, then the file's start.

    Only a few hundred lines are looked at, so this costs the same on any file size.
    """
    widths: list[int] = []
    tabs = spaces = 0
    for lo in (max(0, near - 20_000), 0):
        for m in re.finditer(r"(?:^|(?<=\n))([ \t]+)(?=[^ \t\r\n#])", text[lo : lo + 40_000]):
            ws = m.group(1)
            if ws.startswith("\t"):
                tabs += 1
            elif "\t" not in ws:
                spaces += 1
                widths.append(len(ws))
        if tabs + spaces >= 8:
            break
    if tabs > spaces:
        return IndentStyle("\t")
    if not widths:
        return IndentStyle("    ")
    unit = min(w for w in widths if w > 0)
    if unit not in (2, 3, 4, 8) and not all(w % unit == 0 for w in widths):
        unit = 4
    return IndentStyle(" " * unit)


def _split(code: str) -> list[str]:
    return code.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def string_continuation_lines(code: str) -> set[int]:
    """Indices of lines (of ``code`` split on ``\\n``) that begin inside a string literal
    spanning lines: their leading whitespace is string content and must not change."""
    inside: set[int] = set()
    for m in _TRIPLE.finditer(code):
        token = m.group(0)
        if "\n" not in token or token.startswith("#"):
            continue
        first = code.count("\n", 0, m.start())
        inside.update(range(first + 1, first + 1 + token.count("\n")))
    return inside


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _leading_imports(lines: list[str], protected: set[int]) -> tuple[list[str], int]:
    """Import statements at the top of the code (column 0, multi-line ones whole) and the
    index of the first line after them and the blank lines that follow."""
    imports: list[str] = []
    k = 0
    while k < len(lines):
        line = lines[k]
        if not line.strip():
            k += 1
            continue
        if not _IMPORT_START.match(line) or k in protected:
            break
        stmt = [line]
        depth = line.count("(") - line.count(")")
        while (depth > 0 or stmt[-1].rstrip().endswith("\\")) and k + 1 < len(lines):
            k += 1
            stmt.append(lines[k])
            depth += lines[k].count("(") - lines[k].count(")")
        imports.append("\n".join(stmt))
        k += 1
    while k < len(lines) and not lines[k].strip():
        k += 1
    return imports, k


def _import_list(statement: str) -> list[tuple[str, str]]:
    """``[(module-or-"", name-as-alias)]`` of an import statement, in order, whitespace-
    insensitive (``from a import (b,\n c)`` and ``from a import b, c`` are the same)."""
    flat = " ".join(statement.replace("\\\n", " ").replace("(", " ").replace(")", " ").split())
    m = re.match(r"from ([\w.]+) import (.+)", flat)
    if m:
        module, names = m.group(1), m.group(2)
    elif flat.startswith("import "):
        module, names = "", flat[len("import ") :]
    else:
        return []
    out: list[tuple[str, str]] = []
    for part in names.split(","):
        part = " ".join(part.split())
        if part and (module, part) not in out:
            out.append((module, part))
    return out


def _import_entries(statement: str) -> set[tuple[str, str]]:
    return set(_import_list(statement))


def existing_imports(text: str) -> set[tuple[str, str]]:
    """Every module-level (column-0) import in the document, as import entries."""
    found: set[tuple[str, str]] = set()
    for m in _MODULE_IMPORT.finditer(text):
        found |= _import_entries(m.group(0))
    return found


def import_insertion_point(text: str) -> int:
    """Offset where new imports go: after the last statement of the module's leading
    import block; with no imports, after the docstring and ``__future__`` imports; with
    neither, the start of the file (after a shebang and encoding comment)."""
    pos = 0
    n = len(text)
    after_header = 0
    last_import_end: int | None = None
    seen_docstring = False
    while pos < n:
        line_end = pyscan.next_line_start(text, pos)
        line = text[pos:line_end].rstrip("\r\n")
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not line.startswith((" ", "\t"))):
            if stripped.startswith("#") and last_import_end is None and not seen_docstring:
                after_header = line_end  # shebang, encoding line, licence comments
            pos = line_end
            continue
        if line[:1] in " \t":
            break
        if not seen_docstring and last_import_end is None and line.lstrip("rbuRBU")[:1] in "\"'":
            end = _string_statement_end(text, pos)
            if end is None:
                break
            seen_docstring = True
            after_header = end
            pos = end
            continue
        if _IMPORT_START.match(line):
            end = _statement_end(text, pos)
            if line.startswith("from __future__"):
                after_header = end
            last_import_end = end
            pos = end
            continue
        break
    return last_import_end if last_import_end is not None else after_header


def _statement_end(text: str, pos: int) -> int:
    """End (next line start) of the simple statement starting at line ``pos``."""
    end = pyscan.next_line_start(text, pos)
    for _ in range(200):
        if end >= len(text) or pyscan.is_clean(text, pos, end):
            return end
        end = pyscan.next_line_start(text, end)
    return end


def _string_statement_end(text: str, pos: int) -> int | None:
    end = _statement_end(text, pos)
    return end if pyscan.is_clean(text, pos, end) else None


def _edges(selection: str) -> tuple[str, str, str]:
    """Split off whitespace-only partial lines at the selection's edges.

    A selection that starts at the end of a code line (``x = 1|⏎    def f…``) or ends in
    the indentation of the next line keeps those pieces verbatim, so the replacement
    neither glues onto the line before nor swallows the indentation after.
    """
    head = tail = ""
    first = _EOL.search(selection)
    if first and not selection[: first.start()].strip(" \t"):
        head = selection[: first.end()]
    after_last_eol = max(selection.rfind("\n"), selection.rfind("\r")) + 1
    if after_last_eol > len(head):
        rest = selection[after_last_eol:]
        if rest and not rest.strip(" \t"):
            tail = rest
    inner = selection[len(head) : len(selection) - len(tail)]
    return head, inner, tail


def _trim_blank_edges(lines: list[str]) -> list[str]:
    lo, hi = 0, len(lines)
    while lo < hi and not lines[lo].strip():
        lo += 1
    while hi > lo and not lines[hi - 1].strip():
        hi -= 1
    return lines[lo:hi]


def _hoist(
    doc_text: str, line_begin: int, selection: str, lines: list[str]
) -> tuple[list[str], list[str], int | None]:
    """Split import lines off the top of the code when they can move to the module's
    import block: returns (remaining code lines, imports to insert, insertion offset)."""
    protected = string_continuation_lines("\n".join(lines))
    imports, body_start = _leading_imports(lines, protected)
    if not imports or body_start >= len(lines):
        return lines, [], None
    selection_imports, _ = _leading_imports([ln.strip() for ln in _split(selection)], set())
    if selection_imports:
        return lines, [], None  # the user is editing imports themselves: keep them in place
    point = import_insertion_point(doc_text)
    if point > line_begin:
        return lines, [], None
    have = existing_imports(doc_text)
    hoisted: list[str] = []
    for stmt in imports:
        entries = _import_entries(stmt)
        missing = [e for e in _import_list(stmt) if e not in have]
        if not entries:
            hoisted.append(stmt.strip())
        elif len(missing) == len(entries):
            hoisted.append(stmt.strip())
        elif missing:
            module = missing[0][0]
            names = ", ".join(name for _, name in missing)
            hoisted.append(f"from {module} import {names}" if module else f"import {names}")
        have |= entries
    return lines[body_start:], hoisted, point


def frame_unit(doc_text: str, start: int, end: int, shown: list[str], *, python: bool) -> str:
    """One indentation level as the code around the selection writes it.

    Read from statement lines only (never string or continuation lines): first the
    selection's own nesting, then the top-level statement that holds it, then the start of
    the file; four spaces when none of them nests anything.
    """
    found = reindent.indent_unit(shown, reindent.kinds(shown, python))
    if found is not None:
        return found
    if python:
        a, b = pyscan.top_level_region(doc_text, start, end, proven=True)
        if b - a <= 400_000:
            lines = _split(doc_text[a:b])
            found = reindent.indent_unit(lines, reindent.kinds(lines, python))
            if found is not None:
                return found
    head = _split(doc_text[:20_000])[:-1]
    found = reindent.indent_unit(head, reindent.kinds(head, python))
    if found is not None:
        return found
    return detect_indent_style(doc_text, start).unit


def build_candidate(
    doc_text: str,
    start: int,
    end: int,
    code: str,
    *,
    is_python: bool = True,
    force_reindent: bool = False,
) -> Candidate:
    """The document with ``doc_text[start:end]`` replaced by ``code``, shaped to fit.

    ``code`` is in the frame the prompt showed (or in a presentation :mod:`reindent` can
    bring back to it); ``force_reindent`` moves it level by level even when its own
    indentation looks consistent (one of the pipeline's other readings of a reply).
    """
    eol = document_eol(doc_text, start)
    head, selection, tail = _edges(doc_text[start:end])
    inner_start = start + len(head)
    inner_end = end - len(tail)
    line_begin = pyscan.line_start(doc_text, inner_start)
    before = doc_text[line_begin:inner_start]
    at_line_start = not before.strip(" \t")
    region_start = line_begin if at_line_start else inner_start
    region = doc_text[region_start:inner_end]
    ends_with_eol = region.endswith(("\n", "\r"))
    original = _split(region)
    shown_text, common = prompt.dedent_selection(doc_text, inner_start, inner_end)
    shown = shown_text.split("\n")
    if ends_with_eol:
        original, shown = original[:-1], shown[:-1]
    lead = next((k for k, line in enumerate(original) if line.strip()), len(original))
    trail = next((k for k, line in enumerate(reversed(original)) if line.strip()), 0)
    trail = min(trail, len(original) - lead)
    middle = slice(lead, len(original) - trail)

    lines = _trim_blank_edges(_split(code))
    hoisted: list[str] = []
    insert_at: int | None = None
    if is_python:
        lines, hoisted, insert_at = _hoist(doc_text, line_begin, selection, lines)
        lines = _trim_blank_edges(lines)

    if not at_line_start and len(original) == 1:
        # One partial line: new lines the reply adds continue that line's indentation.
        common = _leading(pyscan.line_text(doc_text, line_begin))
    frame = reindent.Frame(
        shown=shown[middle],
        original=original[middle],
        common=common,
        unit=frame_unit(doc_text, inner_start, inner_end, shown[middle], python=is_python),
        python=is_python,
        first_partial=not at_line_start and lead == 0,
    )
    fitted = reindent.fit(lines, frame, force=force_reindent)
    body = eol.join([*original[:lead], *fitted, *original[middle.stop :]])
    if ends_with_eol:
        body += eol
    if at_line_start and body.startswith(before):
        region_start, body = inner_start, body[len(before) :]
    replaced_start = min(region_start, start)
    replacement = doc_text[replaced_start:region_start] + body + doc_text[inner_end:end]
    if replaced_start < start:
        start = replaced_start

    new_text = splice(doc_text, start, end, replacement)
    spans: list[tuple[int, int]] = []
    shift = 0
    if hoisted and insert_at is not None:
        block = eol.join(line.replace("\n", eol) for line in hoisted) + eol
        prev_line = doc_text[pyscan.prev_line_start(doc_text, insert_at) : insert_at]
        if insert_at > 0 and prev_line.strip() and not _IMPORT_START.match(prev_line):
            block = eol + block  # a blank line between a docstring and the imports
        if insert_at > 0 and not doc_text[:insert_at].endswith(("\n", "\r")):
            block = eol + block
        new_text = splice(new_text, insert_at, insert_at, block)
        spans.append((insert_at, insert_at + len(block)))
        shift = len(block)
    spans.append((start + shift, start + shift + len(replacement)))
    return Candidate(
        new_text=new_text,
        replacement=replacement,
        changed_spans=spans,
        hoisted_imports=hoisted,
        start=start,
        end=end,
    )
