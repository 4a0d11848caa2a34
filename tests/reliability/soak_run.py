"""The soak run: the real server over stdio, many commands, faults at random (seeded).

Shared by ``tests/reliability/test_soak.py`` (reduced size, in CI) and ``bench/soak.py``
(full size, prints figures). The test plays an editor and a user at once:

* it opens a few Python documents made of small functions and fires ``m21.refactor`` and
  ``m21.explain`` commands on them, up to ``concurrency`` at a time;
* the scripted model server answers each HTTP request with a fault drawn from a seeded
  ``random.Random`` (slow first byte, stalls past the chunk timeout, dropped connections,
  429s, 5xx, malformed SSE, broken JSON, empty choices, ``base_resp`` errors, truncated
  and cut-off replies, invalid Python, replies without code) or a good reply;
* meanwhile it types into the same documents (headers, bodies, new lines at the top) and
  cancels some commands, by ``$/cancelRequest`` and by work-done-progress cancel.

The documents have a structure the test understands, so it keeps an independent model of
what each should contain, computed without the server: the base text, the user's own edits,
and, for a command whose edit lands, the body of the reply the test scripted for that
command's last model request (each good reply carries a unique tag). An edit may land only
on a function nobody changed since the command was sent (the selection the model saw); one
that lands on a changed function is a failure, and the model keeps the user's text, so an
edit that overwrote what the user typed cannot pass. At the end the editor's text must
equal the model's rendering, character for character.

Each command's outcome is checked against the replies scripted for it: a refactor whose
last reply was clean, on a function nobody touched meanwhile, must end ``applied`` (unless
it was cancelled); one whose last reply was unusable must not; no edit may land after its
``$/cancelRequest`` was answered.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lsp_driver import Driver, server_env, start_driver, stop_driver
from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import client_capabilities

REFACTOR_TITLE = "Refactor with m2-1"
EXPLAIN_TITLE = "Explain with m2-1"
MAX_CONCURRENT_MODEL_CALLS = 4  # below the command concurrency, so "waiting" happens too
# Upper bounds for every wait of the run (never timing assertions): a command that has not
# answered after COMMAND_WAIT seconds is a hang, reported with what was still outstanding.
COMMAND_WAIT = 120.0
ROUND_TRIP_WAIT = 30.0

EVERYWHERE = -1  # the key for "any change to the document" in the touch counts
# The server tries this many times to send an edit while the client keeps refusing it for
# a newer version (lsp/apply.py APPLY_ATTEMPTS); after that it gives up, saying so.
APPLY_ATTEMPTS = 3
# Replies that carry a good answer whole (slow to start, but within the chunk timeout).
CLEAN_FAULTS = {"ok", "slow_first_byte"}
# Replies from which no edit can be made: a command that ends on one must not apply.
UNUSABLE_FAULTS = {
    "429",
    "429_retry_after",
    "500",
    "502",
    "503",
    "504",
    "base_resp",
    "truncated",
    "invalid_python",
    "no_code",
}

FAULT_WEIGHTS: dict[str, int] = {
    "ok": 34,
    "slow_first_byte": 5,
    "stall": 5,
    "drop": 5,
    "429_retry_after": 3,
    "429": 3,
    "500": 2,
    "502": 2,
    "503": 2,
    "504": 2,
    "malformed_sse": 4,
    "invalid_json": 4,
    "empty_choices": 4,
    "base_resp": 4,
    "truncated": 3,
    "cut_off": 4,
    "invalid_python": 5,
    "no_code": 3,
}

# Outcomes a command may end with; anything else (an internal error, a JSON-RPC error
# other than RequestCancelled) fails the run.
ALLOWED_OUTCOMES = {
    "applied",
    "explained",
    "cancelled",
    "request_cancelled",
    "stale",
    "declined",
    "auth",
    "credits",
    "rate_limit",
    "server",
    "timeout",
    "truncated",
    "no_code",
    "reply",
    "invalid_python",
    "model",
}


@dataclass
class SoakConfig:
    commands: int = 60
    concurrency: int = 8
    documents: int = 3
    functions: int = 8
    seed: int = 2126
    explain_share: float = 0.25
    request_cancel_share: float = 0.08
    progress_cancel_share: float = 0.1
    user_edit_rate: float = 0.6
    chunk_timeout: float = 0.5
    position_encoding: str = "utf-16"  # what the client offers: utf-16 (default), utf-8, utf-32
    client: str = "visual-studio-code"  # whose captured capabilities to use. "neovim":
    # Neovim's clientInfo and capabilities (no documentChanges advertised), its applyEdit
    # handler (lsp_driver: skips stale versioned edits, answers applied regardless), its
    # versions (b:changedtick, 0 at didOpen), and typing while an applyEdit is on its way
    in_flight_typing_rate: float = 0.3  # neovim: share of applyEdits the user types before
    # RSS growth over the run: about 24 MiB at 240 commands and 27 at 600 (README), so it
    # levels off; 40 MiB leaves room for the allocator and still catches a leak of 3 MiB
    # per command in a 40-command run (debug_server's leak-memory sabotage).
    rss_growth_bound_kb: int = 40 * 1024
    sabotage: str = ""  # break the server on purpose (see debug_server.py)
    command_wait: float = COMMAND_WAIT  # the longest any command may take to answer


@dataclass
class SoakReport:
    config: SoakConfig
    commands_sent: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    http_requests: int = 0
    user_edits: Counter[str] = field(default_factory=Counter)
    cancels_planned: Counter[str] = field(default_factory=Counter)
    cancels_sent: Counter[str] = field(default_factory=Counter)
    applied_after_request_cancel: int = 0
    final_reply_outcomes: Counter[str] = field(default_factory=Counter)
    stale_kept_changing: int = 0
    stale_typed_on_the_way: int = 0
    idle_connections_at_end: int = -1
    connections_after_shutdown: int = -1
    hangs: int = 0
    misplaced_edits: int = 0
    skipped_edits: int = 0
    seconds: float = 0.0
    rss_before_kb: int = 0
    encoding: str = ""
    rss_after_kb: int = 0
    tasks_before: int = 0
    tasks_after: int = 0
    problems: list[str] = field(default_factory=list)

    def figures(self) -> str:
        c = self.config
        lines = [
            f"soak: {sum(self.commands_sent.values())} commands "
            f"({dict(sorted(self.commands_sent.items()))}), up to {c.concurrency} at a time, "
            f"maxConcurrentRequests={MAX_CONCURRENT_MODEL_CALLS}, chunkTimeout={c.chunk_timeout}s, "
            f"positionEncoding={self.encoding}, client={c.client}, seed={c.seed}, "
            f"{self.seconds:.1f} s",
            f"  model HTTP requests: {self.http_requests}",
            "  faults injected: " + _fmt(self.faults),
            "  outcomes: " + _fmt(self.outcomes),
            "  user edits during the run: " + _fmt(self.user_edits),
            "  cancels planned: " + _fmt(self.cancels_planned),
            "  cancels sent: " + _fmt(self.cancels_sent),
            f"  edits applied although $/cancelRequest was answered: "
            f"{self.applied_after_request_cancel}",
            "  refactors by their last scripted reply -> outcome: "
            + _fmt(self.final_reply_outcomes),
            f"  clean replies on untouched code refused because the document kept changing "
            f"through {APPLY_ATTEMPTS} attempts to send the edit: {self.stale_kept_changing}",
            f"  clean replies reported not applied because the user typed while the edit was "
            f"on its way (the client skipped it): {self.stale_typed_on_the_way}",
            f"  model HTTP connections: {self.idle_connections_at_end} open and idle (kept alive "
            f"for reuse) at the end, {self.connections_after_shutdown} after shutdown",
            f"  hangs (waits past their bound): {self.hangs}",
            f"  edits that landed anywhere but on their function's body: {self.misplaced_edits}",
            f"  stale edits the client skipped: {self.skipped_edits}",
            f"  server asyncio tasks: {self.tasks_before} before, {self.tasks_after} after",
            f"  server RSS: {self.rss_before_kb / 1024:.1f} MiB before, "
            f"{self.rss_after_kb / 1024:.1f} MiB after "
            f"(bound: growth < {c.rss_growth_bound_kb / 1024:.0f} MiB)",
        ]
        if self.problems:
            lines.append("  PROBLEMS:")
            lines += [f"    - {p}" for p in self.problems]
        return "\n".join(lines)


def _fmt(counter: Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counter.items())) or "none"


# ---------------------------------------------------------------------------- documents
def header(d: int, i: int, u: int) -> str:
    # Non-ASCII after the tag: positions differ between encodings (😀 is 2 UTF-16 units,
    # 4 UTF-8 bytes), so a conversion slip would misplace edits on every later line.
    return f"def f_{d}_{i}(x):  # u{u} 😀é\n"


def initial_body(i: int) -> str:
    return f"    return x + {i}  # r0\n"


def refactored_body(i: int, tag: int) -> str:
    return f"    y = x + {i}\n    return y  # r{tag}\n"


def user_body(i: int, n: int) -> str:
    return f"    return x + {i}  # e{n}\n"


@dataclass
class DocModel:
    """What one document must contain, kept without looking at the editor's text."""

    d: int
    prelude: list[str]
    headers: dict[int, int]
    bodies: dict[int, str]

    def render(self) -> str:
        blocks = [header(self.d, i, self.headers[i]) + self.bodies[i] + "\n\n" for i in self.bodies]
        return '"""Soak document."""\n' + "".join(self.prelude) + "\n" + "".join(blocks)


