"""Hypothesis strategies for document-like text: the awkward characters editors meet."""

from __future__ import annotations

from hypothesis import strategies as st

# Emoji (outside the BMP: two UTF-16 units, four UTF-8 bytes), CJK (three UTF-8 bytes),
# accented Latin, tabs, and every kind of line ending.
ATOMS = [
    "a",
    "b",
    "x = 1",
    "def f():",
    "    ",
    "\t",
    "é",
    "中文",
    "😀",
    "👩‍💻",
    "\n",
    "\r\n",
    "\r",
    "#",
    '"""',
    "(",
    ")",
]

chunks = st.sampled_from(ATOMS)
documents = st.lists(chunks, max_size=40).map("".join)
lines = st.lists(
    st.lists(st.sampled_from([a for a in ATOMS if a not in ("\n", "\r\n", "\r")]), max_size=5).map(
        "".join
    ),
    max_size=12,
)
eols = st.sampled_from(["\n", "\r\n"])


@st.composite
def line_documents(draw: st.DrawFn) -> str:
    """A document of whole lines with one line-ending style and maybe no final newline."""
    body = draw(lines)
    eol = draw(eols)
    text = eol.join(body)
    if body and draw(st.booleans()):
        text += eol
    return text


@st.composite
def edited_pair(draw: st.DrawFn) -> tuple[str, str]:
    """A document and a version of it with a few lines replaced, inserted or deleted."""
    base = draw(st.lists(st.sampled_from(ATOMS), max_size=40))
    new = list(base)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["ins", "del", "rep"]))
        pos = draw(st.integers(0, len(new)))
        if op == "ins":
            new.insert(pos, draw(chunks))
        elif new and pos < len(new):
            if op == "del":
                del new[pos]
            else:
                new[pos] = draw(chunks)
    return "".join(base), "".join(new)
