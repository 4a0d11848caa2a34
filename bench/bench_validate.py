"""Validation cost: a 50-line edit in a 20,000-line module vs parsing the whole module.

"Validating" is everything the pipeline does to a Python candidate before it may land:
the regional parse (``validate.check_python``), the structure guard (``outline.check``)
and the name check (``validate.name_warnings``), each timed and then added up. Prints
figures measured in one run (median of several repetitions); no test asserts on them
(machines differ), but the exit status is 1 when the target (validating / a full libcst
parse < 0.1) is missed, so CI's smoke run and a person running it both see it.

    python bench/bench_validate.py            # 20,000 lines, 5 repetitions
    python bench/bench_validate.py --smoke    # 20,000 lines, 1 repetition (CI)

The smoke run keeps the 20,000 lines: the target is a ratio at that size (the regions
cost the same in any module, the full parse grows with it), so a smaller module would
miss it while measuring something else.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

import libcst
from m21_lsp.pipeline import outline, validate
from m21_lsp.pipeline.shape import build_candidate

UNIT = '''

class Record{n}:
    """A record with a docstring that mentions (brackets] and "quotes".

    It also has a column-0 line inside:
def not_code():
    """

    count: int = {n}

    def __init__(self, items: list[int], label: str = "r#{n}") -> None:
        self.items = items  # a comment with a ' quote
        self.label = label
        self.index = {{"k": [1, 2, (3, 4)]}}

    @property
    def total(self) -> int:
        return sum(v for v in self.items if v % 3 == 0) + len("(")

    async def fetch(self, url: str) -> dict[str, object]:
        data = await self.load(url)
        return {{
            "url": url,
            "data": data,
        }}


def helper_{n}(a, b=2, *args, **kw):
    """Helper {n}."""
    text = f"{{a}} and {{b!r}}"
    for key, value in kw.items():
        if key.startswith("_"):
            continue
        text += str(value).strip()
    return text
'''


def build_module(lines: int) -> str:
    parts = ['"""A generated module for the validation benchmark."""\n\nimport os\nimport re\n']
    n = 0
    total = 4
    while total < lines:
        chunk = UNIT.format(n=n)
        parts.append(chunk)
        total += chunk.count("\n")
        n += 1
    return "".join(parts)


def fifty_line_edit(text: str) -> tuple[int, int, str]:
    """A selection in the middle of the module and a 50-line replacement for it."""
    start = text.index("def helper_", len(text) // 2)
    end = text.index("\n\n\n", start) + 1
    body = "".join(f"    step_{k} = a + {k}  # line {k}\n" for k in range(46))
    code = f"def helper_x(a, b=2, *args, **kw):\n    '''Rewritten.'''\n{body}    return a\n"
    return start, end, code


def median_ms(func: Callable[[], object], repeat: int) -> float:
    """Median of ``repeat`` timed calls after one untimed call (first-use costs such as
    libcst's lazy imports are not what a refactor pays each time)."""
    func()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small and quick, for CI")
    parser.add_argument("--lines", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args(argv)
    lines = args.lines or 20_000
    repeat = args.repeat or (1 if args.smoke else 5)

    text = build_module(lines)
    start, end, code = fifty_line_edit(text)
    candidate = build_candidate(text, start, end, code)
    regions = validate.plan_regions(candidate.new_text, candidate.changed_spans)
    region_lines = sum(candidate.new_text.count("\n", a, b) for a, b in regions or [])

    regional = median_ms(
        lambda: validate.check_python(candidate.new_text, candidate.changed_spans), repeat
    )
    full_cst = median_ms(lambda: libcst.parse_module(candidate.new_text), repeat)
    full_ast = median_ms(lambda: ast.parse(candidate.new_text), repeat)
    span = candidate.changed_spans[-1]
    structure = median_ms(
        lambda: outline.check(text, (candidate.start, candidate.end), candidate.new_text, span),
        repeat,
    )
    names = median_ms(
        lambda: validate.name_warnings(
            text[start:end], candidate.replacement, candidate.new_text, span
        ),
        repeat,
    )
    validating = regional + structure + names

    total_lines = candidate.new_text.count("\n")
    print(f"module: {total_lines} lines; edit: {code.count(chr(10))} lines; repeat: {repeat}")
    print(f"regions parsed: {len(regions or [])} ({region_lines} lines)")
    print(f"check_python (regional libcst):  {regional:9.1f} ms")
    print(f"libcst.parse_module (full file): {full_cst:9.1f} ms")
    print(f"ast.parse (full file, reference): {full_ast:8.1f} ms")
    print(f"outline.check (structure guard): {structure:9.1f} ms")
    print(f"name_warnings (region scopes):   {names:9.1f} ms")
    print(f"validating (the three together): {validating:9.1f} ms")
    ratio = validating / full_cst
    met = ratio < 0.1
    print(f"[{'met' if met else 'not met'}] validating / full libcst: {ratio:.3f} (target < 0.100)")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
