"""The CLI's selection forms, ``--lines A-B`` and ``--range L1:C1-L2:C2``, as offsets.

Only the CLI knows these 1-based forms; everything after it works in string offsets.
"""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..text.positions import LineIndex
from ..user_actions import Action


def parse_lines(spec: str, text: str) -> tuple[int, int]:
    """``A-B`` (1-based, inclusive, whole lines with the last line's newline) → offsets."""
    try:
        first_s, _, last_s = spec.partition("-")
        first = int(first_s)
        last = int(last_s) if last_s else first
    except ValueError:
        raise UsageError(f"--lines {spec!r}: expected A-B, e.g. --lines 10-24.") from None
    starts = LineIndex(text).line_starts
    count = len(starts) if not text.endswith(("\n", "\r")) else len(starts) - 1
    if not 1 <= first <= last <= max(count, 1):
        raise UsageError(f"--lines {spec!r}: the file has {count} lines (1-based, inclusive).")
    end = starts[last] if last < len(starts) else len(text)
    return starts[first - 1], end


def parse_range(spec: str, text: str) -> tuple[int, int]:
    """``L1:C1-L2:C2``: 1-based lines and code-point columns, end exclusive, exact."""
    try:
        a, b = spec.split("-")
        l1, c1 = (int(x) for x in a.split(":"))
        l2, c2 = (int(x) for x in b.split(":"))
    except ValueError:
        raise UsageError(f"--range {spec!r}: expected L1:C1-L2:C2, e.g. --range 3:5-9:1.") from None
    index = LineIndex(text)

    def offset(line: int, col: int) -> int:
        if not 1 <= line <= index.line_count or col < 1:
            raise UsageError(f"--range {spec!r}: position {line}:{col} is outside the file.")
        start = index.line_start(line - 1)
        content_end = index.line_end(line - 1)
        if start + col - 1 > content_end:
            raise UsageError(
                f"--range {spec!r}: line {line} has {content_end - start} columns; "
                f"column {col} is past its end."
            )
        return start + col - 1

    start, end = offset(l1, c1), offset(l2, c2)
    if end < start:
        raise UsageError(f"--range {spec!r}: the end comes before the start.")
    return start, end


def selection(args: argparse.Namespace, text: str, action: Action | None = None) -> tuple[int, int]:
    """The offsets the arguments name; a ``file``-scoped action alone means the whole file."""
    if args.lines:
        return parse_lines(args.lines, text)
    if args.range:
        return parse_range(args.range, text)
    if action is not None and action.scope == "file":
        return 0, len(text)
    raise UsageError("Give --lines A-B or --range L1:C1-L2:C2 (only a 'file' action needs none).")
