"""Pick the replacement code out of a model reply.

Replies are Markdown: prose, one or more fenced blocks, sometimes an "example usage" block
after the real one, sometimes the whole file instead of the selection. This module finds
the fenced blocks by CommonMark's rules (``` or ~~~, three or more; a closing fence at
least as long as the opening one, so a longer outer fence can hold shorter inner ones),
chooses the block that replaces the selection, and cuts away any context the model
repeated around it. It never returns an empty replacement: a reply without usable code is
a :class:`~m21_lsp.errors.NoCodeInReply` with a message that says what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..errors import NoCodeInReply, ReplyError
from . import unwrap

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\r\n]*?)[ \t]*$")
_PY_INFOS = frozenset({"", "python", "py", "python3", "py3", "pyi"})
_NOT_CODE_INFOS = frozenset(
    {"bash", "sh", "shell", "console", "shell-session", "text", "txt", "output", "diff",
     "json", "yaml", "toml", "ini", "pycon", "plaintext", "log"}
)  # fmt: skip
_EXAMPLE_HINT = re.compile(
    r"(?i)\b(example|usage|use it|you can (?:now )?(?:call|use)|test(?:s|ing)?|output|"
    r"prints?|demo|for instance|results? in)\b"
)
_REPLACEMENT_HINT = re.compile(
    r"(?i)\b(refactor(?:ed)?|replacement|rewritten|improved|updated|fixed|new version|"
    r"here is|here's)\b"
)
_DEFINED = re.compile(
    r"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+([A-Za-z_]\w*)|^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)",
    re.M,
)
_IDENT = re.compile(r"[A-Za-z_]\w*")
_PLACEHOLDER = re.compile(
    r"(?im)^[ \t]*(?:#|//)[ \t]*(?:\.\.\.|…)?[ \t]*\(?(?:rest of|remaining|the rest|existing|"
    r"other)\b[^\n]*\b(?:unchanged|same|as before|here|omitted|code)\b"
)
_IMPORT_LINE = re.compile(r"^(?:import|from)[ \t]+[A-Za-z_.]")


@dataclass(frozen=True)
class Block:
    """One fenced block: its info string, its code, where it starts, and the prose before."""

    info: str
    code: str
    terminated: bool
    index: int
    prose_before: str


def _close_pattern(fence: str) -> re.Pattern[str]:
    char = re.escape(fence[0])
    return re.compile(rf"^[ \t]*{char}{{{len(fence)},}}[ \t]*$")


def find_blocks(reply: str) -> list[Block]:
    """All fenced code blocks in ``reply``, in order, terminated or not."""
    lines = reply.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[Block] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if m is None or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            prose.append(lines[i])
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent").expandtabs(4))
        info = m.group("info").split()[0].lower() if m.group("info").strip() else ""
        info = info.lstrip("{.").rstrip("}")
        close = _close_pattern(fence)
        body: list[str] = []
        i += 1
        terminated = False
        while i < len(lines):
            # CommonMark: a closing fence is indented at most three columns more than the
            # opening one. A fence indented further is content: a docstring that shows an
            # example in backticks, inside a whole file the model sent back.
            if close.match(lines[i]) and _columns(lines[i]) <= indent + 3:
                terminated = True
                i += 1
                break
            body.append(_strip_indent(lines[i], indent))
            i += 1
        code = "\n".join(body)
        if body:
            code += "\n"
        blocks.append(Block(info, code, terminated, len(blocks), "\n".join(prose[-6:])))
        prose = []
    return blocks


def _columns(line: str) -> int:
    """Columns of indentation, tabs to the next multiple of four (as CommonMark counts)."""
    return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(4))


def _strip_indent(line: str, n: int) -> str:
    """Remove up to ``n`` columns of indentation (a fence inside a list item indents its
    content as much as the fence)."""
    removed = 0
    k = 0
    while k < len(line) and removed < n and line[k] in " \t":
        removed += 4 - removed % 4 if line[k] == "\t" else 1
        k += 1
    return line[k:]


def _defined_names(code: str) -> set[str]:
    return {a or b for a, b in _DEFINED.findall(code)}


def _score(block: Block, selection: str, sel_names: set[str], sel_idents: set[str]) -> float:
    idents = set(_IDENT.findall(block.code))
    jaccard = len(idents & sel_idents) / len(idents | sel_idents) if idents | sel_idents else 0.0
    names = _defined_names(block.code)
    same_names = len(names & sel_names) / len(sel_names) if sel_names else 0.0
    score = 3.0 * same_names + 2.0 * jaccard
    last_prose = block.prose_before.strip().splitlines()[-2:] if block.prose_before.strip() else []
    hint = " ".join(last_prose)
    if _EXAMPLE_HINT.search(hint) and not _REPLACEMENT_HINT.search(hint):
        score -= 1.5
    if block.info in ("python", "py", "python3", "py3"):
        score += 0.25
    score -= 0.05 * block.index  # models put the replacement first
    length_ratio = min(len(block.code), len(selection) or 1) / max(
        len(block.code), len(selection) or 1
    )
    return score + 0.5 * length_ratio


def choose_block(blocks: list[Block], selection: str) -> Block:
    """The block that replaces the selection (see module docs); raises if none is usable."""
    closed = [b for b in blocks if b.terminated]
    if not closed:
        if blocks:
            raise NoCodeInReply(
                "The model's reply was cut off inside its code block, so nothing was changed. "
                "Try again, or raise the maxTokens setting (M21_MAX_TOKENS) so the reply fits.",
                detail=f"unterminated block of {len(blocks[-1].code)} characters",
            )
        raise NoCodeInReply(
            "The model's reply contains no code block, so nothing was changed. Try again, or "
            "rephrase the instruction to ask for a rewrite of the selected code.",
        )
    usable = [b for b in closed if b.code.strip()]
    if not usable:
        raise NoCodeInReply(
            "The model returned an empty code block, so nothing was changed. Try again."
        )
    code_like = [b for b in usable if b.info not in _NOT_CODE_INFOS] or usable
    if len(code_like) == 1:
        return code_like[0]
    sel_names = _defined_names(selection)
    sel_idents = set(_IDENT.findall(selection))
    return max(code_like, key=lambda b: (_score(b, selection, sel_names, sel_idents), -b.index))


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _significant(lines: list[str]) -> int:
    return sum(1 for line in lines if line.strip())


def _weighty(lines: list[str]) -> int:
    """Lines that can tell context apart: a line of closing brackets alone (``}``,
    ``});``, ``)``) ends half the blocks of a brace-language file, so it proves nothing."""
    return sum(1 for line in lines if re.search(r"[^\s{}()\[\];,]", line))


def _enough(matched: int, longest: int) -> bool:
    """Two matched lines, or one distinctive one, before we call something context."""
    return matched >= 2 or (matched == 1 and longest >= 8)


def _cut_top(block: list[str], before: list[str]) -> tuple[int, list[str]]:
    """How many leading lines of ``block`` repeat the lines just before the selection."""
    last = max((k for k, line in enumerate(before) if line), default=-1)
    if last < 0:
        return 0, []
    offset = max(0, last + 1 - (len(block) + 50))
    window = before[offset : last + 1]
    matcher = SequenceMatcher(None, window, block, autojunk=False)
    matched = longest = 0
    for i, j, size in matcher.get_matching_blocks():
        if size == 0:
            continue
        matched += _weighty(block[j : j + size])
        longest = max([longest, *(len(x) for x in block[j : j + size])])
        if i + size == len(window):
            top = j + size
            imports = _unmatched_imports(block[:top], window)
            unmatched = _weighty(block[:top]) - matched - len(imports)
            # One repeated line is context only when nothing unmatched sits above it:
            # a reply that swaps two lines shares one with the line before the selection.
            allowed = max(1, matched // 3) if matched >= 2 else 0
            if _enough(matched, longest) and unmatched <= allowed:
                return top, imports
            break
    return 0, []


def _cut_bottom(block: list[str], after: list[str]) -> int:
    """Index in ``block`` where lines repeating the code after the selection begin."""
    first = next((k for k, line in enumerate(after) if line), None)
    if first is None:
        return len(block)
    window = after[first : first + len(block) + 50]
    matcher = SequenceMatcher(None, window, block, autojunk=False)
    found = [b for b in matcher.get_matching_blocks() if b.size]
    if not found or found[0].a != 0:
        return len(block)
    j = found[0].b
    matched = sum(_weighty(block[b.b : b.b + b.size]) for b in found)
    longest = max(len(x) for b in found for x in block[b.b : b.b + b.size])
    rest = _weighty(block[j:])
    if _enough(matched, longest) and matched * 3 >= rest * 2:
        return j
    return len(block)


def _whole_tail(block: list[str], top: int, after: list[str], selection: str) -> int:
    """Where the rest of the document begins in a reply that repeated the code above the
    selection and ends with everything after it, however short (a lone ``}`` closing
    the function, too little for :func:`_cut_bottom` to call context), else
    ``len(block)``. The part kept must open and close braces as the selection does, so a
    reply whose own last ``}`` happens to look like the document's end keeps it."""
    tail = [line for line in after if line]
    end = len(block)
    while end > top and not block[end - 1]:
        end -= 1
    if not tail or end - top <= len(tail):
        return len(block)
    rest = [line for line in block[end - len(tail) : end] if line]
    if rest != tail or any(not line for line in block[end - len(tail) : end]):
        return len(block)
    j = end - len(tail)
    if unwrap.brace_balance(block[top:j]) != unwrap.brace_balance(_lines(selection)):
        return len(block)
    return j


