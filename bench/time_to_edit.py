"""Time to a checked edit: whole rewrites against replacement pairs (docs/edit-format.md).

A scripted model on 127.0.0.1 writes at a set rate (default 60 tokens/s, one token = 4
characters, first byte after 2 s, 300 tokens of thinking first) and answers in the form the
prompt asked for: replacement pairs when the system prompt offers them and the change is
small, else the whole selection. The real server is driven over stdio with
``editFormat`` = whole, auto and replace, on selections of about 20, 100 and 300 lines (whole
functions drawn, by a seed, from standard-library modules nobody here wrote), with a change
of 3 lines and a change of most lines (a comment appended to logical line ends; the
result is checked against the document the bench built, so a fast wrong edit counts as a
failure).

Printed per size, change and format: output tokens (the server's reported usage), time to
edit (``workspace/executeCommand`` sent -> ``workspace/applyEdit`` received) and time to the
first visible code (the first ``m21/preview`` with kind "refactor" and text, docs/preview.md;
"n/a" when the server sends none). Then the targets, each "met" or "not met"; the exit
status is 1 when one is not met:

* 300 lines, small change: ``auto`` writes <= 15 % of ``whole``'s answer tokens (output
  tokens less the thinking, which is the same for both forms; the share with the thinking
  is printed beside it) and reaches the edit in <= 35 % of its time;
* 20 lines: ``auto`` no slower than ``whole`` (within 5 %, medians of ``--repeats`` runs);
* first visible code <= first token + thinking + 1 s (when previews are sent);
* first words of an explanation <= first token + thinking + 0.5 s (when previews are sent).

Run: ``python bench/time_to_edit.py`` (about 7 minutes at 60 tokens/s), or ``--smoke``
(a subset at a higher rate, well under a minute).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import random
import re
import statistics
import sys
import sysconfig
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from pygls.lsp.client import LanguageClient

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-key-not-secret"
CHARS_PER_TOKEN = 4
MARK = "  # checked"
SIZES = {20: (18, 24), 100: (90, 115), 300: (285, 330)}
FORMATS = ("whole", "auto", "replace")


# ----------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """A function selected whole in a real module, and the lines a change touches."""

    size: int
    path: Path
    text: str
    first: int  # 0-based first line of the selection
    last: int  # 0-based last line (inclusive)
    eligible: tuple[int, ...]  # 0-based lines where a logical line ends (a comment fits)

    def lines(self) -> list[str]:
        return self.text.split("\n")


def _candidates() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo"}
    return sorted(
        p
        for p in stdlib.rglob("*.py")
        if not skip.intersection(p.relative_to(stdlib).parts) and not p.name.startswith("_")
    )


def _runs(tree: ast.Module, low: int, high: int) -> list[tuple[int, int]]:
    """(first, last) 0-based lines of runs of whole sibling definitions (functions,
    methods, classes) whose span is ``low``-``high`` lines: what a user selects to refactor."""
    bodies = [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    out: list[tuple[int, int]] = []
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for body in bodies:
        defs = [n for n in body if isinstance(n, kinds)]
        for i, node in enumerate(defs):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            for other in defs[i:]:
                last = (other.end_lineno or other.lineno) - 1
                if last - first + 1 > high:
                    break
                if last - first + 1 >= low and body.index(other) - body.index(node) == (
                    defs.index(other) - i
                ):
                    out.append((first, last))
    return out


def _logical_ends(text: str) -> set[int]:
    """0-based lines on which a logical line ends with code (no comment there yet)."""
    ends: set[int] = set()
    previous: tokenize.TokenInfo | None = None
    try:
        for tok in tokenize.generate_tokens(iter(text.splitlines(keepends=True)).__next__):
            if tok.type == tokenize.NEWLINE and previous is not None:
                if previous.type != tokenize.COMMENT and previous.end[0] == tok.start[0]:
                    ends.add(tok.start[0] - 1)
            if tok.type not in (tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
                previous = tok
    except (tokenize.TokenError, SyntaxError):
        return set()
    return ends


def draw_cases(seed: int, sizes: list[int]) -> dict[int, Case]:
    """One whole function per size, from ASCII standard-library modules, by ``seed``."""
    rng = random.Random(seed)
    found: dict[int, list[Case]] = {size: [] for size in sizes}
    paths = _candidates()
    rng.shuffle(paths)  # a seeded order, scanned until every size has a few to choose from
    for path in paths:
        if all(len(found[size]) >= 8 for size in sizes):
            break
        try:
            text = path.read_text(encoding="ascii")
            tree = ast.parse(text)
        except (UnicodeDecodeError, SyntaxError, ValueError):
            continue
        if "\r" in text or "\t" in text:
            continue
        ends = None
        for size in sizes:
            low, high = SIZES[size]
            for first, last in _runs(tree, low, high):
                if ends is None:
                    ends = _logical_ends(text)
                eligible = tuple(k for k in range(first + 1, last + 1) if k in ends)
                if len(eligible) >= 3:
                    found[size].append(Case(size, path, text, first, last, eligible))
    return {size: rng.choice(found[size]) for size in sizes if found[size]}


def changed_lines(case: Case, change: str, seed: int) -> list[int]:
    """0-based document lines the change appends a comment to: 3 of them, or all."""
    if change == "most":
        return list(case.eligible)
    return sorted(random.Random(seed).sample(case.eligible, 3))


def expected_text(case: Case, lines: list[int]) -> str:
    out = case.lines()
    for k in lines:
        out[k] = out[k].rstrip() + MARK
    return "\n".join(out)


# ----------------------------------------------------------------------------- the model
@dataclass
class ModelScript:
    """How the scripted model writes, and what it changes in the selection it is shown."""

    rate: float
    first_token: float
    thinking: int
    relative: list[int] = field(default_factory=list)  # changed lines, selection-relative
    replies: list[str] = field(default_factory=list)

    def thinking_text(self) -> str:
        words = ("plan the change and keep behaviour " * (self.thinking // 8 + 2)).split(" ")
        text = ""
        while len(text) < self.thinking * CHARS_PER_TOKEN - 20:
            text += words[len(text) % len(words)] + " "
        return (
            "<think>\n" + text[: self.thinking * CHARS_PER_TOKEN - 17].rstrip() + "\n</think>\n\n"
        )

    def respond(self, body: dict[str, Any]) -> Step:
        messages = body.get("messages") or []
        system = str(messages[0].get("content", "")) if messages else ""
        user = str(messages[-1].get("content", "")) if messages else ""
        if "explaining code" in system:
            words = "This function walks the items and returns the total it finds. " * 40
            content = self.thinking_text() + words
        else:
            shown = _shown_selection(user)
            lines = shown.split("\n")
            new = list(lines)
            for k in self.relative:
                new[k] = new[k].rstrip() + MARK
            asks_pairs = "\n\nReply with replacement pairs" in user
            fence = "````" if "```" in shown else "```"
            whole = f"{fence}python\n" + "\n".join(new).rstrip("\n") + f"\n{fence}\n"
            pairs = _pairs_reply(lines, new, self.relative) if asks_pairs else ""
            # Offered pairs, the model takes them unless writing the selection out is shorter
            # ("or the whole selection when most of it changes").
            body_text = pairs if pairs and len(pairs) < len(whole) else whole
            content = self.thinking_text() + body_text
        self.replies.append(content)
        return Step(
            content=content,
            chunk_chars=CHARS_PER_TOKEN,
            first_byte_delay=self.first_token,
            frames_per_second=self.rate,
        )


def _shown_selection(user: str) -> str:
    """The selection as the prompt showed it: the fenced block after "Selected code"."""
    at = user.rindex("Selected code")
    m = re.compile(r"^(`{3,})python\n", re.M).search(user, at)
    assert m is not None, "no selection in the prompt"
    fence = m.group(1)
    end = user.index("\n" + fence, m.end())
    return user[m.end() : end]


def _pairs_reply(lines: list[str], new: list[str], changed: list[int]) -> str:
    """One pair per run of changed lines, grown upwards until its old text is unique."""
    shown = "\n".join(lines)
    groups: list[list[int]] = []
    for k in sorted(changed):
        if groups and k == groups[-1][1] + 1:
            groups[-1][1] = k
        else:
            groups.append([k, k])
    for group in groups:
        while shown.count("\n".join(lines[group[0] : group[1] + 1])) > 1 and group[0] > 0:
            group[0] -= 1
    merged: list[list[int]] = []
    for group in groups:
        if merged and group[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], group[1])
        else:
            merged.append(group)
    invokes = []
    for a, b in merged:
        old = "\n".join(lines[a : b + 1])
        replacement = "\n".join(new[a : b + 1])
        invokes.append(
            '<invoke name="replace">\n'
            f'<parameter name="old_text">{old}</parameter>\n'
            f'<parameter name="new_text">{replacement}</parameter>\n</invoke>\n'
        )
    return "<minimax:tool_call>\n" + "".join(invokes) + "</minimax:tool_call>\n"


# ----------------------------------------------------------------------------- the client
class Client(LanguageClient):
    """An editor that applies edits and notes when the edit and the first preview came."""

    def __init__(self) -> None:
        super().__init__("m21-time-to-edit", "1")
        self.docs: dict[str, tuple[int, str]] = {}
        self.edit_at: float | None = None
        self.preview_at: dict[str, float] = {}

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            if self.edit_at is None:
                self.edit_at = time.perf_counter()
            for doc_edit in params.edit.document_changes or []:
                uri = doc_edit.text_document.uri
                version, text = self.docs[uri]
                self.docs[uri] = (version + 1, _apply(text, doc_edit.edits))
                self.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(
                            uri=uri, version=version + 1
                        ),
                        content_changes=[
                            types.TextDocumentContentChangeWholeDocument(text=self.docs[uri][1])
                        ],
                    )
                )
            return types.ApplyWorkspaceEditResult(applied=True)

        @self.feature("m21/preview")
        def preview(params: Any) -> None:
            kind = getattr(params, "kind", None) or (params or {}).get("kind")
            text = getattr(params, "text", None) or (params or {}).get("text")
            if kind and text and kind not in self.preview_at:
                self.preview_at[kind] = time.perf_counter()

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(params: Any) -> None:
            return None

        @self.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(params: types.ConfigurationParams) -> list[Any]:
            return [None for _ in params.items]

        for method in (
            types.PROGRESS,
            types.WINDOW_LOG_MESSAGE,
            types.WINDOW_SHOW_MESSAGE,
            types.CLIENT_REGISTER_CAPABILITY,
        ):
            self.feature(method)(lambda params: None)

    def open(self, uri: str, text: str) -> None:
        self.docs[uri] = (1, text)
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )


def _apply(text: str, edits: Any) -> str:
    """ASCII documents only (the cases are), so LSP characters are string indices."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def offset(pos: types.Position) -> int:
        return len(text) if pos.line >= len(starts) else starts[pos.line] + pos.character

    for e in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]
    return text


