"""Cheap structural facts about Python source without tokenizing or parsing it.

Range expansion (run inside every code action) and regional validation (run after every
refactor) both need to know where top-level statements start and whether a position is
outside any string, comment or bracket. A full tokenize or parse scales with the file, so
this module answers those questions with C-speed regular expressions over the smallest
stretch of text that can settle them.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right, insort
from collections.abc import Iterator

from .strings import common_prefix, common_suffix

# Strings and comments, matched whole. An unterminated triple-quoted string swallows the
# rest of the text and leaves its quotes behind (group ``bad``), as does an unterminated
# single-quoted one (it does not match at all), so a stray quote after masking means
# "position is inside a string, or the text is broken": either way, not provably clean.
_MASK = re.compile(
    r"\#[^\r\n]*"
    r'|"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""'
    r"|'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''"
    r"|(?P<bad>\"\"\"|''')[\s\S]*"
    r'|"[^"\\\r\n]*(?:\\(?:\r\n|[\s\S])[^"\\\r\n]*)*"'
    r"|'[^'\\\r\n]*(?:\\(?:\r\n|[\s\S])[^'\\\r\n]*)*'"
)

CLAUSE_KEYWORDS = frozenset({"else", "elif", "except", "finally"})
_FIRST_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"[ \t]*(?:async[ \t]+def|def|class)[ \t\\]")
_EOL_CHARS = "\r\n"
# A column-0 code line: right after a line ending (or at the very start), not blank/comment.
_NOT_BRACKET = re.compile(r"[^()\[\]{}]+")
_PAIR = re.compile(r"\(\)|\[\]|\{\}")
_SHALLOW: dict[int, re.Pattern[str]] = {}
_COL0 = re.compile(r"[\r\n](?=[^ \t\f#\r\n])")


def mask(segment: str) -> str:
    """``segment`` with complete strings and comments removed (unterminated ones kept)."""
    # ``split`` keeps the text between matches and the ``bad`` group (None when it did not
    # take part): the same string as ``sub(r"\g<bad>")`` without expanding a template in
    # Python for every match.
    return "".join(filter(None, _MASK.split(segment)))


def is_clean(text: str, start: int, end: int) -> bool:
    """True if, tokenizing from a clean position ``start``, the line start ``end`` is again
    outside any string, bracket and backslash continuation.

    False means "not provably clean" (inside a string or bracket, or the text between is
    broken); callers treat that as unsure and fall back to something slower but exact.
    """
    if end <= start:
        return True
    rest = mask(text[start:end])
    if '"' in rest or "'" in rest:
        return False
    if rest.rstrip(_EOL_CHARS).endswith("\\"):
        return False
    # Brackets must pair up in order: strip matched pairs until none are left. Counting
    # alone would accept ``)`` ... ``(``, which is how a stretch that starts inside one
    # bracket and ends inside another looks.
    brackets = _NOT_BRACKET.sub("", rest)
    while brackets:
        reduced = _PAIR.sub("", brackets)
        if len(reduced) == len(brackets):
            return False
        brackets = reduced
    return True


def indent_width(line: str) -> int:
    """Indentation in columns, tabs to the next multiple of 8 as the tokenizer counts."""
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width = (width // 8 + 1) * 8
        elif ch == "\f":
            width = 0
        else:
            break
    return width


def line_start(text: str, pos: int) -> int:
    """Start of the line containing ``pos`` (a ``\\n``, ``\\r\\n`` or ``\\r`` ends a line)."""
    pos = min(max(pos, 0), len(text))
    i = _last_eol(text, pos)
    if i >= 0 and text[i] == "\r" and text[i + 1 : i + 2] == "\n":
        # ``pos`` sits between the two halves of a CRLF: still on the line it ends.
        i = _last_eol(text, i)
    return i + 1


def _last_eol(text: str, pos: int) -> int:
    """Offset of the last ``\\n`` or ``\\r`` before ``pos`` (-1 if none). The ``\\r``
    search stops at the ``\\n`` found, so a file without CRs is not searched to its start."""
    nl = text.rfind("\n", 0, pos)
    cr = text.rfind("\r", nl + 1, pos)
    return cr if cr >= 0 else nl


def next_line_start(text: str, pos: int) -> int:
    """Start of the line after the one containing ``pos`` (``len(text)`` on the last line)."""
    n = len(text)
    nl = text.find("\n", pos)
    cr = text.find("\r", pos, nl if nl >= 0 else n)  # only a CR before that LF matters
    if cr < 0 and nl < 0:
        return n
    if cr < 0 or (0 <= nl < cr):
        return nl + 1
    if text[cr + 1 : cr + 2] == "\n":
        return cr + 2
    return cr + 1


def prev_line_start(text: str, pos: int) -> int:
    """Start of the line before the one starting at ``pos`` (0 at the first line)."""
    if pos <= 0:
        return 0
    return line_start(text, pos - 1)


def line_text(text: str, start: int) -> str:
    """Content of the line starting at ``start``, without its line ending."""
    end = next_line_start(text, start)
    return text[start:end].rstrip(_EOL_CHARS)


def code_lines_above(
    text: str, pos: int, top: int, *, limit: int | None = None
) -> Iterator[tuple[int, str, int]]:
    """``(start, line, indent width)`` of each code line above the line at ``pos``, nearest
    first, down to the line at ``top``: the walk up through the enclosing blocks that
    finding a selection and the prompt's headers both make. ``limit`` bounds the lines read."""
    cur = pos
    read = 0
    while cur > top and (limit is None or read < limit):
        read += 1
        cur = prev_line_start(text, cur)
        line = line_text(text, cur)
        if is_code_line(line):
            yield cur, line, indent_width(line)


