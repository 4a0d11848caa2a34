"""``m21-lsp doctor``: the effective configuration and whether the endpoint answers.

The key is never shown. Exit 0 only when the settings are valid and the endpoint's
``/models`` looks like an OpenAI-compatible API; otherwise each problem names the setting.
"""

from __future__ import annotations

import argparse
import difflib
import json
from typing import Any, TextIO

from .. import __version__, config
from ..errors import clause, scrub
from .exits import EXIT_FAIL, EXIT_OK


async def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Show the effective configuration and whether the endpoint answers, key never shown.

    Exit 0 only when the settings are valid and ``GET {baseUrl}/models`` answers 2xx with
    something that is not a web page: a 404 or a 5xx there means a refactor would fail too,
    so ``doctor`` says which setting is probably wrong instead of "answers".
    """
    import httpx

    settings, problems = config.from_env()
    print(f"m21-lsp {__version__}", file=out)
    for name, value in settings.public_dict().items():
        print(f"  {name}: {value}", file=out)
    print(_secrets_line(settings), file=out)
    ok = not problems
    for problem in problems:
        print(f"problem: {problem}", file=out)
    if not settings.api_key:
        print("problem: no API key; set M21_API_KEY (or AIMLAPI_KEY).", file=out)
        ok = False
    endpoint_problem = config.check_endpoint(settings.base_url)
    if endpoint_problem:
        print(f"problem: {endpoint_problem}", file=out)
        return EXIT_FAIL
    if any("M21_BASE_URL=" in p for p in problems):
        # The default endpoint is not the one the user meant: don't send the key there.
        print("endpoint: not checked, because M21_BASE_URL is invalid.", file=out)
        return EXIT_FAIL
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    url = f"{settings.base_url}/models"
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(settings.connect_timeout, read=settings.connect_timeout),
            verify=settings.ca_bundle or True,
            follow_redirects=False,
        ) as http:
            response = await http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        print(
            f"problem: {settings.base_url} did not answer ({type(exc).__name__}). Check baseUrl "
            "(M21_BASE_URL), the network and connectTimeout (M21_CONNECT_TIMEOUT).",
            file=out,
        )
        return EXIT_FAIL
    lines, endpoint_ok = doctor_verdict(
        settings, response.status_code, response.headers, response.content
    )
    for line in lines:
        print(line, file=out)
    return EXIT_OK if ok and endpoint_ok else EXIT_FAIL


def _secrets_line(settings: config.Settings) -> str:
    """Whether secrets in the code are kept out of prompts (docs/secrets.md)."""
    from importlib import metadata

    if not settings.redact_secrets:
        return "secrets: NOT kept out of prompts (redactSecrets is off): code is sent as it is."
    try:
        version = metadata.version("detect-secrets")
    except metadata.PackageNotFoundError:
        return "problem: redactSecrets is on but detect-secrets is not installed."
    return f"secrets: kept out of prompts (redactSecrets on; detect-secrets {version}, offline)."


def doctor_verdict(
    settings: config.Settings, status: int, headers: Any, body: bytes
) -> tuple[list[str], bool]:
    """What ``doctor`` says about the answer to ``GET /models``, and whether it passes."""
    from ..model.client import server_message

    base = settings.base_url
    said = clause(server_message(body[:4096])) if status >= 300 else ""
    shown = f"HTTP {status}" + (f": {said}" if said else "")
    if 200 <= status < 300:
        return _models_verdict(settings, headers, body)
    if status in (401, 403):
        return [
            f"problem: {base} answers, but rejected the key ({shown}). Check M21_API_KEY "
            "(or AIMLAPI_KEY); a 403 can also mean the account is out of credits."
        ], False
    if status == 404:
        if base.rstrip("/").endswith("/v1"):
            hint = "baseUrl (M21_BASE_URL) is probably wrong: this server has no /models there."
        else:
            hint = (
                "baseUrl (M21_BASE_URL) is probably wrong: OpenAI-compatible endpoints "
                f"usually end in /v1 (try {base.rstrip('/')}/v1)."
            )
        return [f"problem: {base}/models was not found ({shown}). {hint}"], False
    if 300 <= status < 400:
        location = headers.get("location", "") or "?"
        return [
            f"problem: {base}/models redirects ({shown} to {location}); the key is never sent "
            "to a redirect target. Set baseUrl (M21_BASE_URL) to the final URL."
        ], False
    if status == 429:
        return [
            f"problem: {base} is rate limiting requests ({shown}). No setting is wrong: wait "
            "and run doctor again, or check the plan's limits."
        ], False
    if status >= 500:
        return [
            f"problem: {base} had a server error ({shown}). The endpoint is down or "
            "overloaded: try again later. If it persists, check that baseUrl (M21_BASE_URL) "
            "points at an OpenAI-compatible API."
        ], False
    return [
        f"problem: {base}/models answered {shown}. baseUrl (M21_BASE_URL) probably does not "
        "point at an OpenAI-compatible API."
    ], False


def _models_verdict(settings: config.Settings, headers: Any, body: bytes) -> tuple[list[str], bool]:
    """A 2xx from /models: a model list (is ours in it?), or a web page (wrong baseUrl)."""
    base = settings.base_url
    try:
        listing = json.loads(body)
    except ValueError:
        kind = "a web page" if "html" in headers.get("content-type", "").lower() else "not JSON"
        return [
            f"problem: {base}/models answered with {kind}, not a model list. baseUrl "
            "(M21_BASE_URL) probably points at a website: OpenAI-compatible endpoints usually "
            "end in /v1."
        ], False
    lines = [f"endpoint: {base} answers (HTTP 200 for /models)."]
    ids = _model_ids(listing)
    model = settings.model
    if not ids:
        lines.append(f"model: {model} not checked (the endpoint lists no models).")
    elif model in ids:
        lines.append(f"model: {model} is among the {len(ids)} models the endpoint lists.")
    else:
        near = [i for i in ids if i.lower() == model.lower()]
        near += [i for i in difflib.get_close_matches(model, ids, n=3, cutoff=0.6) if i not in near]
        maybe = f" Did you mean {' or '.join(repr(n) for n in near[:3])}?" if near else ""
        lines.append(
            f"warning: the endpoint lists {len(ids)} models and {model!r} is not among them; "
            f"check model (M21_MODEL).{maybe}"
        )
    return lines, True


def _model_ids(listing: Any) -> list[str]:
    """Model names from OpenAI's ``{"data": [{"id": …}]}`` or a bare list of either."""
    items = listing.get("data", listing.get("models")) if isinstance(listing, dict) else listing
    if not isinstance(items, list):
        return []
    ids = [i.get("id") if isinstance(i, dict) else i for i in items]
    return [scrub(i) for i in ids if isinstance(i, str) and i]