CAPS = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        apply_edit=True,
        configuration=True,
        workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
    ),
    window=types.WindowClientCapabilities(work_done_progress=True),
    experimental={"m21Preview": True},
)


async def start(base_url: str, edit_format: str) -> Client:
    env = {k: v for k, v in os.environ.items() if not k.startswith("M21_")}
    env.pop("AIMLAPI_KEY", None)
    env.update({"M21_API_KEY": KEY, "M21_BASE_URL": base_url})
    env["PYTHONPATH"] = str(REPO / "server") + os.pathsep + env.get("PYTHONPATH", "")
    client = Client()
    await client.start_io(sys.executable, "-m", "m21_lsp.lsp", env=env)
    await client.initialize_async(
        types.InitializeParams(
            capabilities=CAPS,
            process_id=os.getpid(),
            initialization_options={
                "editFormat": edit_format,
                "confirmEdits": False,
                "timeout": 600,
                "maxSelectionLines": 2000,
            },
        )
    )
    client.initialized(types.InitializedParams())
    return client


async def stop(client: Client) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


@dataclass
class Run:
    tokens: int | None
    seconds: float
    preview: float | None
    correct: bool
    kind: str


async def run_one(client: Client, case: Case, command: str, uri: str, expected: str | None) -> Run:
    client.open(uri, case.text)
    client.edit_at = None
    client.preview_at = {}
    version = client.docs[uri][0]
    arg = {
        "uri": uri,
        "version": version,
        "range": {
            "start": {"line": case.first, "character": 0},
            "end": {"line": case.last + 1, "character": 0},
        },
    }
    sent = time.perf_counter()
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[arg])
    )
    done = time.perf_counter()
    result = result if isinstance(result, dict) else _as_dict(result)
    usage = result.get("usage") or {}
    kind = "refactor" if command == "m21.refactor" else "explain"
    preview = client.preview_at.get(kind)
    if command == "m21.refactor":
        correct = client.docs[uri][1] == expected and result.get("kind") == "applied"
        finished = client.edit_at if client.edit_at is not None else done
    else:
        correct = result.get("kind") == "explained"
        finished = done
    return Run(
        tokens=usage.get("completionTokens"),
        seconds=finished - sent,
        preview=None if preview is None else preview - sent,
        correct=correct,
        kind=str(result.get("kind")),
    )