def shallow_code_lines(text: str, lo: int, hi: int, indent: int) -> Iterator[int]:
    """Starts of the code lines in ``[lo, hi)`` indented by at most ``indent`` columns.

    The regex admits lines with at most ``indent`` whitespace characters (every one of
    them is worth at least a column), so the C engine skips deeper lines and Python only
    confirms the width of the few it finds.
    """
    pattern = _SHALLOW.get(indent)
    if pattern is None:
        pattern = re.compile(r"[\r\n][ \t\f]{0,%d}(?=[^ \t\f\r\n#])" % indent)  # noqa: UP031
        if len(_SHALLOW) < 64:
            _SHALLOW[indent] = pattern
    if lo == 0 and text[:1] not in ("", " ", "\t", "\f", "#", "\r", "\n") and 0 < hi:
        yield 0
    for m in pattern.finditer(text, max(lo - 1, 0), hi):
        start = m.start() + 1
        if lo <= start < hi and indent_width(m.group(0)[1:]) <= indent:
            yield start


def is_code_line(line: str) -> bool:
    """Not blank and not only a comment."""
    stripped = line.lstrip(" \t\f")
    return bool(stripped) and not stripped.startswith("#")


def first_word(line: str) -> str:
    m = _FIRST_WORD.match(line.lstrip(" \t\f"))
    return m.group(0) if m else ""


def is_header(line: str) -> bool:
    """A ``def`` / ``async def`` / ``class`` line."""
    return _HEADER.match(line + " ") is not None


def starts_top_level_statement(line: str) -> bool:
    """A column-0 line that can begin a new top-level statement (before checking strings
    and decorators): code, not a closing bracket, not an ``else``-style clause."""
    if not line or line[0] in " \t\f#)]}" or line[0] in _EOL_CHARS:
        return False
    return first_word(line) not in CLAUSE_KEYWORDS


def col0_code_lines(text: str, lo: int, hi: int) -> list[int]:
    """Starts of the column-0 code lines (not blank, not comments) in ``[lo, hi)``."""
    found = [m.start() + 1 for m in _COL0.finditer(text, max(lo - 1, 0), hi)]
    if lo == 0 and text[:1] not in ("", " ", "\t", "\f", "#", "\r", "\n") and hi > 0:
        found.insert(0, 0)
    return found


def _col0_before(text: str, pos: int, floor: int = 0) -> list[int]:
    """The column-0 code line starts in the nearest non-empty window before ``pos``,
    nearest first. Windows double in size, so a nearby answer costs little and a far one
    stays linear (the regex runs in C)."""
    window = 4096
    hi = pos
    while hi > floor:
        lo = max(floor, hi - window)
        found = col0_code_lines(text, lo, hi)
        if found:
            return found[::-1]
        hi = lo
        window *= 2
    return []


