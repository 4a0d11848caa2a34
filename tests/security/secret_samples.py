"""A labelled set of fake secrets, one or more per format detect-secrets knows, and files
that carry them in every place code keeps secrets.

Every value is made here from a seeded generator (no real credential, and no literal in
this file that a scanner would flag), in the exact shape its vendor's plugin looks for.
``placements`` builds source files in several languages and formats (Python with the
secrets in the selection, the context lines, comments, f-strings; YAML, JSON, TOML; JS, Go,
Rust; CRLF and tab-indented files) and says where a selection to refactor is. The recall
tests (tests/security/test_redact_recall.py) and ``bench/bench_redact.py`` use it.

``leaked`` is the check: a value, or any 12-character piece of it, in a text.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

PIECE = 12
_RNG = random.Random(20)
_LOWER_DIGITS = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
_B64 = _ALNUM + "+/"


def _pick(chars: str, n: int) -> str:
    return "".join(_RNG.choice(chars) for _ in range(n))


def _jwt() -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    signature = base64.urlsafe_b64encode(bytes(_RNG.randrange(256) for _ in range(32)))
    return ".".join(
        (
            part({"alg": "HS256", "typ": "JWT"}),
            part({"sub": _pick(string.digits, 10), "name": "Ada"}),
            signature.decode().rstrip("="),
        )
    )


def _pem_lines() -> list[str]:
    return [_pick(_B64, 64) for _ in range(4)] + [_pick(_B64, 20) + "=="]


@dataclass(frozen=True)
class Sample:
    """One fake secret: the plugin meant to find it, the value, and the name and string
    literal (``{v}`` marks the value) that hold it in the form that plugin documents."""

    plugin: str
    value: str
    line: str
    # Vendor formats are found anywhere (comments, unquoted); the keyword and entropy
    # plugins only where the library looks (quoted, assigned): ``anywhere`` says which.
    anywhere: bool = True

    @property
    def name(self) -> str:
        return self.line.split(" =", 1)[0]

    @property
    def literal(self) -> str:
        """The string's content, value included (``postgres://admin:<v>@…``)."""
        return self.line.split(" = ", 1)[1][1:-1].replace("{v}", self.value)

    def render(self) -> str:
        return f'{self.name} = "{self.literal}"'


PEM_BODY = _pem_lines()