def _median(group: list[Run]) -> Run:
    """One figure per case: median times; wrong if any run was wrong."""
    first = group[0]
    previews = [r.preview for r in group if r.preview is not None]
    return Run(
        tokens=first.tokens,
        seconds=statistics.median(r.seconds for r in group),
        preview=statistics.median(previews) if previews else None,
        correct=all(r.correct for r in group),
        kind=next((r.kind for r in group if not r.correct), first.kind),
    )


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        return dict(vars(value))
    except TypeError:
        return {}


# ----------------------------------------------------------------------------- main
def _fmt(value: float | None, unit: str = " s") -> str:
    return "n/a" if value is None else f"{value:.2f}{unit}"


async def main(args: argparse.Namespace) -> int:
    sizes = [20, 300] if args.smoke else [20, 100, 300]
    changes = ["small"] if args.smoke else ["small", "most"]
    formats = ["whole", "auto"] if args.smoke else list(FORMATS)
    cases = draw_cases(args.seed, sizes)
    script = ModelScript(rate=args.rate, first_token=args.first_token, thinking=args.thinking)
    model = ScriptedModelServer(port=0).start()
    model.responder = script.respond
    think_s = args.first_token + args.thinking / args.rate
    print(
        f"model: {args.rate:g} tokens/s, first token after {args.first_token:g} s, "
        f"{args.thinking} thinking tokens ({think_s:.2f} s before the answer starts)"
    )
    for size, case in cases.items():
        print(
            f"  {size:>3}-line case: {case.path.relative_to(case.path.parents[1])} lines {case.first + 1}-{case.last + 1} "
            f"({case.last - case.first + 1} lines)"
        )
    runs: dict[tuple[int, str, str], list[Run]] = {}
    explains: dict[int, Run] = {}
    clients = {fmt: await start(model.base_url, fmt) for fmt in formats}
    try:
        # Warm-up: the first refactor of a server imports the checkers (libcst, difflib…).
        warm = cases[min(cases)]
        script.relative = [k - warm.first for k in changed_lines(warm, "small", 0)]
        for fmt, client in clients.items():
            await run_one(client, warm, "m21.refactor", f"file:///bench/warm_{fmt}.py", None)
        for size, case in cases.items():
            for change in changes:
                lines = changed_lines(case, change, args.seed + size)
                script.relative = [k - case.first for k in lines]
                expected = expected_text(case, lines)
                repeats = args.repeats if size == 20 else 1
                for rep in range(repeats):
                    for fmt in formats:  # interleaved, so load on the machine hits both
                        # A document of its own per run: opening an open document again
                        # (no didClose) is not what an editor does.
                        uri = f"file:///bench/{size}_{change}_{fmt}_{rep}_{case.path.name}"
                        got = await run_one(clients[fmt], case, "m21.refactor", uri, expected)
                        runs.setdefault((size, change, fmt), []).append(got)
            if not args.smoke or size == 20:
                uri = f"file:///bench/explain_{size}_{case.path.name}"
                explains[size] = await run_one(clients[formats[0]], case, "m21.explain", uri, None)
    finally:
        for client in clients.values():
            await stop(client)
        model.stop()

    results = {key: _median(group) for key, group in runs.items()}
    print()
    print("| lines | change | editFormat | output tokens | time to edit | first visible code |")
    print("|---:|---|---|---:|---:|---:|")
    for (size, change, fmt), run in results.items():
        mark = "" if run.correct else f" (WRONG: {run.kind})"
        print(
            f"| {size} | {change} | {fmt} | {run.tokens} | {_fmt(run.seconds)}{mark} | "
            f"{_fmt(run.preview)} |"
        )
    for size, run in explains.items():
        print(
            f"| {size} | explain | — | {run.tokens} | {_fmt(run.seconds)} (whole answer) | "
            f"{_fmt(run.preview)} (first words) |"
        )

    ok = True

    def target(name: str, met: bool | None, detail: str) -> None:
        nonlocal ok
        state = "not measured" if met is None else ("met" if met else "NOT MET")
        ok = ok and met is not False
        print(f"{state:>12}  {name}: {detail}")

    print()
    wrong = [key for key, run in results.items() if not run.correct]
    target("every edit is the one the reply meant", not wrong, f"wrong: {wrong or 'none'}")
    big = max(cases)
    if big == 300 and (big, "small", "whole") in results and (big, "small", "auto") in results:
        whole, auto = results[(big, "small", "whole")], results[(big, "small", "auto")]
        if whole.tokens and auto.tokens:
            # The thinking is the same for both forms and no edit format can shorten it, so
            # the target is on what the form decides: the answer's tokens. The share of all
            # output tokens, thinking included, is printed beside it.
            a, w = auto.tokens - args.thinking, whole.tokens - args.thinking
            share = a / w
            target(f"{big} lines, small change: auto answer tokens <= 15 % of whole's",
                   share <= 0.15,
                   f"{a} / {w} = {share:.1%} (with the {args.thinking} thinking tokens: "
                   f"{auto.tokens} / {whole.tokens} = {auto.tokens / whole.tokens:.1%})")  # fmt: skip
        share = auto.seconds / whole.seconds
        # At the smoke run's rate the server's fixed cost (the checks of a 300-line edit)
        # outweighs the writing, so the ratio says nothing about the model's share there.
        target(f"{big} lines, small change: auto time <= 35 % of whole",
               None if args.smoke else share <= 0.35,
               f"{auto.seconds:.2f} s / {whole.seconds:.2f} s = {share:.1%}")  # fmt: skip
    if (20, "small", "whole") in results and (20, "small", "auto") in results:
        whole, auto = results[(20, "small", "whole")], results[(20, "small", "auto")]
        ratio = auto.seconds / whole.seconds
        target("20 lines: auto no slower than whole (5 %)", ratio <= 1.05,
               f"{auto.seconds:.2f} s / {whole.seconds:.2f} s = {ratio:.3f}")  # fmt: skip
    previews = [run.preview for run in results.values() if run.preview is not None]
    bound = think_s + 1.0
    if previews:
        target("first visible code <= first token + thinking + 1 s", max(previews) <= bound,
               f"worst {max(previews):.2f} s, bound {bound:.2f} s")  # fmt: skip
    else:
        target("first visible code <= first token + thinking + 1 s", None,
               "the server sent no m21/preview")  # fmt: skip
    words = [run.preview for run in explains.values() if run.preview is not None]
    if words:
        target("first words of an explanation <= first token + thinking + 0.5 s",
               max(words) <= think_s + 0.5, f"worst {max(words):.2f} s")  # fmt: skip
    else:
        target("first words of an explanation <= first token + thinking + 0.5 s", None,
               "the server sent no m21/preview")  # fmt: skip
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=None, help="tokens/s (default 60)")
    parser.add_argument("--first-token", type=float, default=None, help="seconds (default 2)")
    parser.add_argument("--thinking", type=int, default=300, help="thinking tokens (300)")
    parser.add_argument("--repeats", type=int, default=None, help="runs of the 20-line case")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--smoke", action="store_true", help="a fast subset for CI")
    args = parser.parse_args(argv)
    if args.rate is None:
        args.rate = 600.0 if args.smoke else 60.0
    if args.repeats is None:
        args.repeats = 1 if args.smoke else 3
    if args.first_token is None:
        args.first_token = 0.2 if args.smoke else 2.0
    return args


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