def _own_head(block: list[str], top: int, selection: str) -> bool:
    """Whether the ``top`` lines about to be cut as context are the selection's own first
    lines, which the rest of the reply does not repeat: a sibling just above that reads
    alike (``@dataclass(frozen=True)`` / ``class Alias:`` / ``name: str`` / ``type: str``
    above ``@dataclass(frozen=True)`` / ``class Field:`` / the same two fields) is not
    the selection's context, and cutting the reply's own head dropped ``class Field:``."""
    cut = [line for line in block[:top] if line]
    if not cut:
        return False
    own = [line.strip() for line in _lines(selection) if line.strip()]
    kept = [line for line in block[top:] if line]
    return own[: len(cut)] == cut and kept[: len(cut)] != cut


def _unless_own_tail(block: list[str], top: int, bottom: int, selection: str) -> int:
    """``bottom``, or ``len(block)`` when the lines below it are the selection's own last
    lines and the part above does not end with them already.

    Code after the selection can read like the selection's own end: an inner
    ``} else if op == Wildcard {`` block repeated by an outer one just below it. A reply
    that ends the way the selection ends has not repeated the context; one that ends so
    twice has.
    """
    cut = [line for line in block[bottom:] if line]
    if not cut:
        return bottom
    own = [line.strip() for line in _lines(selection) if line.strip()]
    kept = [line for line in block[top:bottom] if line]
    if own[-len(cut) :] == cut and kept[-len(cut) :] != cut:
        return len(block)
    return bottom


