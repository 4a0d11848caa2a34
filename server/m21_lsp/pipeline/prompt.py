"""What the model is told: system prompts, collision-proof fences and bounded context.

The model sees the selection dedented (it need not care where the code sits) and just
enough context to keep names and style consistent: the module's imports, the headers of
the enclosing classes and functions, and a few lines around the selection. Context has a
character budget, so a prompt never grows with the file: a 20,000-line module costs the
same as a 50-line one.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence

from ..text import pyscan

Message = dict[str, str]

# Context budget in characters (about 3,000 tokens of code): plenty for imports and
# enclosing headers, small next to the model's context window and the reply's thinking.
CONTEXT_BUDGET = 12_000
MAX_IMPORT_LINES = 60
MAX_CONTEXT_LINE = 240
MAX_HEADERS = 6

DEFAULT_INSTRUCTION = (
    "Improve this code's readability and structure: clearer names for local variables, "
    "simpler control flow, no duplicated logic, idiomatic constructs. Keep it doing exactly "
    "what it does now."
)

_RULES = """\
Rules for your answer:
- Reply with exactly one fenced code block (```{fence_lang}) that contains the complete \
replacement for the selected code: all of it, not a diff, not the whole file, not only the \
changed part.
- Preserve behaviour. Keep the public names, signatures, decorators and return values the \
same unless the instruction explicitly asks to change them.
- Never use placeholders such as `...`, "# rest unchanged" or "# TODO: implement": every \
line must be real, final code.
- The selection is shown with its common indentation removed; write your code the same \
way, starting at column 0. It is re-indented into the file for you.
- The context around the selection is for reference only; do not repeat it in your answer.
{extra}- Any explanation goes after the code block, in at most three short sentences."""

# Replacement pairs (docs/edit-format.md): M2.1's own tool-call form, as text in the reply.
# With editFormat "auto" a selection of at least PAIRS_MIN_LINES lines may be answered with
# pairs: below it a whole rewrite costs about what the pairs' quoted old text costs, and it
# is the form with the fewest ways to fail (bench/time_to_edit.py measures both).
PAIRS_MIN_LINES = 40

_RULES_PAIRS = """\
Rules for your answer:
- When only some lines change, answer with replacement pairs, in exactly this form (one \
invoke per change, in the order the changes appear in the selection):
<minimax:tool_call>
<invoke name="replace">
<parameter name="old_text">lines copied exactly from the selected code</parameter>
<parameter name="new_text">the lines that replace them</parameter>
</invoke>
</minimax:tool_call>
- Each old_text is copied character for character from the selected code as shown above \
(same indentation, whole lines), is never empty, and matches exactly one place in it: \
include a neighbouring line when a line alone occurs twice. Never quote the context \
around the selection. Pairs apply to the original selection, so they must not overlap. To \
delete lines, give an empty new_text.
- When most of the selection changes, reply instead with exactly one fenced code block \
(```{fence_lang}) that contains the complete replacement for the selected code.
- Preserve behaviour. Keep the public names, signatures, decorators and return values the \
same unless the instruction explicitly asks to change them.
- Never use placeholders such as `...`, "# rest unchanged" or "# TODO: implement": every \
line must be real, final code.
- The selection is shown with its common indentation removed; write your code the same \
way. It is re-indented into the file for you.
- The context around the selection is for reference only; do not repeat it in your answer.
{extra}- Any explanation goes after your answer, in at most three short sentences."""

_PY_EXTRA = (
    "- If your code needs a new import, put the import line at the very top of the code "
    "block; it is moved to the module's imports for you. Do not repeat imports that "
    "already exist.\n"
)

# Prompt caching: MiniMax caches prompt prefixes of 512+ tokens. Every refactor-family
# request (refactor, fix, user actions; whole or pairs) shares one system prompt, and the
# user message starts with what depends only on the file (its name, its imports), then the
# selection's context and the selection; what the action asks comes last. So two actions on
# the same file share a byte-identical prefix, and two on the same selection share all of
# the code (tests/pipeline/test_prompt_build.py).
_SYSTEM_CHANGE = (
    "You are a senior {language} engineer changing code inside the user's editor. Your "
    "answer is applied to the selected code exactly as written, so it must be correct, "
    "complete and drop-in. Each request ends with the task and the rules for your answer."
)

_TASK_REFACTOR = (
    "Task: refactor the selected code. Your answer replaces the selected code verbatim."
)

_TASK_FIX = (
    "Task: fix the problems that tools (linters, type checkers, compilers) reported in the "
    "selected code, with the smallest correct change; leave everything else as it is."
)

_SYSTEM_EXPLAIN = (
    "You are a senior {language} engineer explaining code to a colleague inside their "
    "editor. The explanation is shown in a hover popup, so write concise Markdown:\n"
    "- Start with one sentence saying what the selected code does.\n"
    "- Then explain how it works, step by step where that helps, naming the functions "
    "and variables involved.\n"
    "- Point out edge cases, pitfalls or bugs you notice, if any.\n"
    "- Keep it under 250 words. Quote code only in short snippets; do not rewrite the "
    "selection."
)

_LANGUAGE_NAMES = {
    "python": "Python",
    "py": "Python",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "javascriptreact": "JavaScript (React)",
    "typescriptreact": "TypeScript (React)",
    "rust": "Rust",
    "go": "Go",
    "c": "C",
    "cpp": "C++",
    "java": "Java",
    "shellscript": "shell",
    "sh": "shell",
}

_BACKTICKS = re.compile(r"`{3,}")
# The keyword that starts an import statement; it counts only at a line start (column 0:
# top-level imports), checked in Python, since an anchor that knows the lone ``\r`` makes
# the regex try every position (five times slower than searching for the words).
_IMPORT_WORD = re.compile(r"(?:import|from)[ \t\\]")
_FROM_IMPORT = re.compile(r"\bimport\b")
# Imports are looked for in the module's first lines; later ones rarely matter, cost tokens.
IMPORT_SCAN_LINES = 400


def is_python_language(language_id: str, path: str | None = None) -> bool:
    return language_id in ("python", "py") or bool(path and path.endswith((".py", ".pyi")))


def _language_name(language_id: str) -> str:
    return _LANGUAGE_NAMES.get(language_id, language_id or "software")


def _fence_lang(language_id: str, path: str | None) -> str:
    if is_python_language(language_id, path):
        return "python"
    return re.sub(r"[^A-Za-z0-9_+-]", "", language_id)


def fence_for(code: str) -> str:
    """A backtick fence longer than any backtick run inside ``code`` (at least three), so
    code that itself contains ``` cannot end the block early."""
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(code)), default=0)
    return "`" * max(3, longest + 1)


