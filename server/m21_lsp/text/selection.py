"""Turn "the cursor" into something worth refactoring.

Neovim and Helix send an empty or one-character range for a code action at the cursor.
This runs inside ``textDocument/codeAction``, which must answer in milliseconds on any
file, so it never parses: it looks at indentation and column-0 lines near the cursor and
uses :mod:`pyscan`'s C-speed masking only over the enclosing top-level statement.
"""

from __future__ import annotations

from . import pyscan


def whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to whole lines, the last line's ending included.

    A range that ends exactly at a line start is not widened onto the next line.
    """
    a = pyscan.line_start(text, start)
    if end <= start:
        return a, pyscan.next_line_start(text, start)
    last = end - 1 if end > 0 else 0
    b = pyscan.next_line_start(text, last)
    return a, max(b, a)


def _trim_trailing_noise(text: str, start: int, end: int) -> int:
    """Move ``end`` back over blank and comment-only lines at the end of a block, which
    belong to whatever follows rather than to the block."""
    cur = end
    while cur > start:
        prev = pyscan.prev_line_start(text, cur)
        if prev < start or pyscan.is_code_line(pyscan.line_text(text, prev)):
            break
        cur = prev
    return cur


def _decorated_start(text: str, header: int, floor: int) -> int:
    """Move a ``def``/``class`` line start up over its decorators (same indentation)."""
    indent = pyscan.indent_width(pyscan.line_text(text, header))
    start = header
    cur = header
    while cur > floor:
        cur = pyscan.prev_line_start(text, cur)
        line = pyscan.line_text(text, cur)
        if not pyscan.is_code_line(line):
            if line.strip():
                continue  # a comment between decorators
            break
        width = pyscan.indent_width(line)
        stripped = line.lstrip(" \t\f")
        if width == indent and stripped.startswith("@"):
            start = cur
        elif width > indent or (width == indent and stripped[:1] in ")]}"):
            continue  # inside a multi-line decorator call
        else:
            break
    return start


def _block_end(text: str, header: int, stop: int) -> int:
    """End (a line start) of the block introduced by the header line at ``header``: the
    first later code line at the header's indentation or less that is outside strings
    and brackets, or ``stop``."""
    indent = pyscan.indent_width(pyscan.line_text(text, header))
    for cur in pyscan.shallow_code_lines(text, pyscan.next_line_start(text, header), stop, indent):
        if pyscan.is_clean(text, header, cur):
            return _trim_trailing_noise(text, header, cur)
    return _trim_trailing_noise(text, header, stop)


def _enclosing_header(text: str, cursor_line: int, top: int) -> int | None:
    """Line start of the smallest ``def``/``class`` enclosing the line at ``cursor_line``,
    searching no higher than the top-level statement start ``top``."""
    line = pyscan.line_text(text, cursor_line)
    if pyscan.is_code_line(line):
        stripped = line.lstrip(" \t\f")
        if pyscan.is_header(line) and pyscan.is_clean(text, top, cursor_line):
            return cursor_line
        if stripped.startswith("@") and pyscan.is_clean(text, top, cursor_line):
            # A decorator: the definition it decorates is below at the same indentation.
            indent = pyscan.indent_width(line)
            cur = pyscan.next_line_start(text, cursor_line)
            while cur < len(text):
                below = pyscan.line_text(text, cur)
                if pyscan.is_code_line(below) and pyscan.indent_width(below) <= indent:
                    if pyscan.is_header(below):
                        return cur
                    if not below.lstrip(" \t\f").startswith(("@", ")", "]", "}")):
                        break
                cur = pyscan.next_line_start(text, cur)
        threshold = pyscan.indent_width(line)
    else:
        # Blank or comment line: it belongs to the block of the next code line below,
        # unless that one is less indented than the previous code line above.
        threshold = _blank_line_indent(text, cursor_line)
    reached_top = cursor_line <= top
    if threshold > 0:
        for cur, above, width in pyscan.code_lines_above(text, cursor_line, top):
            if width >= threshold:
                continue
            if not pyscan.is_clean(text, top, cur):
                continue  # inside a string or a bracket: not a real statement line
            if pyscan.is_header(above):
                return cur
            threshold = width
            if threshold <= 0:
                break
        else:
            reached_top = True
    if reached_top and pyscan.is_header(pyscan.line_text(text, top)):
        return top
    return None


def _blank_line_indent(text: str, pos: int) -> int:
    up = pos
    width_up = 0
    while up > 0:
        up = pyscan.prev_line_start(text, up)
        line = pyscan.line_text(text, up)
        if pyscan.is_code_line(line):
            width_up = pyscan.indent_width(line)
            break
    down = pyscan.next_line_start(text, pos)
    while down < len(text):
        line = pyscan.line_text(text, down)
        if pyscan.is_code_line(line):
            return min(pyscan.indent_width(line), width_up + 1)
        down = pyscan.next_line_start(text, down)
    return 0


def expand_range(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen an empty or one-character range to the smallest enclosing ``def``/``class``
    (decorators included) or, at module level, the enclosing statement (continuation
    lines and indented body included), as whole lines.

    Larger ranges are returned unchanged. A cursor with nothing to expand to (a blank
    line between top-level statements, an empty document) is returned unchanged too.
    """
    if end < start:
        start, end = end, start
    if end - start > 1 or not text:
        return start, end
    cursor_line = pyscan.line_start(text, min(start, len(text)))
    top, stop = pyscan.top_level_region(text, cursor_line, cursor_line)
    if top > cursor_line:
        return start, end
    header = _enclosing_header(text, cursor_line, top)
    if header is not None:
        block_end = _block_end(text, header, stop)
        if block_end > cursor_line or header == cursor_line:
            return _decorated_start(text, header, top), max(block_end, header + 1)
    if not pyscan.is_code_line(pyscan.line_text(text, top)):
        return start, end
    if not pyscan.is_code_line(pyscan.line_text(text, cursor_line)):
        # A blank line between top-level statements belongs to neither.
        above_end = _trim_trailing_noise(text, top, stop)
        if cursor_line >= above_end:
            return start, end
    return top, _trim_trailing_noise(text, top, stop)
