"""One test per fault the brace-language fidelity corpus found, through the real pipeline.

Each document is shaped like the real file where the corpus saw the fault (named in the
test); every expected document is written out by hand.
"""

from __future__ import annotations

import asyncio

from corpus import _OneReply
from m21_lsp.config import Settings
from m21_lsp.pipeline import run as pipeline


def _refactor(text: str, first: str, last: str, code: str, lang: str, label: str) -> str:
    """Select from the line holding ``first`` to the end of the line holding ``last``
    (line ending included) and answer with ``code`` fenced as ``label``."""
    start = text.rfind("\n", 0, text.index(first)) + 1
    end = text.index("\n", text.index(last, start) + len(last) - 1) + 1
    reply = f"<think>\nFine as it is.\n</think>\n\nHere it is:\n\n```{label}\n{code}```\n"
    req = pipeline.RefactorRequest(
        text=text, start=start, end=end, path=f"module.{lang}", language_id=lang
    )
    result = asyncio.run(pipeline.refactor(req, Settings(repair_turns=0), _OneReply(reply)))
    return result.new_text


RUST = """\
use std::fmt::{self, Display};

pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Display for Position {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "{}:{}", self.line, self.column)
    }
}

impl Position {
    pub fn new(line: usize, column: usize) -> Self {
        Position { line, column }
    }
}
"""


def test_rust_reply_repeating_the_impl_header_is_unwrapped() -> None:
    """serde's error.rs: the method came back inside ``impl Display for Position {``."""
    code = (
        "impl Display for Position {\n"
        "    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {\n"
        '        write!(f, "{}:{}", self.line, self.column)\n'
        "    }\n"
        "}\n"
    )
    got = _refactor(RUST, "    fn fmt", "    }", code, "rust", "rs")
    assert got == RUST.replace("formatter", "f")


GO = """\
package syncmap

func (m *Map) Delete(key interface{}) {
\tread, _ := m.read.Load().(readOnly)
\te, ok := read.m[key]
\tif !ok && read.amended {
\t\tm.mu.Lock()
\t\tread, _ = m.read.Load().(readOnly)
\t\te, ok = read.m[key]
\t\tif !ok && read.amended {
\t\t\tdelete(m.dirty, key)
\t\t}
\t\tm.mu.Unlock()
\t}
\tif ok {
\t\te.delete()
\t}
}
"""


def test_go_selection_whose_first_line_reads_like_an_enclosing_header() -> None:
    """x/sync's pre_go19.go: the inner ``if !ok && read.amended {`` repeats the outer one;
    a reply wrapped in the func header must keep the inner ``if``."""
    code = (
        "func (m *Map) Delete(key interface{}) {\n"
        "\tif !ok && read.amended {\n"
        "\t\tdelete(m.dirty, key) // gone\n"
        "\t}\n"
        "}\n"
    )
    sel_first = "\t\tif !ok && read.amended {\n\t\t\tdelete"
    start = GO.index(sel_first)
    text_from = GO[start:]
    got = _refactor(GO, text_from.split("\n")[0] + "\n\t\t\tdelete", "\t\t}", code, "go", "golang")
    assert got == GO.replace("delete(m.dirty, key)", "delete(m.dirty, key) // gone")


def test_go_reply_that_is_the_selection_itself_is_not_read_as_a_wrapper() -> None:
    """The same file, seed 7: the reply repeats just the inner ``if`` (no fence label, no
    func header). Its first line matches the outer ``if``, so it read as a wrapper around
    ``delete(...)`` and the inner ``if`` was dropped; taken whole it is the selection."""
    start = GO.index("\t\tif !ok && read.amended {\n\t\t\tdelete")
    first = GO[start:].split("\n")[0] + "\n\t\t\tdelete"
    for code in (
        "if !ok && read.amended {\n\tdelete(m.dirty, key)\n}\n",
        "if !ok && read.amended {\n\t// Reviewed: keep this step.\n\tdelete(m.dirty, key)\n}\n",
    ):
        got = _refactor(GO, first, "\t\t}", code, "go", "")
        want = (
            GO
            if "Reviewed" not in code
            else GO.replace(
                "\t\t\tdelete(m.dirty, key)",
                "\t\t\t// Reviewed: keep this step.\n\t\t\tdelete(m.dirty, key)",
            )
        )
        assert got == want


C = """\
void *stb_leakcheck_realloc(void *ptr, size_t sz, const char *file, int line)
{
   if (ptr == NULL) {
      return stb_leakcheck_malloc(sz, file, line);
   } else {
      stb_leakcheck_malloc_info *mi = (stb_leakcheck_malloc_info *) ptr - 1;
      if (sz <= mi->size)
         return ptr;
      else {
         void *q = stb_leakcheck_malloc(sz, file, line);
         if (q) {
            memcpy(q, ptr, mi->size);
            stb_leakcheck_free(ptr);
         }
         return q;
      }
   }
}

static void stblkck_internal_print(const char *reason)
{
   printf("%s\\n", reason);
}
"""