def _context_cut(code: str, selection: str, document: str, start: int | None) -> str:
    """If ``code`` repeats document lines around the selection (the whole file, or the
    selection with its enclosing class or header), keep only the part in between.

    Import lines the model added above the repeated context are kept at the top, so the
    import hoisting downstream still sees them.
    """
    if start is None or document[start : start + len(selection)] != selection:
        start = document.find(selection) if selection else -1
    if start < 0 or not selection.strip():
        return code
    code = _cut_line_context(code, selection, document, start)
    block = _lines(code.rstrip("\n"))
    stripped = [line.strip() for line in block]
    reach = len(block) + 50  # how far _cut_top/_cut_bottom look past the nearest code line
    before = _stripped_lines_before(document, start, reach)
    after = _stripped_lines_after(document, start + len(selection), reach)
    if not selection.endswith(("\n", "\r")):
        after = after[1:]  # the rest of the line the selection ends on
    top, imports = _cut_top(stripped, before)
    if _own_head(stripped, top, selection):
        top, imports = 0, []
    bottom = top + _cut_bottom(stripped[top:], after)
    if top and bottom == len(block):
        rest = _short_rest(document, start + len(selection), len(block))
        if rest is not None:
            if not selection.endswith(("\n", "\r")):
                rest = rest[1:]
            bottom = _whole_tail(stripped, top, rest, selection)
    bottom = _unless_own_tail(stripped, top, bottom, selection)
    if top == 0 and bottom == len(block):
        return code
    middle = block[top:bottom]
    while middle and not middle[-1].strip():
        middle.pop()
    while middle and not middle[0].strip():
        middle.pop(0)
    if not _significant(middle):
        return code
    hoisted = [line for line in block[:top] if line.strip() in imports]
    return "\n".join([*hoisted, *([""] if hoisted else []), *middle]) + "\n"


# The reply is compared with at most ``reach`` document lines on each side of the
# selection, counted from the nearest non-blank one; splitting the whole document into
# lines for that cost ~8 ms per reply at 20,000 lines. So only a stretch next to the
# selection is split, doubled until it holds the lines the comparison can look at (or
# the whole side): the lists differ from the whole side's only in lines never looked at.


def _stripped_lines_before(document: str, start: int, reach: int) -> list[str]:
    """The stripped lines of ``document[:start]`` without the partial line ``start`` is
    on: the last ones, at least ``reach`` up to and including the last non-blank one."""
    size = 80 * (reach + 2)
    while True:
        lo = max(0, start - size)
        lines = [line.strip() for line in _lines(document[lo:start])][:-1]
        if lo > 0:
            lines = lines[1:]  # the first one may be the tail of a longer line
            last = max((k for k, line in enumerate(lines) if line), default=-1)
            if last < 0 or last + 1 < reach:
                size *= 2
                continue
        return lines


