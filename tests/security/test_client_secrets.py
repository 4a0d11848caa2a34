"""The model client under attack: hostile error bodies, redirects, plain http, bad TLS.

Every error path runs with a sentinel key; the endpoint echoes the key back in every way a
real (or malicious) server might. Nothing the client produces, neither messages, details,
reprs, tracebacks nor log records at DEBUG level, may contain the key or a piece of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import ssl
import traceback
from pathlib import Path

import httpx
import pytest
from m21_lsp import config
from m21_lsp.errors import ConfigError, M21Error, ModelError
from m21_lsp.model.client import ModelClient
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from security_helpers import assert_no_leak, self_signed_cert

MESSAGES = [{"role": "user", "content": "hello"}]


async def no_sleep(_seconds: float) -> None:
    return None


def make_settings(key: str, base_url: str, **more: object) -> config.Settings:
    settings, problems = config.apply_overrides(
        config.Settings(),
        {"apiKey": key, "baseUrl": base_url, "maxAttempts": 3, **more},
        source="test",
    )
    assert problems == []
    return settings


def everything_about(exc: BaseException) -> str:
    """All text an exception could put in front of a user or into a log."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, M21Error):
        parts += [exc.message, exc.detail]
    for arg in exc.args:
        parts.append(repr(arg))
    return "\n".join(parts)


def hostile_steps(key: str) -> dict[str, list[Step]]:
    """Error replies that echo the key back, as bodies and headers."""
    masked = key[:26] + "*" * 10 + key[-4:]  # "sk-proj-abc…****wxyz"-style echo
    return {
        "401 echoes key": [
            Step(
                status=401,
                body={"message": f"Invalid key {key} (Bearer {key})", "statusCode": 401},
            )
        ],
        "401 echoes masked key": [
            Step(
                status=401,
                body={"error": {"message": f"Incorrect API key provided: {masked}."}},
            )
        ],
        "403 problem+json": [
            Step(
                status=403,
                body={
                    "title": "Forbidden",
                    "status": 403,
                    "error": {"message": f"key {key} has no credits", "key": key},
                },
            )
        ],
        "400 echoes header": [Step(status=400, body=f"Bad header: Authorization: Bearer {key}")],
        "500 thrice": [Step(status=500, body={"message": f"crash with {key}", "statusCode": 500})]
        * 3,
        "502/503/504": [
            Step(status=502, body=f"<html>bad gateway {key}</html>"),
            Step(status=503, body={"message": key}),
            Step(status=504, body=key),
        ],
        "429 thrice": [
            Step(status=429, headers={"Retry-After": "0"}, body={"message": f"slow down {key}"})
        ]
        * 3,
        "base_resp auth": [
            Step(content="x", base_resp={"status_code": 1004, "status_msg": f"bad key {key}"})
        ],
        "base_resp credits": [
            Step(content="x", base_resp={"status_code": 1008, "status_msg": f"{key} is broke"})
        ],
        "redirect": [Step(status=307, headers={"Location": f"http://127.0.0.1:1/?key={key}"})],
        "truncated": [Step(content=f"<think>{key}", finish_reason="length")],
        "dropped": [Step(content="<think>" + "x" * 200, drop_after_chunks=3)] * 3,
    }