def _statement_above(text: str, pos: int, floor: int = 0) -> int | None:
    """Nearest column-0 line before ``pos`` that starts a statement (skipping ``)`` lines
    that close a multi-line decorator or call, and ``else``-style clauses)."""
    for start in _col0_nearest_first(text, pos, floor):
        if starts_top_level_statement(line_text(text, start)):
            return start
    return None


def _col0_nearest_first(text: str, pos: int, floor: int) -> Iterator[int]:
    """Every column-0 code line start in ``[floor, pos)``, nearest first, found in windows
    that start small and double: the nearest statement is usually a few lines up, and a
    4 KiB window would list (in Python) every line start in it."""
    window = 256
    hi = pos
    while hi > floor:
        lo = max(floor, hi - window)
        yield from reversed(col0_code_lines(text, lo, hi))
        hi = lo
        window = min(window * 2, 1 << 20)


def top_level_start(text: str, pos: int, floor: int = 0) -> int:
    """Start of the nearest column-0 line at or before ``pos`` that plausibly begins a
    top-level statement, moved up over the decorators above it; ``floor`` when none.

    Plausibly: strings and brackets are not considered here (see :func:`is_clean`), so
    callers that need soundness check the answer.
    """
    start = _statement_above(text, next_line_start(text, pos), floor)
    if start is None:
        return floor
    while True:
        above = _statement_above(text, start, floor)
        if above is None or not text.startswith("@", above):
            return start
        start = above


def top_level_end(text: str, pos: int) -> int:
    """Start of the first column-0 line after the line containing ``pos`` that plausibly
    begins a new top-level statement (not a clause, not right after a decorator);
    ``len(text)`` when there is none."""
    begin = next_line_start(text, pos)
    above = _statement_above(text, begin)
    after_decorator = above is not None and text.startswith("@", above)
    for m in _COL0.finditer(text, max(begin - 1, 0)):
        start = m.start() + 1
        if start < begin:
            continue
        if starts_top_level_statement(line_text(text, start)):
            if not after_decorator:
                return start
            after_decorator = text.startswith("@", start)
    return len(text)


def _last_statement(text: str, lo: int, hi: int) -> int | None:
    """The last column-0 statement line in ``[lo, hi)`` that is clean as seen from the
    clean position ``lo`` (so not inside a string or bracket of the stretch)."""
    for c in reversed(col0_code_lines(text, lo, hi)):
        if c == lo:
            return c
        if starts_top_level_statement(line_text(text, c)) and is_clean(text, lo, c):
            return c
    return None


def _clean_end(text: str, start: int, last: int, steps: int = 8) -> int | None:
    """First candidate boundary after ``last`` that is clean as seen from ``start`` and
    does not leave the stretch ending in a decorator."""

    def fits(end: int) -> bool:
        if not is_clean(text, start, end):
            return False
        final = _last_statement(text, start, end)
        return final is None or not text.startswith("@", final)

    end = top_level_end(text, max(last, start))
    for _ in range(steps):
        if fits(end):
            return end
        if end >= len(text):
            return None
        end = top_level_end(text, end)
    return len(text) if fits(len(text)) else None


def _clean_above(text: str, floor: int, pos: int) -> bool:
    return clean_from_top(text, pos) if floor == 0 else is_clean(text, floor, pos)


def _undecorated(text: str, start: int, floor: int, steps: int = 8) -> int | None:
    """Move a start proven clean from ``floor`` up over the decorators above it; each
    statement above is itself proven clean before it is believed. ``None`` if unsure."""
    for _ in range(steps):
        candidates = []
        cur = start
        while not candidates and cur > floor:
            found = _col0_before(text, cur, floor)
            if not found:
                break
            candidates = [c for c in found if starts_top_level_statement(line_text(text, c))]
            cur = found[-1]
        above = next((c for c in candidates[:steps] if _clean_above(text, floor, c)), None)
        if above is None:
            return start if not candidates else None
        if not text.startswith("@", above):
            return start
        start = above
    return None