def _fenced(code: str, lang: str) -> str:
    fence = fence_for(code)
    body = code if code.endswith("\n") else code + "\n"
    return f"{fence}{lang}\n{body}{fence}"


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def dedent_selection(text: str, start: int, end: int) -> tuple[str, str]:
    """The selection with its common indentation removed, and that indentation.

    When the selection starts inside a line's indentation (or at its start), the first
    line counts with the indentation before it, so a whole-block selection dedents fully;
    when it starts after code, the first line is left as is and only the rest dedent.
    """
    selection = _lf(text[start:end])
    line_begin = pyscan.line_start(text, start)
    before = text[line_begin:start]
    lines = selection.split("\n")
    virtual_first = before + lines[0] if not before.strip(" \t") else None
    candidates = [line for line in lines[1:] if line.strip()]
    if virtual_first is not None and virtual_first.strip():
        candidates.append(virtual_first)
    if not candidates:
        return selection.strip("\n") + ("\n" if selection.endswith("\n") else ""), ""
    common = _common_prefix([_leading_ws(line) for line in candidates])
    out = []
    for i, line in enumerate(lines):
        if i == 0:
            if virtual_first is None:
                out.append(line)
                continue
            line = virtual_first
        if line.startswith(common):
            out.append(line[len(common) :])
        else:
            out.append(line.lstrip(" \t") if not line.strip() else line)
    return "\n".join(out), common