def test_c_reply_ending_in_closing_braces_is_not_cut_as_context() -> None:
    """stb_leakcheck.h: the reply's last ``}`` lines match the ``}`` lines after the
    selection, which proves nothing; the reply is the selection, verbatim."""
    first, last = "      stb_leakcheck_malloc_info", "         return q;\n      }"
    start = C.index(first)
    end = C.index(last) + len(last) + 1
    shown = "".join(line[6:] + "\n" if line.strip() else "\n" for line in C[start:end].splitlines())
    got = _refactor(C, first, "         return q;\n      }", shown, "c", "c")
    assert got == C


TS = """\
import { ThrottlingUtils } from "./ThrottlingUtils";

export async function executePostToTokenEndpoint(
    tokenEndpoint: string,
    cacheManager: CacheManager,
): Promise<NetworkResponse<ServerAuthorizationTokenResponse>> {
    const response = await networkClient.sendPostRequestAsync(tokenEndpoint, options);
    ThrottlingUtils.postProcess(
        cacheManager,
        response,
    );

    return response;
}
"""


def test_typescript_whole_file_reply_ending_in_a_lone_brace() -> None:
    """msal's Token.ts: the statements end the file's last function; the whole file came
    back and only ``}`` follows the selection."""
    new = TS.replace("        response,\n    );", "        response,\n    ); // throttle")
    got = _refactor(
        TS, "    ThrottlingUtils.postProcess(", "    return response;", new, "typescript", "ts"
    )
    assert got == new


TS_RET = """\
export function serializeArray<T extends AnyNode>(
  this: Cheerio<T>,
): {
  name: string;
  value: string;
}[] {
  const elements = this.map((_, elem) => elem);
  return elements.toArray();
}
"""


def test_typescript_header_with_an_object_return_type_is_unwrapped() -> None:
    """cheerio's forms.ts: the header's ``{`` on its first lines opens a type, not the body."""
    code = (
        "export function serializeArray<T extends AnyNode>(\n"
        "  this: Cheerio<T>,\n"
        "): {\n"
        "  name: string;\n"
        "  value: string;\n"
        "}[] {\n"
        "  const elements = this.map((_, el) => el);\n"
        "}\n"
    )
    got = _refactor(TS_RET, "  const elements", "  const elements", code, "typescript", "tsx")
    assert got == TS_RET.replace("(_, elem) => elem", "(_, el) => el")


GO_SWAP = """\
func appendName(b []byte, sf reflect.StructField, qualified bool) []byte {
\tif qualified && sf.PkgPath != "" {
\t\tb = append(b, '"')
\t\tb = append(b, sf.PkgPath...)
\t\tb = append(b, '"')
\t\tb = append(b, '.')
\t}
\treturn b
}
"""


def test_go_reply_whose_second_line_equals_the_line_above_is_not_cut() -> None:
    """go-cmp's name.go: the selection's second line equals the line above it, so a
    verbatim reply shares one line with that context; one such line is not repeated
    context when the reply's first line stands above it."""
    code = "b = append(b, sf.PkgPath...)\nb = append(b, '\"')\nb = append(b, '.')\n"
    got = _refactor(
        GO_SWAP, "\t\tb = append(b, sf.PkgPath", "\t\tb = append(b, '.')", code, "go", "go"
    )
    assert got == GO_SWAP


RUST_TAIL = """\
impl Display for Comparator {
\tfn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
\t\twrite!(formatter, "{}", self.major)?;
\t\tif let Some(minor) = &self.minor {
\t\t\twrite!(formatter, ".{}", minor)?;
\t\t\tif let Some(patch) = &self.patch {
\t\t\t\twrite!(formatter, ".{}", patch)?;
\t\t\t} else if self.op == Op::Wildcard {
\t\t\t\tformatter.write_str(".*")?;
\t\t\t}
\t\t} else if self.op == Op::Wildcard {
\t\t\tformatter.write_str(".*")?;
\t\t}
\t\tOk(())
\t}
}
"""


def test_rust_reply_ending_like_the_code_below_keeps_its_own_end() -> None:
    """semver's display.rs (seed 11): the selection ends with an inner ``} else if ... {``
    block that the outer one repeats just below it. A reply repeating the selection lost
    those lines as "repeated context" and was refused for its missing ``}``."""
    code = (
        'write!(formatter, ".{}", minor)?;\n'
        "if let Some(patch) = &self.patch {\n"
        '\twrite!(formatter, ".{}", patch)?;\n'
        "} else if self.op == Op::Wildcard {\n"
        '\tformatter.write_str(".*")?;\n'
        "}\n"
    )
    first = '\t\t\twrite!(formatter, ".{}", minor)'
    last = '\t\t\t\tformatter.write_str(".*")?;\n\t\t\t}'
    got = _refactor(RUST_TAIL, first, last, code, "rust", "rust")
    assert got == RUST_TAIL