def top_level_region(
    text: str, first: int, last: int, *, proven: bool = False, max_steps: int = 16
) -> tuple[int, int]:
    """``(start, end)`` of the top-level statements that cover the lines from the one
    containing ``first`` to the one containing ``last``; ``(0, len(text))`` when nothing
    settles.

    Column-0 lines that merely look like statements (text in a docstring, arguments of a
    call written at column 0) are told apart by whether the text up to them tokenizes
    cleanly. Locally (the default, for the cursor) that is judged from the candidate
    above, which is cheap and nearly always right; when it is in doubt, or with
    ``proven=True`` (for validation), it is judged from the top of the file, which is
    exact and linear in the prefix, but at C speed.
    """
    start = top_level_start(text, first)
    if not proven:
        above = top_level_start(text, prev_line_start(text, start)) if start > 0 else 0
        if start == 0 or above >= start or is_clean(text, above, start):
            end = _clean_end(text, start, last)
            if end is not None:
                return start, end
    for _ in range(max_steps):
        if clean_from_top(text, start):
            if proven:
                settled = _undecorated(text, start, 0)
                if settled is None:
                    return 0, len(text)
                start = settled
            end = _clean_end(text, start, last)
            return start, len(text) if end is None else end
        if start == 0:
            break
        start = top_level_start(text, prev_line_start(text, start))
    return 0, len(text)


# --- cleanliness from the top of the file, remembered ----------------------------------
#
# ``is_clean(text, 0, pos)`` is the proof that validation rests on, and it costs a scan of
# everything above ``pos``. It splits at any clean line start ``q`` (a position right after
# a line ending, or 0, with ``is_clean(text, 0, q)``): the masking regex then reaches ``q``
# between two matches (no comment crosses a line ending, no string closes right after one,
# a string or bracket open at ``q`` would make ``q`` unclean), so the masked text is the
# masked text above ``q`` followed by the masked window ``[q, pos)``, and
# ``is_clean(text, 0, pos) == is_clean(text, q, pos)``. So the proven starts ("marks") of a
# text are kept, and a query scans only the window from the nearest mark below it.
#
# A text the pipeline sees is nearly always a small edit of one seen before (the document,
# the candidate, the document once the edit is applied). Marks depend only on the text
# above them, so a new text keeps the marks of its common prefix with a remembered text;
# marks in a common suffix are kept too once the window from the last prefix mark to the
# first suffix mark is proven clean (the text between them is then the same as before).

_MARK_STEP = 4096  # at least this far apart when a long way is walked
_KEEP_TEXTS = 3  # remembered texts (each is one document version, held alive)


class _Marks:
    __slots__ = ("starts", "text")

    def __init__(self, text: str, starts: list[int]) -> None:
        self.text = text
        self.starts = starts  # sorted, starts[0] == 0; each one clean from the top


_REMEMBERED: list[_Marks] = []  # most recently used first
_REMEMBERED_LOCK = threading.Lock()  # the pipeline runs in worker threads


def _derived(text: str) -> _Marks:
    """Marks for a text not remembered yet, carried over from the remembered text that
    shares the longest prefix with it."""
    best: _Marks | None = None
    best_prefix = 0
    for known in _REMEMBERED:
        if len(known.text) == len(text) and known.text == text:
            return _Marks(text, list(known.starts))
        prefix = common_prefix(known.text, text)
        if prefix > best_prefix:
            best, best_prefix = known, prefix
    if best is None:
        return _Marks(text, [0])
    old = best.text
    starts = best.starts[: bisect_right(best.starts, best_prefix)]
    suffix = common_suffix(old, text, min(len(old), len(text)) - best_prefix)
    if suffix:
        # A kept mark needs the character before it inside the suffix too.
        k = bisect_right(best.starts, len(old) - suffix)
        if k < len(best.starts):
            shift = len(text) - len(old)
            bridge = best.starts[k] + shift
            if bridge > starts[-1] and is_clean(text, starts[-1], bridge):
                starts.extend(s + shift for s in best.starts[k:])
    return _Marks(text, starts)


def _marks_for(text: str) -> _Marks:
    for i, known in enumerate(_REMEMBERED):
        if known.text is text:
            if i:
                _REMEMBERED.insert(0, _REMEMBERED.pop(i))
            return known
    marks = _derived(text)
    _REMEMBERED.insert(0, marks)
    del _REMEMBERED[_KEEP_TEXTS:]
    return marks


def _is_mark(text: str, pos: int) -> bool:
    return 0 < pos <= len(text) and text[pos - 1] in _EOL_CHARS