def _common_prefix(items: list[str]) -> str:
    first, last = min(items), max(items)
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _clip(line: str) -> str:
    return line if len(line) <= MAX_CONTEXT_LINE else line[:MAX_CONTEXT_LINE] + " …"


def _module_imports(text: str, limit_chars: int) -> list[str]:
    """Top-level import statements that start in the module's first
    :data:`IMPORT_SCAN_LINES` lines (multi-line ones whole), within a line and character
    budget.

    The import keywords are found by a regular expression over those lines, at C speed:
    walking 400 lines one by one in Python cost a quarter of a millisecond per refactor of a
    long module. A ``from`` line counts only if it says ``import`` too (prose in a docstring
    that starts a line with "from" is not an import).
    """
    window = 0
    for _ in range(IMPORT_SCAN_LINES):
        window = text.find("\n", window) + 1
        if not window:
            window = len(text)
            break
    out: list[str] = []
    used = 0
    n = len(text)
    done = 0  # where the statement taken last (continuation lines included) ends
    for m in _IMPORT_WORD.finditer(text, 0, window):
        pos = m.start()
        if pos < done or (pos and text[pos - 1] not in "\r\n"):
            continue  # a continuation line, or the word inside a line
        if len(out) >= MAX_IMPORT_LINES:
            break
        nxt = pyscan.next_line_start(text, pos)
        stmt = [text[pos:nxt].rstrip("\r\n")]
        depth = stmt[0].count("(") - stmt[0].count(")")
        while (depth > 0 or stmt[-1].rstrip().endswith("\\")) and nxt < n and len(stmt) < 40:
            pos, nxt = nxt, pyscan.next_line_start(text, nxt)
            cont = text[pos:nxt].rstrip("\r\n")
            stmt.append(cont)
            depth += cont.count("(") - cont.count(")")
        done = nxt
        if m.group().startswith("from") and not _FROM_IMPORT.search("\n".join(stmt), 4):
            continue
        chunk = "\n".join(_clip(s) for s in stmt)
        if used + len(chunk) > limit_chars:
            break
        out.append(chunk)
        used += len(chunk) + 1
    return out


def _enclosing_headers(text: str, start: int) -> list[str]:
    """Header lines (``class``/``def``) of the blocks enclosing ``start``, outermost first.

    Found by walking up through lines of decreasing indentation, bounded by the enclosing
    top-level statement, so the cost does not depend on the file size.
    """
    first = pyscan.line_start(text, start)
    top = pyscan.top_level_start(text, first)
    line = pyscan.line_text(text, first)
    threshold = pyscan.indent_width(line) if line.strip() else 1 << 30
    if start > first and not text[first:start].strip(" \t"):
        threshold = min(threshold, pyscan.indent_width(text[first:start]))
    headers: list[str] = []
    for _, above, width in pyscan.code_lines_above(text, first, top, limit=20_000):
        if threshold <= 0:
            break
        if width >= threshold:
            continue
        threshold = width
        if pyscan.is_header(above) or above.rstrip().endswith(":"):
            headers.append(_clip(above.rstrip()))
    if top < first:
        top_line = pyscan.line_text(text, top)
        if pyscan.is_header(top_line) or top_line.rstrip().endswith(":"):
            if not headers or headers[-1] != _clip(top_line.rstrip()):
                headers.append(_clip(top_line.rstrip()))
    return list(reversed(headers[:MAX_HEADERS]))