@pytest.mark.parametrize("case", list(hostile_steps("sk-x-0")))
async def test_no_error_path_leaks_the_key(
    case: str,
    model_server: ScriptedModelServer,
    sentinel_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and our own loggers, everything
    model_server.enqueue(*hostile_steps(sentinel_key)[case])
    settings = make_settings(sentinel_key, model_server.base_url)
    async with ModelClient(settings, sleep=no_sleep) as client:
        with pytest.raises(ModelError) as info:
            await client.complete(MESSAGES)
    assert model_server.requests, "the hostile server was never asked"
    assert model_server.requests[0].headers["authorization"] == f"Bearer {sentinel_key}"
    assert_no_leak(everything_about(info.value), sentinel_key, f"the {case} error")
    assert_no_leak(our_logs(caplog), sentinel_key, "the logs")
    assert info.value.message.strip()


def our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Log text from every logger except httpcore's DEBUG trace.

    httpcore logs raw *response* headers at DEBUG, verbatim; a server that echoes the key
    in a header puts it there, which no client can prevent. Request headers (where the
    key travels) are never in that trace: see the next test.
    """
    return "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("httpcore")
    )


async def test_library_debug_logs_never_contain_the_request_key(
    model_server: ScriptedModelServer, sentinel_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    model_server.enqueue(Step(status=500), Step(status=401), Step(content="<think>a</think>b"))
    settings = make_settings(sentinel_key, model_server.base_url)
    async with ModelClient(settings, sleep=no_sleep) as client:
        with pytest.raises(ModelError):
            await client.complete(MESSAGES)
        await client.complete(MESSAGES)
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert_no_leak(caplog.text, sentinel_key, "httpx/httpcore debug logs")


def _mock_body(content_type: str, body: str) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": content_type}, text=body)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("content_type", "template"),
    [
        ("application/json", '{"choices": [{"message": {"content": "KEY'),
        ("text/event-stream", 'data: {"choices": [{"delta": {"content": "KEY\n\n'),
        ("text/event-stream", 'data: {"error": {"message": "token KEY expired"}}\n\n'),
        ("text/plain", "KEY"),
    ],
)
async def test_broken_200_replies_do_not_leak_the_key(
    content_type: str, template: str, sentinel_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(sentinel_key, "http://127.0.0.1:9/v1", maxAttempts=1)
    transport = _mock_body(content_type, template.replace("KEY", sentinel_key))
    async with ModelClient(settings, transport=transport, sleep=no_sleep) as client:
        with pytest.raises(ModelError) as info:
            await client.complete(MESSAGES)
    assert_no_leak(everything_about(info.value), sentinel_key, "the error")
    assert_no_leak(our_logs(caplog), sentinel_key, "the logs")


async def test_a_redirect_is_never_followed_with_the_key(sentinel_key: str) -> None:
    with ScriptedModelServer().start() as first, ScriptedModelServer().start() as target:
        first.enqueue(Step(status=307, headers={"Location": target.base_url + "/chat/completions"}))
        async with ModelClient(make_settings(sentinel_key, first.base_url)) as client:
            with pytest.raises(ModelError) as info:
                await client.complete(MESSAGES)
        assert len(first.requests) == 1
        assert target.requests == []
    assert "redirect" in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://203.0.113.7/v1",
        "http://api.aimlapi.com/v1",
        "http://127.0.0.1.nip.io/v1",
        "http://localhost.example.com/v1",
        "http://127.0.0.1@evil.example/v1",
        "http://evil.example#@127.0.0.1/v1",
        "http://[::ffff:127.0.0.1]:80@evil.example/v1",
        "ftp://127.0.0.1/v1",
        "file:///etc/passwd",
    ],
)
async def test_plain_http_to_a_non_loopback_host_is_refused(url: str, sentinel_key: str) -> None:
    # Layer check: a setting with such a URL is refused with a message and not applied.
    settings, problems = config.apply_overrides(config.Settings(), {"baseUrl": url}, source="test")
    assert settings.base_url == config.DEFAULT_BASE_URL
    assert len(problems) == 1 and "baseUrl" in problems[0]
    with pytest.raises(ConfigError):
        config.load({"M21_API_KEY": sentinel_key, "M21_BASE_URL": url})
    # Client check, the last line of defence: even a Settings built around the layers
    # never sends anything there.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    forced = dataclasses.replace(make_settings(sentinel_key, "http://127.0.0.1/v1"), base_url=url)
    async with ModelClient(forced, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ConfigError) as info:
            await client.complete(MESSAGES)
    assert seen == []
    assert "baseUrl" in info.value.message
    assert_no_leak(everything_about(info.value), sentinel_key)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "http://127.0.0.2/v1",
        "http://localhost:11434/v1",
        "http://[::1]:8080/v1",
        "https://api.aimlapi.com/v1",
        "https://example.com/v1",
    ],
)
def test_https_and_loopback_endpoints_are_accepted(url: str) -> None:
    assert config.check_endpoint(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example\\@127.0.0.1/v1",
        "http://evil.example%5C@127.0.0.1/v1",
        "http://127.0.0.1@evil.example/v1",
        "http://evil.example?@127.0.0.1/v1",
        "http://127.0.0.1%2F@evil.example/v1",
        "http://127.0.0.1 @evil.example/v1",
        "http://LOCALHOST/v1",
        "http://localhost./v1",
        "http://127.1/v1",
        "http://0.0.0.0/v1",
    ],
)
def test_the_endpoint_check_and_httpx_agree_on_the_host(url: str) -> None:
    """A URL the check calls loopback must be one httpx would really connect to loopback."""
    if config.check_endpoint(url) is not None or not url.startswith("http://"):
        return
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        return  # httpx will not send anything to it at all
    assert host == "localhost" or host.startswith("127.") or host == "::1", (url, host)


# --------------------------------------------------------------------------------- TLS


class TLSProxy:
    """A TLS front for the scripted server, with a certificate no public CA signed."""

    def __init__(self, backend: ScriptedModelServer, cert: Path, key: Path) -> None:
        self.backend = backend
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.server: asyncio.AbstractServer | None = None
        self.handshakes_failed = 0

    async def __aenter__(self) -> TLSProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backend.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
def cert_files(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path)


async def test_tls_verification_is_on_by_default(
    model_server: ScriptedModelServer, sentinel_key: str, cert_files: tuple[Path, Path]
) -> None:
    model_server.default = Step(content="<think>t</think>\nfine")
    async with TLSProxy(model_server, *cert_files) as proxy:
        settings = make_settings(sentinel_key, proxy.base_url, maxAttempts=1)
        async with ModelClient(settings, sleep=no_sleep) as client:
            with pytest.raises(ModelError) as info:
                await client.complete(MESSAGES)
    assert model_server.requests == []  # the key never left: the handshake failed first
    assert "certificate" in info.value.message.lower()
    assert_no_leak(everything_about(info.value), sentinel_key)


async def test_a_configured_ca_bundle_is_trusted(
    model_server: ScriptedModelServer, sentinel_key: str, cert_files: tuple[Path, Path]
) -> None:
    model_server.default = Step(content="<think>t</think>\nfine")
    cert, _key = cert_files
    async with TLSProxy(model_server, *cert_files) as proxy:
        settings = make_settings(sentinel_key, proxy.base_url, caBundle=str(cert))
        async with ModelClient(settings) as client:
            completion = await client.complete(MESSAGES)
    assert completion.text == "fine"
    assert len(model_server.requests) == 1


async def test_an_unusable_ca_bundle_is_a_clear_configuration_error(
    sentinel_key: str, tmp_path: Path
) -> None:
    bogus = tmp_path / "not-a-bundle.pem"
    bogus.write_text("hello")
    settings = make_settings(sentinel_key, "https://127.0.0.1:9/v1", caBundle=str(bogus))
    async with ModelClient(settings) as client:
        with pytest.raises(ConfigError) as info:
            await client.complete(MESSAGES)
    assert "caBundle" in info.value.message


def test_the_key_is_not_in_the_settings_repr(sentinel_key: str) -> None:
    settings = make_settings(sentinel_key, "https://api.aimlapi.com/v1")
    assert_no_leak(repr(settings), sentinel_key, "repr(Settings)")
    assert_no_leak(json.dumps(settings.public_dict()), sentinel_key, "public_dict")
    assert settings.public_dict()["apiKey"] == "set"