def function_span(text: str, d: int, i: int) -> tuple[int, int]:
    """Offsets of function ``f_d_i``: its def line through its body's last newline."""
    start = text.index(f"def f_{d}_{i}(x):")
    return start, text.index("\n\n", start) + 1


# ---------------------------------------------------------------------------- the model
_SELECTED = re.compile(
    r"Selected code[^\n]*:\n(?P<f>`{3,}|~{3,})[^\n]*\n(?P<code>.*?)^(?P=f)[ \t]*$", re.S | re.M
)
_CMD = re.compile(r"soak cmd (\d+)")
_FUNC = re.compile(r"def f_(\d+)_(\d+)\(x\):")


class Responder:
    """Decides every HTTP reply of the scripted server (runs on the server's thread)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.kinds = list(FAULT_WEIGHTS)
        self.weights = [FAULT_WEIGHTS[k] for k in self.kinds]
        self.faults: Counter[str] = Counter()
        self.clean = False  # only good replies (for the final check)
        self.lock = threading.Lock()
        self.tags: dict[int, tuple[int, int, int]] = {}  # tag -> (cid, d, i)
        self.explanations: dict[int, tuple[int, int, int]] = {}
        # Every refactor request of each command, in order: (tag, fault kind).
        self.by_command: dict[int, list[tuple[int, str]]] = {}
        self._next_tag = 1

    def last_reply(self, cid: int) -> tuple[int, str] | None:
        """The tag and fault of the last refactor request made for command ``cid``."""
        with self.lock:
            replies = self.by_command.get(cid)
            return replies[-1] if replies else None

    def __call__(self, body: dict[str, Any]) -> Step:
        messages = body.get("messages") or []
        first_user = next((m["content"] for m in messages if m.get("role") == "user"), "")
        system = messages[0].get("content", "") if messages else ""
        explain = "explaining code" in system
        selected = _SELECTED.search(first_user)
        code = selected.group("code") if selected else ""
        func = _FUNC.search(code)
        cmd = _CMD.search(first_user)
        cid = int(cmd.group(1)) if cmd else -1
        d, i = (int(func.group(1)), int(func.group(2))) if func else (-1, -1)
        with self.lock:
            tag = self._next_tag
            self._next_tag += 1
            kind = "ok" if self.clean else self.rng.choices(self.kinds, self.weights)[0]
            self.faults[kind] += 1
            if explain:
                self.explanations[tag] = (cid, d, i)
            else:
                self.tags[tag] = (cid, d, i)
                self.by_command.setdefault(cid, []).append((tag, kind))
            rng_value = self.rng.random()
            small = self.rng.randint(1, 6)
        if explain:
            good = (
                f"<think>The function adds {i}.</think>\n"
                f"Explanation {tag} of f_{d}_{i}: it returns `x + {i}`."
            )
        else:
            first_line = code.split("\n", 1)[0] if code else f"def f_{d}_{i}(x):"
            good = (
                f"<think>Plan {tag}: name the intermediate value.</think>\n"
                "Here is the refactored code:\n\n```python\n"
                f"{first_line}\n{refactored_body(i, tag)}```\n"
            )
        return self._step(kind, good, explain, i, tag, rng_value, small)

    @staticmethod
    def _step(kind: str, good: str, explain: bool, i: int, tag: int, r: float, small: int) -> Step:
        chunk = 3 + small * 5
        if kind == "ok":
            return Step(content=good, chunk_chars=chunk)
        if kind == "slow_first_byte":
            return Step(content=good, first_byte_delay=0.05 + 0.2 * r)
        if kind == "stall":
            if small == 1:
                return Step(content=good, hold=True)  # nothing at all, not even headers
            return Step(content=good, stall_after_chunks=small)
        if kind == "drop":
            return Step(content=good, drop_after_chunks=small)
        if kind == "429_retry_after":
            return Step(status=429, headers={"Retry-After": "0" if r < 0.7 else "1"})
        if kind == "429":
            return Step(status=429, body={"message": "rate limited", "statusCode": 429})
        if kind in ("500", "502", "503", "504"):
            return Step(status=int(kind), body={"message": "upstream trouble"})
        if kind == "malformed_sse":
            return Step(content=good, malformed_line=True, chunk_chars=chunk)
        if kind == "invalid_json":
            return Step(content=good, invalid_json=True)
        if kind == "empty_choices":
            return Step(content=good, empty_choices=True)
        if kind == "base_resp":
            code = [1002, 1000, 1008, 1004][small % 4]
            return Step(
                content=good, base_resp={"status_code": code, "status_msg": "minimax says no"}
            )
        if kind == "truncated":
            return Step(content=good[: len(good) // 2], finish_reason="length")
        if kind == "cut_off":
            return Step(content=good[: len(good) // 2], finish_reason=None)
        if kind == "invalid_python":
            if explain:
                return Step(content=good + "\n\n```python\ndef broken(:\n```\n")
            return Step(
                content=f"<think>oops {tag}</think>\n```python\ndef f(x):\n    y = = x + {i}\n```\n"
            )
        if kind == "no_code":
            if explain:
                return Step(content=good)
            return Step(content=f"<think>{tag}</think>\nI would rename the variable; that is all.")
        raise AssertionError(kind)


# ---------------------------------------------------------------------------- the run
@dataclass
class Command:
    cid: int
    kind: str  # "refactor" | "explain"
    uri: str
    d: int
    i: int
    msg_id: str
    future: asyncio.Future[Any]
    cancel: str | None
    outcome: str = ""
    result: dict[str, Any] | None = None
    touched_at_send: int = 0  # changes to its function (by anyone) before it was sent
    touched_at_end: int = -1  # ... when its answer arrived
    doc_changes_at_send: int = 0  # the same for any change to its document
    doc_changes_at_end: int = -1
    sent_at: float = field(default_factory=time.monotonic)


class SoakHang(Exception):
    """A wait of the run passed its bound: the run stops and reports this as a problem."""


async def _bounded(awaitable: Any, seconds: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise SoakHang(f"{what}: no answer within {seconds:g} s") from None


def _outstanding(commands: list[Command], pending: set[asyncio.Future[Any]]) -> str:
    now = time.monotonic()
    waiting = [c for c in commands if c.future in pending]
    return "; ".join(
        f"command {c.cid} ({c.kind} f_{c.d}_{c.i}, cancel={c.cancel}, {now - c.sent_at:.0f} s)"
        for c in waiting[:8]
    ) + (f" and {len(waiting) - 8} more" if len(waiting) > 8 else "")


async def _debug_state(driver: Driver) -> dict[str, Any]:
    return await _bounded(driver.execute("m21.debug.state", []), ROUND_TRIP_WAIT, "m21.debug.state")


async def run_soak(
    config: SoakConfig, model_server: ScriptedModelServer, key: str, log: Any = print
) -> SoakReport:
    report = SoakReport(config)
    rng = random.Random(config.seed * 7 + 1)
    responder = Responder(config.seed)
    model_server.responder = responder
    env = server_env(
        model_server.base_url,
        key,
        M21_CHUNK_TIMEOUT=str(config.chunk_timeout),
        M21_CONNECT_TIMEOUT="5",
        M21_TIMEOUT="60",
        M21_MAX_ATTEMPTS="3",
        M21_REPAIR_TURNS="1",
        M21_MAX_CONCURRENT_REQUESTS=str(MAX_CONCURRENT_MODEL_CALLS),
        M21_SOAK_SABOTAGE=config.sabotage,
    )
    caps = client_capabilities(config.client)
    if config.position_encoding != "utf-16":
        caps.general = types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind(config.position_encoding)]
        )
    neovim = config.client == "neovim"
    client_info = types.ClientInfo(name="Neovim", version="0.7.2") if neovim else None
    driver = await start_driver(env, caps=caps, debug=True, client_info=client_info)
    if neovim:
        driver.apply_like = "neovim"
        driver.version_step = 2
    offered = caps.general.position_encodings if caps.general else None
    if driver.encoding not in [getattr(e, "value", e) for e in offered or ["utf-16"]]:
        report.problems.append(f"negotiated {driver.encoding}, not one of {offered}")
    report.encoding = driver.encoding
    try:
        await _soak(driver, config, report, responder, model_server, rng)
    except SoakHang as exc:
        report.hangs += 1
        report.problems.append(f"HANG: {exc}")
        try:
            state = await _debug_state(driver)
        except SoakHang as again:
            report.problems.append(f"and the server no longer answers: {again}")
        else:
            report.problems.append(f"server state at the hang: {state}")
    except Exception as exc:
        # The run's own bookkeeping failed (e.g. an edit destroyed a function the test
        # looks for): a problem to report with the figures, not a crash past the shutdown.
        report.problems.append(f"the run stopped: {exc!r}\n{traceback.format_exc()[-2000:]}")
    finally:
        stuck = await stop_driver(driver)
        if stuck:
            report.hangs += 1
            report.problems.append(f"HANG: the server did not stop ({stuck}); killed")
    stderr = driver.stderr.decode("utf-8", "replace")
    if "Traceback" in stderr or " ERROR " in stderr:
        report.problems.append(f"the server logged errors on stderr:\n{stderr[-3000:]}")
    if not model_server.wait_for_connections(0, timeout=15):
        report.problems.append(
            f"{model_server.open_connections} HTTP connection(s) still open after shutdown"
        )
    report.connections_after_shutdown = model_server.open_connections
    unfinished = [r for r in model_server.requests if not _finished(r)]
    if unfinished:
        report.problems.append(
            f"{len(unfinished)} model request(s) never finished: "
            + "; ".join(_step_faults(r.step) for r in unfinished[:5])
        )
    report.skipped_edits = driver.skipped_edits
    if report.misplaced_edits:
        report.problems.append(f"{report.misplaced_edits} edit(s) landed on the wrong lines")
    report.http_requests = len(model_server.requests)
    report.faults = Counter(responder.faults)
    log(report.figures())
    return report


async def _soak(
    driver: Driver,
    config: SoakConfig,
    report: SoakReport,
    responder: Responder,
    model_server: ScriptedModelServer,
    rng: random.Random,
) -> None:
    started = time.monotonic()
    models: dict[str, DocModel] = {}
    for d in range(config.documents):
        uri = f"file:///soak/doc{d}.py"
        model = DocModel(
            d,
            [],
            {i: 0 for i in range(config.functions)},
            {i: initial_body(i) for i in range(config.functions)},
        )
        models[uri] = model
        # Neovim's didOpen says version 0.
        driver.open(uri, model.render(), version=0 if config.client == "neovim" else 1)

    applied_by_cid: Counter[int] = Counter()
    # How often each function (uri, i) was changed, by the user or by an applied edit: a
    # command may land its edit only if its function's count is what it was at sending.
    touches: Counter[tuple[str, int]] = Counter()
    by_cid: dict[int, Command] = {}

    def on_applied(uri: str, edits: list[Any]) -> None:
        # The edit's tag only says which command's edit this is; what the document must
        # now contain comes from the test's own script, never from the edit.
        tags = [int(t) for e in edits for t in re.findall(r"# r(\d+)", e.new_text)]
        if len(tags) != 1 or tags[0] not in responder.tags:
            report.problems.append(f"an applied edit carries tags {tags}: {edits!r:.300}")
            return
        cid, d, i = responder.tags[tags[0]]
        applied_by_cid[cid] += 1
        try:
            text = driver.text(uri)
            start, end = function_span(text, d, i)
            landed_right = text[text.index("\n", start) + 1 : end] == refactored_body(i, tags[0])
        except ValueError:
            landed_right = False  # it destroyed a function's header
        if not landed_right:
            report.misplaced_edits += 1
        cmd = by_cid.get(cid)
        if cmd is None or cmd.uri != uri or (cmd.d, cmd.i) != (d, i):
            report.problems.append(f"an edit from reply {tags[0]} ({cid}, f_{d}_{i}) in {uri}")
            return
        last = responder.last_reply(cid)
        if last is None or last[0] != tags[0]:
            report.problems.append(
                f"command {cid} applied reply {tags[0]}, not its last one ({last})"
            )
        if touches[(uri, i)] != cmd.touched_at_send:
            report.problems.append(
                f"command {cid}'s edit landed on f_{d}_{i} in {uri} although the function "
                f"changed after the command was sent: it overwrote that change"
            )
            return  # the model keeps what was there: the final comparison shows the damage
        touches[(uri, i)] += 1
        touches[(uri, EVERYWHERE)] += 1
        models[uri].bodies[i] = refactored_body(i, tags[0])

    driver.on_applied = on_applied
    baseline = await _debug_state(driver)
    report.tasks_before = baseline["tasks"]
    report.rss_before_kb = baseline["rssKb"]

    def watch_touches(cmd: Command) -> None:
        by_cid[cmd.cid] = cmd
        cmd.touched_at_send = touches[(cmd.uri, cmd.i)]
        cmd.doc_changes_at_send = touches[(cmd.uri, EVERYWHERE)]

        def answered(_future: asyncio.Future[Any]) -> None:
            cmd.touched_at_end = touches[(cmd.uri, cmd.i)]
            cmd.doc_changes_at_end = touches[(cmd.uri, EVERYWHERE)]

        cmd.future.add_done_callback(answered)

    commands: list[Command] = []
    pending: set[asyncio.Future[Any]] = set()
    helpers: list[asyncio.Task[None]] = []
    edit_counter = 0

    def user_edit(uri: str | None = None) -> None:
        nonlocal edit_counter
        edit_counter += 1
        uri = uri or rng.choice(list(models))
        model = models[uri]
        text = driver.text(uri)
        what = rng.choice(["header", "header", "body", "prelude"])
        i = rng.randrange(config.functions)
        start, _end = function_span(text, model.d, i)
        if what == "header":
            line_end = text.index("\n", start)
            mark = text.index("  # u", start, line_end)
            driver.edit(uri, mark, line_end, f"  # u{edit_counter} 😀é")
            model.headers[i] = edit_counter
            touches[(uri, i)] += 1
        elif what == "body":
            body_start = text.index("\n", start) + 1
            _s, end = function_span(text, model.d, i)
            driver.edit(uri, body_start, end, user_body(i, edit_counter))
            model.bodies[i] = user_body(i, edit_counter)
            touches[(uri, i)] += 1
        else:
            anchor = text.index("\n") + 1  # after the docstring line
            line = f"# p{edit_counter} 漢字 🎉\n"
            driver.edit(uri, anchor, anchor, line)
            model.prelude.insert(0, line)
        touches[(uri, EVERYWHERE)] += 1
        report.user_edits[what] += 1

    async def type_in_flight(params: types.ApplyWorkspaceEditParams) -> None:
        # The user types after the server sent the edit and before the editor handles it:
        # a window the server cannot see.
        if rng.random() >= config.in_flight_typing_rate:
            return
        changes = params.edit.document_changes or []
        uri = changes[0].text_document.uri if changes else next(iter(params.edit.changes or {}))
        user_edit(uri)
        report.user_edits["while an edit was on its way"] += 1

    if config.client == "neovim":
        driver.before_apply = type_in_flight

    async def cancel_by_request(cmd: Command, seen: int) -> None:
        # Wait for a new model request (most likely this command's), then cancel.
        await asyncio.to_thread(model_server.wait_for_requests, seen + 1, 5.0)
        driver.cancel_request(types.CancelParams(id=cmd.msg_id))
        report.cancels_sent["$/cancelRequest"] += 1

    async def cancel_by_progress() -> None:
        window = driver.init_caps.window
        if not (window and window.work_done_progress):
            return  # this client cannot cancel through progress
        try:
            tokens = await driver.wait_until(driver.active_progress_tokens, timeout=10)
        except TimeoutError:
            return
        driver.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token=rng.choice(tokens))
        )
        report.cancels_sent["progress cancel"] += 1

    for cid in range(config.commands):
        while rng.random() < config.user_edit_rate:
            user_edit()
            if rng.random() < 0.5:
                break
        uri = rng.choice(list(models))
        model = models[uri]
        i = rng.randrange(config.functions)
        kind = "explain" if rng.random() < config.explain_share else "refactor"
        start, end = function_span(driver.text(uri), model.d, i)
        arguments = [
            {
                "uri": uri,
                "version": driver.doc_version(uri),
                "range": driver.range_of(uri, start, end),
                "instruction": f"soak cmd {cid}",
            }
        ]
        roll = rng.random()
        cancel = (
            "request"
            if roll < config.request_cancel_share
            else "progress"
            if roll < config.request_cancel_share + config.progress_cancel_share
            else None
        )
        seen = len(model_server.requests)
        msg_id = f"soak-{cid}"
        future = driver.execute(f"m21.{kind}", arguments, msg_id=msg_id)
        cmd = Command(cid, kind, uri, model.d, i, msg_id, future, cancel)
        watch_touches(cmd)
        commands.append(cmd)
        report.commands_sent[kind] += 1
        pending.add(future)
        if cancel:
            report.cancels_planned[cancel] += 1
        if cancel == "request":
            helpers.append(asyncio.create_task(cancel_by_request(cmd, seen)))
        elif cancel == "progress":
            helpers.append(asyncio.create_task(cancel_by_progress()))
        if cid % 10 == 5:
            # The server keeps answering instant requests while commands wait.
            actions = await _bounded(
                driver.code_actions(uri, start, end), ROUND_TRIP_WAIT, "a code action"
            )
            titles = {a.title for a in actions}
            if not {REFACTOR_TITLE, EXPLAIN_TITLE} <= titles:
                report.problems.append(f"code actions missing during the run: {titles}")
        while len(pending) >= config.concurrency:
            done, pending = await asyncio.wait(
                pending, timeout=config.command_wait, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                raise SoakHang(f"no command answered: {_outstanding(commands, pending)}")

    if pending:
        _done, pending = await asyncio.wait(pending, timeout=config.command_wait)
        if pending:
            raise SoakHang(f"commands never answered: {_outstanding(commands, pending)}")
    helper_outcomes = await _bounded(
        asyncio.gather(*helpers, return_exceptions=True), ROUND_TRIP_WAIT, "the cancel helpers"
    )
    for outcome in helper_outcomes:
        if isinstance(outcome, BaseException):
            report.problems.append(f"a cancelling helper failed: {outcome!r}")

    # ------------------------------------------------------------------ outcomes
    sent, refused = _edits_sent(driver, responder)
    expected_failures: Counter[str] = Counter()
    expected_infos = 0
    warned = 0
    explanation_tags: set[int] = set()
    for cmd in commands:
        try:
            result = cmd.future.result()
        except JsonRpcRequestCancelled:
            cmd.outcome = "request_cancelled"
        except Exception as exc:
            cmd.outcome = f"rpc_error:{type(exc).__name__}"
            report.problems.append(f"command {cmd.cid} got a JSON-RPC error: {exc!r:.300}")
        else:
            cmd.result = result
            cmd.outcome = str(result.get("kind"))
        report.outcomes[cmd.outcome] += 1
        if cmd.outcome not in ALLOWED_OUTCOMES:
            report.problems.append(f"command {cmd.cid} ended as {cmd.outcome!r}: {cmd.result}")
        title = EXPLAIN_TITLE if cmd.kind == "explain" else REFACTOR_TITLE
        applied = applied_by_cid[cmd.cid]
        if cmd.outcome == "applied":
            if applied != 1:
                report.problems.append(f"command {cmd.cid} reports applied, {applied} edits landed")
            if cmd.result and cmd.result.get("warnings"):
                warned += 1
        elif cmd.outcome == "request_cancelled":
            report.applied_after_request_cancel += applied
            if cmd.cancel != "request":
                report.problems.append(f"command {cmd.cid} answered RequestCancelled unasked")
        elif applied:
            report.problems.append(
                f"command {cmd.cid} ended {cmd.outcome!r} but {applied} edit(s) of it landed"
            )
        if cmd.kind == "refactor":
            _check_refactor_outcome(
                cmd, responder.last_reply(cmd.cid), applied, sent[cmd.cid], refused[cmd.cid], report
            )
        if cmd.outcome == "explained":
            expected_infos += 1
            markdown = (cmd.result or {}).get("markdown", "")
            match = re.match(r"Explanation (\d+) of f_(\d+)_(\d+):", markdown)
            if not match:
                report.problems.append(f"explain {cmd.cid} returned {markdown!r:.200}")
            else:
                # Explain prompts carry no instruction, so match on the function and on
                # the reply's unique tag (no two commands may get the same reply).
                tag = int(match.group(1))
                owner = responder.explanations.get(tag, (None, None, None))[1:]
                if owner != (cmd.d, cmd.i) or tag in explanation_tags:
                    report.problems.append(
                        f"explain {cmd.cid} on f_{cmd.d}_{cmd.i} got reply {tag} for {owner}"
                    )
                explanation_tags.add(tag)
        if cmd.result is not None and cmd.result.get("reason"):
            message = cmd.result.get("message", "")
            if not message.strip() or "Traceback" in message:
                report.problems.append(f"command {cmd.cid} failed without a clear message")
            expected_failures[f"{title}: {message}"] += 1

    if report.applied_after_request_cancel:
        report.problems.append(
            f"{report.applied_after_request_cancel} edit(s) landed although their "
            "$/cancelRequest was answered as cancelled"
        )

    # Every failure was shown exactly once; nothing else went wrong out loud.
    await _bounded(driver.responsive(), ROUND_TRIP_WAIT, "a hover round trip")
    shown_bad = Counter(driver.shown(types.MessageType.Error, types.MessageType.Warning))
    with_warnings = sum(
        v for k, v in shown_bad.items() if k.startswith(f"{REFACTOR_TITLE}: applied, with warnings")
    )
    if with_warnings != warned:
        report.problems.append(f"{warned} applied with warnings, {with_warnings} warnings shown")
    missing = expected_failures - shown_bad
    if missing:
        report.problems.append(f"failures never shown: {dict(missing)}")
    extra = shown_bad - expected_failures
    extra_count = sum(extra.values()) - with_warnings
    if extra_count > report.outcomes["request_cancelled"]:
        report.problems.append(f"unexpected error messages: {dict(extra)}")
    infos = driver.shown(types.MessageType.Info)
    ready = [m for m in infos if m.startswith("Explanation ready")]
    if not expected_infos <= len(ready) <= expected_infos + report.outcomes["request_cancelled"]:
        report.problems.append(f"{expected_infos} explained, {len(ready)} 'ready' messages")

    # Every progress that began has ended.
    try:
        await driver.wait_until(lambda: not driver.active_progress_tokens(), timeout=30)
    except TimeoutError:
        report.problems.append(f"progress never ended: {driver.active_progress_tokens()}")

    # The editor's documents are exactly what the test computed.
    for uri, model in models.items():
        if driver.text(uri) != model.render():
            report.problems.append(
                f"{uri} differs from the computed text:\n{_diff(model.render(), driver.text(uri))}"
            )

    # The server's copy is in sync too: a clean refactor per document lands exactly.
    responder.clean = True
    driver.before_apply = None
    for n, (uri, model) in enumerate(models.items()):
        start, end = function_span(driver.text(uri), model.d, 0)
        cid = config.commands + n
        future = driver.execute(
            "m21.refactor",
            [
                {
                    "uri": uri,
                    "version": driver.doc_version(uri),
                    "range": driver.range_of(uri, start, end),
                    "instruction": f"soak cmd {cid}",
                }
            ],
        )
        watch_touches(Command(cid, "refactor", uri, model.d, 0, "", future, None))
        result = await _bounded(future, config.command_wait, f"the final clean refactor of {uri}")
        if result.get("kind") != "applied" or applied_by_cid[cid] != 1:
            report.problems.append(f"the final clean refactor of {uri} ended {result}")
        if driver.text(uri) != model.render():
            report.problems.append(
                f"{uri} after the final refactor:\n{_diff(model.render(), driver.text(uri))}"
            )

    # Nothing left behind in the server (it may take a moment for cancelled coroutines
    # to unwind: re-ask, each question a round trip, a bounded number of times).
    state = await _debug_state(driver)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        state["cancelHooks"] == 0
        and state["clientUsers"] == 0
        and state["running"] == 0
        and state["tasks"] <= baseline["tasks"]
    ):
        await asyncio.sleep(0.05)  # polling a condition with a deadline, not a fixed wait
        state = await _debug_state(driver)
    report.tasks_after = state["tasks"]
    report.rss_after_kb = state["rssKb"]
    if state["tasks"] > baseline["tasks"]:
        report.problems.append(
            f"asyncio tasks left: {state['tasks']} now, {baseline['tasks']} before: "
            f"{state['taskNames']} (before: {baseline['taskNames']})"
        )
    if state["cancelHooks"] or state["clientUsers"] or state["running"]:
        report.problems.append(f"server state not clean: {state}")
    if state["rssKb"] - baseline["rssKb"] > config.rss_growth_bound_kb:
        report.problems.append(
            f"server memory grew past the bound: {baseline['rssKb'] / 1024:.1f} MiB before, "
            f"{state['rssKb'] / 1024:.1f} MiB after"
        )
    # The server's HTTP client keeps the connections of finished calls open for the next
    # call (keep-alive, as for a real endpoint: no new TCP and TLS handshake per refactor).
    # So connections may be open now, but only idle ones: no request may be in flight, and
    # no more of them than calls ever ran at once (more would be leaked, not pooled). All
    # of them must be closed when the server shuts down (checked after stop_driver).
    report.idle_connections_at_end = model_server.open_connections
    in_flight = [r for r in model_server.requests if not _finished(r)]
    if in_flight:
        report.problems.append(
            f"{len(in_flight)} model request(s) still in flight after every command ended: "
            + "; ".join(_step_faults(r.step) for r in in_flight[:5])
        )
    if model_server.open_connections > MAX_CONCURRENT_MODEL_CALLS:
        report.problems.append(
            f"{model_server.open_connections} HTTP connections open after the run, more than "
            f"the {MAX_CONCURRENT_MODEL_CALLS} calls that can run at once: some were leaked"
        )
    if not driver.alive:
        report.problems.append("the server process died")
    await _bounded(driver.responsive(), ROUND_TRIP_WAIT, "the last hover round trip")
    report.seconds = time.monotonic() - started


def _finished(request: Any) -> bool:
    """A request ends with its whole reply sent, with the client gone, or with the socket
    dropped on purpose (the "drop" fault); anything else is a reply still hanging."""
    step = request.step
    return bool(
        request.completed
        or request.client_closed_early
        or (step is not None and step.drop_after_chunks is not None)
    )


def _edits_sent(driver: Driver, responder: Responder) -> tuple[Counter[int], Counter[int]]:
    """Per command, the ``workspace/applyEdit`` requests the client received for it, and how
    many of them it refused (a version it no longer had). Each edit carries its reply's tag,
    which names the command; an edit received and neither refused nor landed was skipped
    (Neovim's handler, for a version older than the buffer)."""
    sent: Counter[int] = Counter()
    refused: Counter[int] = Counter()
    for params, accepted in driver.apply_log:
        texts = [e.new_text for dc in params.edit.document_changes or [] for e in dc.edits]
        texts += [e.new_text for edits in (params.edit.changes or {}).values() for e in edits]
        tags = {int(t) for text in texts for t in re.findall(r"# r(\d+)", text)}
        for tag in tags & responder.tags.keys():
            cid = responder.tags[tag][0]
            sent[cid] += 1
            refused[cid] += not accepted
    return sent, refused


def _check_refactor_outcome(
    cmd: Command,
    last: tuple[int, str] | None,
    applied: int,
    sent: int,
    refused: int,
    report: SoakReport,
) -> None:
    """A refactor's outcome must follow from the replies scripted for it, and a refusal's
    reason from what the client saw (``sent`` edits for it, ``refused`` of them), never
    from the refusal's own words."""
    if last is None:
        return  # cancelled or refused before any model request
    _tag, fault = last
    report.final_reply_outcomes[f"{fault}->{cmd.outcome}"] += 1
    if cmd.outcome in ("cancelled", "request_cancelled"):
        return
    others = cmd.touched_at_end - cmd.touched_at_send - applied
    if fault in CLEAN_FAULTS:
        allowed = {"applied"} if others == 0 else {"applied", "stale"}
        message = str((cmd.result or {}).get("message"))
        busy = cmd.doc_changes_at_end - cmd.doc_changes_at_send - applied >= APPLY_ATTEMPTS
        if "kept changing" in message:
            # Honest when typing elsewhere in the document made the client refuse the edit
            # (its version was one behind) on the server's attempts: the document changed
            # that often, and the client did refuse an edit of this command.
            if busy and refused >= 1:
                report.stale_kept_changing += 1
            else:
                report.problems.append(
                    f"command {cmd.cid} says the document kept changing, but it changed "
                    f"{cmd.doc_changes_at_end - cmd.doc_changes_at_send - applied} time(s) "
                    f"and the client refused {refused} of the {sent} edit(s) sent for it"
                )
            return
        typed = cmd.doc_changes_at_end - cmd.doc_changes_at_send - applied >= 1
        if "on its way to the editor" in message:
            # Honest when the user typed while the edit was on its way and the client
            # (Neovim without the plugin) skipped the stale edit: one was sent for this
            # command, and neither refused nor landed.
            skipped = sent - refused - applied
            if typed and skipped >= 1:
                report.stale_typed_on_the_way += 1
            else:
                report.problems.append(
                    f"command {cmd.cid} says its edit changed on its way to the editor, but "
                    f"{sent} edit(s) were sent for it, {refused} refused, {applied} landed, "
                    f"and the document changed {cmd.doc_changes_at_end - cmd.doc_changes_at_send} "
                    "time(s)"
                )
            return
        if cmd.outcome not in allowed:
            state = "untouched" if others == 0 else f"changed {others} time(s)"
            report.problems.append(
                f"command {cmd.cid} got a clean reply on a function {state} meanwhile but "
                f"ended {cmd.outcome!r}: {cmd.result}"
            )
    elif fault in UNUSABLE_FAULTS and cmd.outcome == "applied":
        report.problems.append(
            f"command {cmd.cid} applied an edit although its last reply was {fault!r}"
        )


def _step_faults(step: Step | None) -> str:
    if step is None:
        return "no step"
    default = Step()
    return str(
        {
            name: value
            for name, value in vars(step).items()
            if name != "content" and value != getattr(default, name)
        }
    )


def _diff(expected: str, actual: str) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(
            expected.splitlines(True), actual.splitlines(True), "computed", "editor"
        )
    )[:3000]