def _nearby(text: str, start: int, end: int, context_lines: int, budget: int) -> tuple[str, str]:
    """Up to ``context_lines`` whole lines before and after the selection, nearest kept
    first when the budget runs out."""
    context_lines = max(0, min(context_lines, 200))
    before: list[str] = []
    cur = pyscan.line_start(text, start)
    head = text[cur:start]
    used = len(head)
    for _ in range(context_lines):
        if cur <= 0:
            break
        cur = pyscan.prev_line_start(text, cur)
        line = _clip(pyscan.line_text(text, cur))
        if used + len(line) > budget // 2:
            break
        before.append(line)
        used += len(line) + 1
    after: list[str] = []
    if end >= len(text) or end == 0 or text[end - 1] in "\r\n":
        nxt = end + 1 if text[end - 1 : end + 1] == "\r\n" else end
    else:
        nxt = pyscan.next_line_start(text, end)
    tail = text[end:nxt].rstrip("\r\n")
    used = len(tail)
    cur = nxt
    for _ in range(context_lines):
        if cur >= len(text):
            break
        line = _clip(pyscan.line_text(text, cur))
        if used + len(line) > budget // 2:
            break
        after.append(line)
        used += len(line) + 1
        cur = pyscan.next_line_start(text, cur)
    above = "\n".join(reversed(before))
    if head:
        above = f"{above}\n{head}" if above else head
    below = "\n".join(after)
    if tail:
        below = f"{tail}\n{below}" if below else tail
    return _lf(above), _lf(below)


def _line_numbers(text: str, start: int, end: int) -> tuple[int, int]:
    first = text.count("\n", 0, start) + 1
    last_pos = end - 1 if end > start and text[end - 1] in "\r\n" else end
    return first, first + _lf(text[start:last_pos]).count("\n")


