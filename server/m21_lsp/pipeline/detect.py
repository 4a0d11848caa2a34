"""Where secrets are in prompt text: Yelp's detect-secrets, run line by line and offline.

Why the library and not our own patterns: its vendor plugins (AWS, GitHub, Slack, Stripe,
OpenAI, private keys, JWTs, basic-auth URLs, …) are kept up to date by people whose job that
is, and its ``# pragma: allowlist secret`` is what teams already write in their code.

What we take from it and what we do not:

* The plugins in :data:`PLUGINS` (the list, its order and the entropy limits were chosen by
  ``bench/bench_redact.py`` over the fidelity corpus: see ``docs/secrets.md``). The public-IP
  plugin is left out: an address is not a credential, and it fired on real code.
* The library's own heuristic filters (sequential strings, UUIDs, ``*_id`` values, templated
  ``{x}``/``${x}`` values, ``$var`` values, ``get_secret()``-style indirect references,
  non-alphanumeric values) and its allowlist pragma, called directly, line by line.
* **Never verification.** A plugin's ``verify`` sends the value to its vendor; the scanner
  replaces it on every plugin instance with a function that answers "unverified" without a
  call, and never enables the library's verification filter (``analyze_line`` only verifies
  when that filter is configured in the library's global settings, which nothing here sets).

The library costs about 0.1 s to import, so nothing imports it until the first scan
(:func:`_engine`); ``m21-lsp serve`` answers ``initialize`` without it.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# (module under detect_secrets.plugins, class, constructor arguments). Entropy limits: see
# docs/secrets.md for the measurement that set them.
PLUGINS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("artifactory", "ArtifactoryDetector", {}),
    ("aws", "AWSKeyDetector", {}),
    ("azure_storage_key", "AzureStorageKeyDetector", {}),
    ("basic_auth", "BasicAuthDetector", {}),
    ("cloudant", "CloudantDetector", {}),
    ("discord", "DiscordBotTokenDetector", {}),
    ("github_token", "GitHubTokenDetector", {}),
    ("gitlab_token", "GitLabTokenDetector", {}),
    ("ibm_cloud_iam", "IbmCloudIamDetector", {}),
    ("ibm_cos_hmac", "IbmCosHmacDetector", {}),
    ("jwt", "JwtTokenDetector", {}),
    ("keyword", "KeywordDetector", {}),
    ("mailchimp", "MailchimpDetector", {}),
    ("npm", "NpmDetector", {}),
    ("openai", "OpenAIDetector", {}),
    ("private_key", "PrivateKeyDetector", {}),
    ("pypi_token", "PypiTokenDetector", {}),
    ("sendgrid", "SendGridDetector", {}),
    ("slack", "SlackDetector", {}),
    ("softlayer", "SoftlayerDetector", {}),
    ("square_oauth", "SquareOAuthDetector", {}),
    ("stripe", "StripeDetector", {}),
    ("telegram_token", "TelegramBotTokenDetector", {}),
    ("twilio", "TwilioKeyDetector", {}),
    ("high_entropy_strings", "Base64HighEntropyString", {"limit": 4.5}),
    ("high_entropy_strings", "HexHighEntropyString", {"limit": 3.0}),
)

# A line shorter than this (stripped) holds no value any plugin reports.
_MIN_LINE = 8
# The body of a PEM block: the library reports the BEGIN line ("BEGIN RSA PRIVATE KEY"), not
# the key, so the base64 runs below it up to the END line are the values. An escape such as
# the ``\n`` in a one-line string literal is skipped, not taken into the run.
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|---- END SSH2")
_PEM_RUN = re.compile(r"\\.|([A-Za-z0-9+/=]{8,})")
_PEM_MAX_LINES = 120


@dataclass(frozen=True)
class Finding:
    """One value to keep out of the prompt, and what the library called it (never logged
    with its value: ``kind`` alone is safe to show)."""

    value: str
    kind: str


def _unverified(*_args: Any, **_kwargs: Any) -> Any:
    """Stands in for every plugin's ``verify``: no value ever leaves for its vendor."""
    from detect_secrets.constants import VerifiedResult

    return VerifiedResult.UNVERIFIED


@dataclass(frozen=True)
class _Plugin:
    """A plugin and how to find the lines worth giving it: ``gates`` are searched over the
    whole text at once (one C-speed pass instead of a Python call per line); a line none of
    them touches cannot hold a value the plugin reports (``docs/secrets.md`` says why)."""

    plugin: Any
    gates: tuple[re.Pattern[str], ...] = ()
    # Or: a line holds one of these words (lower case), for the plugins whose patterns all
    # need one and are too slow to run over the whole text.
    words: tuple[str, ...] = ()
    # For the library's regex plugins, their own patterns, run on one line at a time.
    patterns: tuple[re.Pattern[str], ...] = ()
    own_analysis: bool = False
    entropy: bool = False