def clean_from_top(text: str, pos: int) -> bool:
    """``is_clean(text, 0, pos)``, scanning only the window above ``pos`` up to the nearest
    position already proven clean (in this text, or in a remembered text it shares that
    stretch with). Same answer, always: the first query of a text far from any mark walks
    the whole way once, leaving marks behind it."""
    pos = min(pos, len(text))
    if pos <= 0:
        return True
    with _REMEMBERED_LOCK:
        marks = _marks_for(text)
        starts = marks.starts
        base = starts[bisect_right(starts, pos) - 1]
        step = _MARK_STEP
        while pos - base > 2 * step:
            # Walk in steps, leaving marks, so that the next query nearby is cheap. A step
            # that lands in a string or bracket is retried twice as far from the same base.
            cand = next_line_start(text, base + step)
            if cand >= pos:
                break
            if is_clean(text, base, cand):
                insort(starts, cand)
                base, step = cand, _MARK_STEP
            else:
                step *= 2
        clean = is_clean(text, base, pos)
        if clean and pos - base >= _MARK_STEP // 4 and _is_mark(text, pos):
            insort(starts, pos)
        return clean


def clean_between(text: str, start: int, end: int) -> bool:
    """``is_clean(text, start, end)``; from the marks when ``start`` is a line start clean
    from the top (then the window above ``end`` decides, by the split above)."""
    if end <= start:
        return True
    if _is_mark(text, start) and clean_from_top(text, start):
        return clean_from_top(text, end)
    return is_clean(text, start, end)


def forget_marks() -> None:
    """Drop every remembered text (tests; a server that wants the memory back)."""
    with _REMEMBERED_LOCK:
        _REMEMBERED.clear()


# --- line kinds -------------------------------------------------------------------------

BLANK, STATEMENT, COMMENT, CONTINUATION, STRING = "blank", "stmt", "comment", "cont", "str"
_STRING_START = re.compile(r"(?i:[rbuf]{0,2})('''|\"\"\"|'|\")")
_LINE_TOKEN = re.compile(r"#|(?i:[rbuf]{0,2})(?:'''|\"\"\"|'|\")|[()\[\]{}]|\\$")


def line_kinds(lines: list[str]) -> list[tuple[str, int]]:
    """For each line, what it begins as and the line that owns its indentation.

    ``stmt`` and ``comment`` lines start a logical line (their indentation is the code's);
    ``cont`` lines continue brackets or a backslash, ``str`` lines begin inside a string
    (their leading whitespace is the string's content): both belong to the logical line
    that opened them, whose index is the owner. Works on fragments that do not tokenize
    (a selection's partial block, an ``else:`` without its ``if``), unlike ``tokenize``.
    """
    out: list[tuple[str, int]] = []
    quote: str | None = None  # the open string's delimiter, carried across lines
    depth = 0
    backslash = False
    owner = 0
    for k, line in enumerate(lines):
        if quote is not None:
            kind = STRING
        elif depth > 0 or backslash:
            kind = CONTINUATION
        elif not line.strip():
            kind = BLANK
        else:
            owner = k
            kind = COMMENT if line.lstrip(" \t\f").startswith("#") else STATEMENT
        out.append((kind, owner if kind != BLANK else k))
        backslash = False
        pos = 0
        n = len(line)
        while pos < n:
            if quote is not None:
                close = _find_close(line, pos, quote)
                if close < 0:
                    if len(quote) == 1 and not line.endswith("\\"):
                        quote = None  # an unterminated one-line string ends with its line
                    pos = n
                    break
                pos = close
                quote = None
                continue
            m = _LINE_TOKEN.search(line, pos)
            if m is None:
                break
            tok = m.group(0)
            pos = m.end()
            if tok == "#":
                break
            if tok == "\\":
                backslash = True
            elif tok in "([{":
                depth += 1
            elif tok in ")]}":
                depth = max(depth - 1, 0)
            else:
                quote = tok.lstrip("rbufRBUF")
    return out


def _find_close(line: str, pos: int, quote: str) -> int:
    """End offset of ``quote`` closing a string in ``line`` from ``pos``, -1 if none."""
    while True:
        k = line.find(quote, pos)
        back = line.find("\\", pos)
        if back >= 0 and (k < 0 or back < k):
            pos = back + 2
            if pos > len(line):
                return -1
            continue
        return -1 if k < 0 else k + len(quote)