SAMPLES: tuple[Sample, ...] = (
    # The Artifactory pattern needs a quote, space, "=" or ":" on both sides of the token.
    Sample("ArtifactoryDetector", "AKC" + _pick(_ALNUM, 60), 'artifactory = "{v}"', anywhere=False),
    Sample(
        "AWSKeyDetector",
        "AKIA" + _pick(string.ascii_uppercase + string.digits, 16),
        'aws_id = "{v}"',
    ),
    Sample(
        "AWSKeyDetector",
        _pick(_ALNUM + "/+", 40),
        'aws_secret_access_key = "{v}"',
        anywhere=False,
    ),
    Sample(
        "AzureStorageKeyDetector",
        _pick(_B64, 86) + "==",
        'azure = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={v}"',
        anywhere=False,
    ),
    Sample(
        "BasicAuthDetector",
        _pick(_ALNUM, 18),
        'db_url = "postgres://admin:{v}@db.example.com:5432/app"',
        anywhere=False,
    ),
    Sample("CloudantDetector", _pick(_HEX, 64), 'cloudant_password = "{v}"', anywhere=False),
    Sample(
        "DiscordBotTokenDetector",
        "M" + _pick(_ALNUM, 23) + "." + _pick(_ALNUM, 6) + "." + _pick(_ALNUM, 27),
        'discord = "{v}"',
    ),
    Sample("GitHubTokenDetector", "ghp_" + _pick(_ALNUM, 36), 'github = "{v}"'),
    Sample("GitLabTokenDetector", "glpat-" + _pick(_ALNUM, 20), 'gitlab = "{v}"'),
    Sample(
        "IbmCloudIamDetector",
        _pick(_ALNUM + "_-", 44),
        'ibm_cloud_iam_api_key = "{v}"',
        anywhere=False,
    ),
    Sample(
        "IbmCosHmacDetector",
        _pick(_HEX, 48),
        'ibm_cos_hmac_secret_access_key = "{v}"',
        anywhere=False,
    ),
    Sample("JwtTokenDetector", _jwt(), 'session = "{v}"'),
    Sample("KeywordDetector", "Tr0ub4dor&3" + _pick(_ALNUM, 6), 'password = "{v}"', anywhere=False),
    Sample("MailchimpDetector", _pick(_LOWER_DIGITS, 32) + "-us12", 'mailchimp = "{v}"'),
    Sample(
        "NpmDetector",
        "npm_" + _pick(_ALNUM, 36),
        'npmrc = "//registry.npmjs.org/:_authToken={v}"',
        anywhere=False,
    ),
    Sample(
        "OpenAIDetector",
        "sk-proj-" + _pick(_ALNUM, 20) + "T3BlbkFJ" + _pick(_ALNUM, 20),
        'openai = "{v}"',
    ),
    Sample("PypiTokenDetector", "pypi-AgEIcHlwaS5vcmc" + _pick(_ALNUM, 80), 'pypi = "{v}"'),
    Sample(
        "SendGridDetector",
        "SG." + _pick(_ALNUM, 22) + "." + _pick(_ALNUM, 43),
        'sendgrid = "{v}"',
    ),
    Sample(
        "SlackDetector",
        "xoxb-"
        + _pick(string.digits, 12)
        + "-"
        + _pick(string.digits, 13)
        + "-"
        + _pick(_LOWER_DIGITS, 24),
        'slack = "{v}"',
    ),
    Sample(
        "SlackDetector",
        "https://hooks.slack.com/services/T"
        + _pick(_ALNUM, 10)
        + "/B"
        + _pick(_ALNUM, 10)
        + "/"
        + _pick(_ALNUM, 24),
        'hook = "{v}"',
    ),
    Sample(
        "SoftlayerDetector", _pick(_LOWER_DIGITS, 64), 'softlayer_api_key = "{v}"', anywhere=False
    ),
    Sample("SquareOAuthDetector", "sq0csp-" + _pick(_ALNUM, 43), 'square = "{v}"'),
    Sample("StripeDetector", "sk_live_" + _pick(_ALNUM, 24), 'stripe = "{v}"'),
    Sample(
        "TelegramBotTokenDetector",
        _pick(string.digits, 9) + ":" + _pick(_ALNUM, 35),
        'telegram = "{v}"',
    ),
    Sample("TwilioKeyDetector", "AC" + _pick(_LOWER_DIGITS, 32), 'twilio = "{v}"'),
    Sample("TwilioKeyDetector", "SK" + _pick(_LOWER_DIGITS, 32), 'twilio_key = "{v}"'),
    Sample("Base64HighEntropyString", _pick(_B64, 44), 'blob = "{v}"', anywhere=False),
    Sample("HexHighEntropyString", _pick(_HEX, 40), 'digest_key = "{v}"', anywhere=False),
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\\n"
    + "\\n".join(PEM_BODY)
    + "\\n-----END RSA PRIVATE KEY-----\\n"
)
# Every value the recall tests look for (the PEM body's lines included).
VALUES: tuple[str, ...] = (*(s.value for s in SAMPLES), *PEM_BODY)


def leaked(text: str, values: tuple[str, ...] = VALUES) -> list[str]:
    """The values of which the whole, or any ``PIECE``-character piece, is in ``text``."""
    out = []
    for value in values:
        pieces = {value} | {value[i : i + PIECE] for i in range(len(value) - PIECE + 1)}
        if any(p in text for p in pieces):
            out.append(value)
    return out


@dataclass(frozen=True)
class Placement:
    """A file holding secrets, and the selection to refactor in it (a function)."""

    name: str
    filename: str
    text: str
    # 1-based inclusive lines of the selection.
    lines: tuple[int, int]
    values: tuple[str, ...]


def _python_module(selected_inside: bool, *, newline: str = "\n") -> Placement:
    """Python: the secrets as module constants (context), in comments and f-strings, and —
    when ``selected_inside`` — inside the selected function too."""
    head = ["import os", "", 'PEM = "' + PEM + '"']
    head += [s.render() for s in SAMPLES]
    head += [f"# old token: {s.value}" for s in SAMPLES if s.anywhere]
    head += [
        f'URL_{i} = f"https://x.example/{{os.sep}}?k={s.value}"'
        for i, s in enumerate(SAMPLES)
        if s.anywhere
    ]
    head += ["", ""]
    body = ["def connect(items):"]
    if selected_inside:
        body += ["    " + s.render() for s in SAMPLES]
        body += ["    # " + s.value for s in SAMPLES if s.anywhere]
    body += [
        "    total = 0",
        "    for item in items:",
        "        total += item",
        "    return total",
        "",
    ]
    first = len(head) + 1
    text = newline.join(head + body)
    name = "python-selection" if selected_inside else "python-context"
    if newline != "\n":
        name = "python-crlf"
    return Placement(name, "app.py", text, (first, first + len(body) - 2), VALUES)