@dataclass(frozen=True)
class _Engine:
    plugins: tuple[_Plugin, ...]
    value_filters: tuple[Callable[[str], bool], ...]
    likely_id: Callable[..., bool]
    indirect: Callable[[str], bool]
    allowlisted: Callable[..., bool]
    snippet: Callable[..., Any]
    private_key_type: str


# The plugins whose every pattern needs one of _WORDS (case-insensitively) in the line: the
# keyword plugin (its DENYLIST: api_key, password, pwd, secret, contraseña…) and the
# vendor plugins written as "<vendor>_key = value" or "https://…cloudant.com".
_WORD_GATED = frozenset(
    {
        "KeywordDetector",
        "CloudantDetector",
        "IbmCloudIamDetector",
        "IbmCosHmacDetector",
        "SoftlayerDetector",
    }
)
_WORDS = ("key", "pw", "pass", "token", "secret", "contrase", "cloudant", "softlayer")


def _multiline(pattern: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(pattern.pattern, pattern.flags | re.MULTILINE)


@functools.lru_cache(maxsize=1)
def _engine() -> _Engine:
    """Import detect-secrets and build the plugins once (a race between threads builds two
    equal engines and keeps one)."""
    import importlib

    from detect_secrets.filters import allowlist, heuristic
    from detect_secrets.plugins import keyword
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
    from detect_secrets.util.code_snippet import get_code_snippet

    del keyword  # its DENYLIST is what _WORDS covers (tests/security/test_detect.py checks)
    plugins = []
    for module, name, kwargs in PLUGINS:
        cls = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)
        plugin = cls(**kwargs)
        plugin.verify = _unverified  # never a network call, whatever the library's settings
        patterns = tuple(plugin.denylist) if isinstance(plugin, RegexBasedDetector) else ()
        if name in _WORD_GATED:
            plugins.append(_Plugin(plugin, words=_WORDS, patterns=patterns))
        elif patterns:
            own = type(plugin).analyze_string is not RegexBasedDetector.analyze_string
            gates = tuple(map(_multiline, patterns))
            plugins.append(_Plugin(plugin, gates, patterns=patterns, own_analysis=own))
        elif isinstance(plugin, HighEntropyStringsPlugin):
            # Shannon entropy over n characters is at most log2(n): a value above the limit
            # is longer than 2**limit, so a line without such a run holds none.
            run = math.floor(2**plugin.entropy_limit)
            # Only from the start of a run (the lookbehind): a scan that tries every
            # position of every identifier costs 20 times as much.
            chars = f"[{re.escape(plugin.charset)}]"
            gate = re.compile(f"(?<!{chars}){chars}{{{run},}}")
            plugins.append(_Plugin(plugin, (gate,), entropy=True))
        else:
            raise AssertionError(f"no gate for {name}")
    private_key = importlib.import_module("detect_secrets.plugins.private_key")
    return _Engine(
        plugins=tuple(plugins),
        value_filters=(
            heuristic.is_sequential_string,
            heuristic.is_potential_uuid,
            heuristic.is_templated_secret,
            heuristic.is_prefixed_with_dollar_sign,
            heuristic.is_not_alphanumeric_string,
        ),
        likely_id=heuristic.is_likely_id_string,
        indirect=heuristic.is_indirect_reference,
        allowlisted=allowlist.is_line_allowlisted,
        snippet=get_code_snippet,
        private_key_type=private_key.PrivateKeyDetector.secret_type,
    )


# Test code: a path with a tests/test/testing folder, or a test file's name in the usual
# conventions of Python, JS/TS, Go, Rust, Java.
_TEST_PATH = re.compile(
    r"(^|[\\/])(tests?|testing|__tests__|spec)[\\/]|(^|[\\/])(test_[^\\/]*|conftest\.py)$"
    r"|[_.-](test|tests|spec)\.[A-Za-z]+$|Tests?\.java$"
)


def is_test_path(filename: str) -> bool:
    """Whether ``filename`` is test code, where the entropy plugins do not run: hashes,
    digests and base64 vectors there are known answers, not keys (measured: they were the
    only findings over the standard library's tests). Vendor formats, private keys and
    ``password = "…"`` are still found in tests."""
    return bool(_TEST_PATH.search(filename))


def load() -> None:
    """Import the library now (a warm-up thread calls this after start-up)."""
    _engine()