def _short_rest(document: str, end: int, limit: int) -> list[str] | None:
    """The stripped lines of ``document[end:]`` when they hold fewer than ``limit`` non-blank
    ones (only then can a reply of ``limit`` lines end with all of them), else None.

    Scans no further than it must, so a long file costs no more than a short one."""
    lines: list[str] = []
    solid = 0
    pos = end
    while True:
        nl = document.find("\n", pos)
        line = document[pos:] if nl < 0 else document[pos:nl].removesuffix("\r")
        for part in line.split("\r"):  # a lone CR ends a line too, as in _lines
            lines.append(part.strip())
            solid += bool(part.strip())
        if solid >= limit:
            return None
        if nl < 0:
            return lines
        pos = nl + 1


def _stripped_lines_after(document: str, end: int, reach: int) -> list[str]:
    """The stripped lines of ``document[end:]`` (the first one the rest of the line
    ``end`` is on): the first ones, at least ``reach`` from the first non-blank one after
    that first line."""
    size = 80 * (reach + 2)
    while True:
        hi = min(len(document), end + size)
        lines = [line.strip() for line in _lines(document[end:hi])]
        if hi < len(document):
            lines = lines[:-1]  # the last one may be the head of a longer line
            first = next((k for k, line in enumerate(lines) if line and k), None)
            if first is None or first + reach > len(lines):
                size *= 2
                continue
        return lines


def _cut_line_context(code: str, selection: str, document: str, start: int) -> str:
    """For a selection inside a line (``value = |compute(1, 2)|``), drop the rest of that
    line when the model repeated it (``value = compute(...)``).

    The text after the selection is only dropped together with the text before it, or
    when it is distinctive (three characters or more): a replacement may well end with
    the same ``)`` that follows the selection.
    """
    end = start + len(selection)
    line_begin = max(document.rfind("\n", 0, start), document.rfind("\r", 0, start)) + 1
    after_end = len(document)
    for eol in ("\n", "\r"):
        k = document.find(eol, end)
        if k >= 0:
            after_end = min(after_end, k)
    before = document[line_begin:start].strip()
    after = document[end:after_end].strip() if not selection.endswith(("\n", "\r")) else ""
    if not before and not after:
        return code
    lines = code.split("\n")
    first = next((k for k, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return code
    cut_before = False
    head = lines[first].lstrip()
    if (
        before
        and head.startswith(before)
        and not _joins_word(before[-1], head[len(before) : len(before) + 1])
        and not selection.lstrip().startswith(before)
    ):
        rest = head[len(before) :].lstrip()
        if rest:
            lines[first] = lines[first][: len(lines[first]) - len(head)] + rest
            cut_before = True
    last = max(k for k, line in enumerate(lines) if line.strip())
    tail = lines[last].rstrip()
    if (
        after
        and (cut_before or len(after) >= 3)
        and tail.endswith(after)
        and not _joins_word(tail[len(tail) - len(after) - 1 : len(tail) - len(after)], after[0])
        and not selection.rstrip().endswith(after)
        and tail[: len(tail) - len(after)].strip()
    ):
        lines[last] = tail[: len(tail) - len(after)].rstrip()
    return "\n".join(lines)


def _joins_word(left: str, right: str) -> bool:
    """True when cutting between ``left`` and ``right`` would split an identifier
    (``return`` must not be cut out of ``return_value``)."""
    return (
        bool(left)
        and bool(right)
        and (left.isalnum() or left == "_")
        and (right.isalnum() or right == "_")
    )


def _unmatched_imports(lines: list[str], context: list[str]) -> list[str]:
    """Import lines (stripped) in ``lines`` that the context does not contain."""
    known = set(context)
    return [line for line in lines if _IMPORT_LINE.match(line) and line not in known]


def extract_code(
    reply_text: str,
    selection: str,
    *,
    document: str | None = None,
    start: int | None = None,
    python: bool = True,
) -> str:
    """The code that replaces ``selection``, taken from a reasoning-stripped reply.

    ``document`` (and ``start``, the selection's offset in it, when known) lets a reply
    that repeats surrounding code be cut down to the selection's replacement.

    Raises :class:`NoCodeInReply` when there is no complete code block, and
    :class:`ReplyError` when the code is only a placeholder sketch.
    """
    blocks = find_blocks(reply_text)
    chosen = choose_block(blocks, selection)
    code = chosen.code
    if document is not None:
        if start is None or document[start : start + len(selection)] != selection:
            start = document.find(selection) if selection else -1
        unwrapped = None
        if start >= 0:
            end = start + len(selection)
            unwrapped = (
                unwrap.unwrap(code, document, start, end)
                if python
                else unwrap.unwrap_braces(code, document, start, end)
            )
        code = (
            unwrapped if unwrapped is not None else _context_cut(code, selection, document, start)
        )
    placeholder = _PLACEHOLDER.search(code)
    if placeholder and not _PLACEHOLDER.search(selection):
        raise ReplyError(
            "The model's code contains a placeholder instead of real code "
            f"({placeholder.group(0).strip()!r}), so nothing was changed. Try again.",
        )
    return code