def _yaml() -> Placement:
    lines = ["service:"]
    lines += [f'  {s.name}_{i}: "{s.literal}"' for i, s in enumerate(SAMPLES)]
    lines += [f"  note_{i}: {s.value}" for i, s in enumerate(SAMPLES) if s.anywhere]
    lines += ["  replicas: 3", "  ports:", "    - 80", "    - 443", ""]
    n = len(lines)
    return Placement(
        "yaml", "deploy.yaml", "\n".join(lines), (n - 4, n - 1), tuple(s.value for s in SAMPLES)
    )


def _json() -> Placement:
    pairs = [f'  "{s.name}_{i}": "{s.literal}",' for i, s in enumerate(SAMPLES)]
    lines = ["{", *pairs, '  "replicas": 3,', '  "ports": [80, 443]', "}", ""]
    n = len(lines)
    return Placement(
        "json", "config.json", "\n".join(lines), (n - 3, n - 2), tuple(s.value for s in SAMPLES)
    )


def _toml() -> Placement:
    lines = ["[service]"]
    lines += [f'{s.name}_{i} = "{s.literal}"' for i, s in enumerate(SAMPLES)]
    lines += ["", "[limits]", "replicas = 3", "ports = [80, 443]", ""]
    n = len(lines)
    return Placement(
        "toml", "settings.toml", "\n".join(lines), (n - 3, n - 1), tuple(s.value for s in SAMPLES)
    )


def _javascript() -> Placement:
    lines = [f'const {s.name}{i} = "{s.literal}";' for i, s in enumerate(SAMPLES)]
    lines += [f"// {s.value}" for s in SAMPLES if s.anywhere]
    lines += [
        f"const u{i} = `https://x.example/${{p}}?k={s.value}`;"
        for i, s in enumerate(SAMPLES)
        if s.anywhere
    ]
    lines += [
        "",
        "function total(items) {",
        "  let t = 0;",
        "  for (const i of items) t += i;",
        "  return t;",
        "}",
        "",
    ]
    n = len(lines)
    return Placement(
        "javascript", "app.js", "\n".join(lines), (n - 5, n - 1), tuple(s.value for s in SAMPLES)
    )


def _go_tabs() -> Placement:
    lines = ["package main", "", "const ("]
    lines += [f'\t{s.name}{i} = "{s.literal}"' for i, s in enumerate(SAMPLES)]
    lines += [
        ")",
        "",
        "func total(items []int) int {",
        "\tt := 0",
        "\tfor _, i := range items {",
        "\t\tt += i",
        "\t}",
        "\treturn t",
        "}",
        "",
    ]
    n = len(lines)
    return Placement(
        "go-tabs", "main.go", "\n".join(lines), (n - 7, n - 1), tuple(s.value for s in SAMPLES)
    )


def _rust() -> Placement:
    # `let` bindings: the keyword plugin reads `name = "…"`, not `NAME: &str = "…"`.
    lines = ["fn config() {"]
    lines += [f'    let {s.name}{i} = "{s.literal}";' for i, s in enumerate(SAMPLES)]
    lines += [f"    // {s.value}" for s in SAMPLES if s.anywhere]
    lines += [
        "}",
        "",
        "fn total(items: &[i32]) -> i32 {",
        "    let mut t = 0;",
        "    for i in items {",
        "        t += i;",
        "    }",
        "    t",
        "}",
        "",
    ]
    n = len(lines)
    return Placement(
        "rust", "lib.rs", "\n".join(lines), (n - 8, n - 1), tuple(s.value for s in SAMPLES)
    )


def placements() -> list[Placement]:
    return [
        _python_module(True),
        _python_module(False),
        _python_module(True, newline="\r\n"),
        _yaml(),
        _json(),
        _toml(),
        _javascript(),
        _go_tabs(),
        _rust(),
    ]