class _Lines:
    """The text's lines and the line of any offset (for the gates' matches)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = [line.rstrip("\r") for line in text.split("\n")]
        starts = [0]
        for line in text.split("\n")[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        self.starts = starts
        self._words: list[int] | None = None

    def with_words(self, words: tuple[str, ...]) -> list[int]:
        """The lines holding any of ``words`` (lower case), case-insensitively."""
        if self._words is None:
            low = self.text.lower()
            hits: set[int] = set()
            for word in words:
                at = low.find(word)
                while at >= 0:
                    hits.add(bisect.bisect_right(self.starts, at) - 1)
                    at = low.find(word, at + 1)
            self._words = sorted(hits)
        return self._words

    def touched(self, start: int, end: int) -> range:
        first = bisect.bisect_right(self.starts, start) - 1
        last = bisect.bisect_right(self.starts, max(start, end - 1)) - 1
        return range(first, last + 1)


def scan(text: str, filename: str = "prompt.txt") -> list[Finding]:
    """Every secret value in ``text``, each once, longest first.

    ``filename`` only picks the keyword plugin's rules (quotes required in Python, ``key:
    value`` in YAML…): pass the path of the document the prompt was made from.
    """
    engine = _engine()
    lines = _Lines(text)
    found: dict[str, str] = {}
    allowed: dict[int, bool] = {}
    in_tests = is_test_path(filename)
    for entry in engine.plugins:
        if entry.entropy and in_tests:
            continue
        for index in _gated_lines(entry, lines):
            line = lines.lines[index]
            if len(line.strip()) < _MIN_LINE:
                continue
            values = list(_line_values(engine, entry, line, filename))
            if not values:
                continue
            if index not in allowed:
                context = engine.snippet(lines.lines, index + 1)
                allowed[index] = bool(
                    engine.allowlisted(filename=filename, line=line, context=context)
                )
            if allowed[index]:
                continue
            kind = entry.plugin.secret_type
            for value in values:
                if kind == engine.private_key_type:
                    for body in _pem_body(lines.lines, index):
                        found.setdefault(body, kind)
                else:
                    found.setdefault(value, kind)
    return [Finding(v, k) for v, k in sorted(found.items(), key=lambda vk: -len(vk[0]))]


def _gated_lines(entry: _Plugin, lines: _Lines) -> list[int]:
    if entry.words:
        return lines.with_words(entry.words)
    touched: set[int] = set()
    for gate in entry.gates:
        for match in gate.finditer(lines.text):
            touched.update(lines.touched(match.start(), match.end()))
    return sorted(touched)


# Characters a regex plugin's whole match may carry around the value (its delimiters).
_EDGES = " \t\"'`:;,)"
# A whole match that starts with its field's name ("AccountKey=…"): the value is after it.
_NAMED = re.compile(r"^[A-Za-z_]+=")


def _trim(value: str) -> str:
    """A value without the delimiters around it (base64's trailing ``=`` is the value's)."""
    return value.strip(_EDGES).lstrip("=")


def _line_values(engine: _Engine, entry: _Plugin, line: str, filename: str) -> Iterator[str]:
    """The values the plugin reports on ``line`` that the library's filters keep.

    For the regex plugins the value is the library's (the pattern's groups, as its
    ``analyze_string`` takes them), except where a pattern's only group is a short prefix
    (GitHub's ``(ghp|gho|…)_…`` yields just ``ghp``): there the whole match is the value.
    """
    plugin = entry.plugin
    if entry.own_analysis:
        # A plugin with its own analysis (the JWT plugin checks the token decodes): the
        # library's values, each carried on over the characters of its last part (the JWT
        # pattern ends lazily, before the signature, which is the secret part).
        raw = [_carry_on(line, v) for v in plugin.analyze_string(line)]
    elif entry.patterns:
        raw = []
        for pattern in entry.patterns:
            for match in pattern.finditer(line):
                groups = [g for g in match.groups() if g]
                if groups and max(map(len, groups)) >= _MIN_LINE:
                    raw.extend(_trim(g) for g in groups)
                else:
                    raw.append(_trim(_NAMED.sub("", _trim(match.group(0)))))
    else:
        raw = [
            s.secret_value
            for s in plugin.analyze_line(filename=filename, line=line, context=None)
            if s.secret_value
        ]
    indirect: bool | None = None
    for value in dict.fromkeys(raw):
        if any(check(value) for check in engine.value_filters):
            continue
        if engine.likely_id(value, line, plugin):
            continue
        if indirect is None:
            indirect = bool(engine.indirect(line))
        if indirect:
            continue
        yield value


_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.]*")


def _carry_on(line: str, value: str) -> str:
    at = line.find(value)
    if at < 0:
        return value
    end = at + len(value)
    more = _TOKEN_CHARS.match(line, end)
    return line[at : more.end()].rstrip(".") if more else value


def _pem_body(lines: list[str], begin: int) -> Iterator[str]:
    """The base64 runs of a private key block from its BEGIN line to its END line (or, when
    the END line is outside the text, as long as lines keep carrying runs)."""
    for index in range(begin, min(len(lines), begin + _PEM_MAX_LINES)):
        line = lines[index]
        end = _PEM_END.search(line)
        # On the BEGIN line only what follows the marker; on the END line what precedes it.
        marker = line.find("PRIVATE KEY") if index == begin else -1
        start = marker + len("PRIVATE KEY") if marker >= 0 else 0
        stop = end.start() if end else len(line)
        runs = [m.group(1) for m in _PEM_RUN.finditer(line, start, stop) if m.group(1)]
        yield from runs
        if end or (index > begin and not runs):
            return