def _user_message(
    text: str,
    start: int,
    end: int,
    context_lines: int,
    language_id: str,
    path: str | None,
    task: str,
) -> str:
    python = is_python_language(language_id, path)
    lang = _fence_lang(language_id, path)
    selection, indent = dedent_selection(text, start, end)
    first, last = _line_numbers(text, start, end)
    name = os.path.basename(path) if path else "untitled"
    parts = [f"File: {name} ({_language_name(language_id)})."]

    budget = CONTEXT_BUDGET
    if python:
        imports = _module_imports(text, budget // 3)
        if imports:
            block = "\n".join(imports)
            budget -= len(block)
            parts.append("Imports of the module:\n" + _fenced(_lf(block), lang))
        headers = _enclosing_headers(text, start)
        if headers:
            block = "\n".join(headers)
            budget -= len(block)
            parts.append(
                "The selection sits inside (outermost first):\n" + _fenced(_lf(block), lang)
            )
    above, below = _nearby(text, start, end, context_lines, max(budget, 0))
    if above.strip():
        parts.append("Code just above the selection (do not repeat it):\n" + _fenced(above, lang))
    if below.strip():
        parts.append("Code just below the selection (do not repeat it):\n" + _fenced(below, lang))
    where = f", originally indented by {len(indent)} column(s)" if indent else ""
    parts.append(f"Selected code{where}:\n" + _fenced(selection, lang))
    parts.append(f"The selection is lines {first}-{last} of {name}.")
    parts.append(task)
    return "\n\n".join(parts)


def asks_for_pairs(edit_format: str, selection: str) -> bool:
    """Whether the prompt offers replacement pairs: always with ``replace``, never with
    ``whole``, and with ``auto`` from :data:`PAIRS_MIN_LINES` lines of selection up."""
    if edit_format == "replace":
        return True
    if edit_format == "whole":
        return False
    lines = _lf(selection).rstrip("\n").count("\n") + 1
    return lines >= PAIRS_MIN_LINES


def refactor_messages(
    text: str,
    start: int,
    end: int,
    *,
    instruction: str | None = None,
    diagnostics: Sequence[str] = (),
    context_lines: int = 20,
    language_id: str = "python",
    path: str | None = None,
    edit_format: str = "whole",
) -> list[Message]:
    """Chat messages asking for a replacement of ``text[start:end]``.

    With ``diagnostics`` this is the "Fix with m2-1" quick fix: the reported problems are
    listed and the model is asked for the smallest fix. ``edit_format`` (the setting) says
    whether replacement pairs are offered (:func:`asks_for_pairs`); the answer is read
    the same way either way.
    """
    python = is_python_language(language_id, path)
    fence_lang = _fence_lang(language_id, path) or "text"
    extra = _PY_EXTRA if python else ""
    pairs = asks_for_pairs(edit_format, text[start:end])
    rules = (_RULES_PAIRS if pairs else _RULES).format(fence_lang=fence_lang, extra=extra)
    system = _SYSTEM_CHANGE.format(language=_language_name(language_id))
    if diagnostics:
        listed = "\n".join(f"- {_clip(' '.join(d.split()))}" for d in list(diagnostics)[:20])
        task = f"{_TASK_FIX}\n\n{rules}\n\nProblems reported in the selected code:\n{listed}"
        if instruction and instruction.strip():
            task += "\n\nAlso: " + instruction.strip()
        task += (
            "\n\nReply with replacement pairs, or the fixed selection in one code block."
            if pairs
            else "\n\nReply with the fixed selection in one code block."
        )
    else:
        wanted = instruction.strip() if instruction and instruction.strip() else DEFAULT_INSTRUCTION
        reply = (
            "replacement pairs, or with the new selection in one code block when most of it changes"
            if pairs
            else "the new selection in one code block"
        )
        task = f"{_TASK_REFACTOR}\n\n{rules}\n\nInstruction: {wanted}\n\nReply with {reply}."
    user = _user_message(text, start, end, context_lines, language_id, path, task)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def explain_messages(
    text: str,
    start: int,
    end: int,
    *,
    context_lines: int = 20,
    language_id: str = "python",
    path: str | None = None,
) -> list[Message]:
    """Chat messages asking for a short Markdown explanation of ``text[start:end]``."""
    system = _SYSTEM_EXPLAIN.format(language=_language_name(language_id))
    task = "Explain the selected code."
    user = _user_message(text, start, end, context_lines, language_id, path, task)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def repair_messages(
    messages: Sequence[Mapping[str, str]], raw_reply: str, error: str
) -> list[Message]:
    """The conversation so far, the model's reply exactly as it came (reasoning included,
    so the model sees what it was thinking), and a turn with the parser's complaint."""
    out = [dict(m) for m in messages]
    out.append({"role": "assistant", "content": raw_reply})
    out.append(
        {
            "role": "user",
            "content": (
                "Your code does not parse when spliced into the file:\n"
                f"{error}\n\n"
                "Reply again with exactly one fenced code block containing the complete, "
                "corrected replacement for the selected code, following the same rules."
            ),
        }
    )
    return out


def pair_repair_messages(
    messages: Sequence[Mapping[str, str]], raw_reply: str, complaint: str
) -> list[Message]:
    """The conversation so far, the model's reply as it came, and a turn saying which
    replacement pairs could not be applied and the selection's closest lines
    (:func:`pairs.repair_message` writes ``complaint``)."""
    out = [dict(m) for m in messages]
    out.append({"role": "assistant", "content": raw_reply})
    out.append({"role": "user", "content": complaint})
    return out


def estimate_tokens(text_or_messages: str | Iterable[Mapping[str, str]]) -> int:
    """A cheap, deliberately generous token estimate for limit checks (no tokenizer).

    Counts UTF-8 bytes / 3: about 3 characters per token for code and one token per CJK
    character, which over-estimates rather than letting an oversized prompt through.
    """
    if isinstance(text_or_messages, str):
        return math.ceil(len(text_or_messages.encode("utf-8", "surrogatepass")) / 3)
    total = 0
    for message in text_or_messages:
        total += 4 + estimate_tokens(str(message.get("content") or ""))
    return total + 2
