"""``pyscan.line_kinds`` against Python's own tokenizer, on real standard-library code.

Re-indenting trusts these kinds: a string line taken for code would have its content
moved, a continuation line taken for a statement would set the indent unit. The oracle
is :mod:`tokenize`, which only works on whole modules; ``line_kinds`` must agree with it
there and keep working on fragments, where tokenize gives up.
"""

from __future__ import annotations

import io
import sysconfig
import tokenize
from pathlib import Path

import pytest
from m21_lsp.text import pyscan

_SKIP = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE,
         tokenize.ENCODING, tokenize.ENDMARKER}  # fmt: skip


def oracle(text: str) -> list[str]:
    """Each line's kind as the tokenizer sees it."""
    lines = text.split("\n")
    kinds = [pyscan.BLANK if not ln.strip() else pyscan.STATEMENT for ln in lines]
    for k, ln in enumerate(lines):
        if ln.lstrip(" \t\f").startswith("#"):
            kinds[k] = pyscan.COMMENT
    strings: set[int] = set()
    first: int | None = None
    fstring_starts: list[int] = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        name = tokenize.tok_name[tok.type]
        if name == "FSTRING_START":
            fstring_starts.append(tok.start[0])
        elif name == "FSTRING_END" and fstring_starts:
            strings.update(range(fstring_starts.pop() + 1, tok.end[0] + 1))
        elif tok.type == tokenize.STRING:
            strings.update(range(tok.start[0] + 1, tok.end[0] + 1))
        if tok.type == tokenize.NEWLINE:
            if first is not None:
                for line in range(first + 1, tok.start[0] + 1):
                    kinds[line - 1] = pyscan.STRING if line in strings else pyscan.CONTINUATION
            first = None
        elif tok.type not in _SKIP and first is None:
            first = tok.start[0]
    return kinds


def _modules() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names = ["textwrap.py", "argparse.py", "inspect.py", "dataclasses.py", "pydoc.py",
             "tokenize.py", "typing.py", "ast.py", "doctest.py", "difflib.py", "string.py",
             "json/decoder.py", "email/_header_value_parser.py", "asyncio/base_events.py"]  # fmt: skip
    return [stdlib / n for n in names if (stdlib / n).is_file()]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_kinds_agree_with_the_tokenizer_on_real_modules(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected = oracle(text)
    got = [kind for kind, _owner in pyscan.line_kinds(text.split("\n"))]
    wrong = [
        f"line {k + 1}: {got[k]} instead of {expected[k]}: {line!r}"
        for k, line in enumerate(text.split("\n"))
        if got[k] != expected[k]
    ]
    assert not wrong, "\n".join(wrong[:10])


def test_fragments_that_do_not_tokenize_still_get_kinds() -> None:
    """A selection cut out of a block: an ``else:`` with no ``if``, a dedent below the
    first line, a string that the fragment does not close."""
    lines = ["        x = call(a,", "                 b)", "    else:", '        s = """one', "two"]
    assert pyscan.line_kinds(lines) == [
        (pyscan.STATEMENT, 0),
        (pyscan.CONTINUATION, 0),
        (pyscan.STATEMENT, 2),
        (pyscan.STATEMENT, 3),
        (pyscan.STRING, 3),
    ]
