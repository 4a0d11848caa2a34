"""The server as users install it: the built wheel, alone, in a fresh venv outside the repo.

A checkout run hides packaging mistakes (a data file the wheel lacks, a module found only
through PYTHONPATH). Here the sdist and wheel are built as for a release, the wheel is installed
into a new venv in a temporary folder, and the installed ``m21-lsp`` runs the offline demo and
answers an LSP ``initialize`` over stdio, with no PYTHONPATH and its working directory outside
the checkout. The file lists are written here by hand: they say what the code expects to find.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dists import REPO_ROOT, Dists, build, clean_env, make_venv

# What the code loads at run time from inside the package (demo, scripted server, typing).
PACKAGE_DATA = ["m21_lsp/py.typed", "m21_lsp/demo_data/sample.py", "m21_lsp/demo_data/reply.md"]
MODULES = [
    "m21_lsp/testing/scripted_server.py",
    "m21_lsp/cli/__init__.py",
    "m21_lsp/cli/serve.py",
    "m21_lsp/lsp/server.py",
]
WAIT_S = 60


@pytest.fixture(scope="module")
def dists() -> Dists:
    return build()


@pytest.fixture(scope="module")
def venv_bin(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("user") / "venv", dists.wheel)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory with no checkout above it (no fixtures/, no server/)."""
    assert REPO_ROOT not in tmp_path.parents
    return tmp_path


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name).decode()


def test_wheel_carries_the_files_the_code_loads(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    missing = [n for n in PACKAGE_DATA + MODULES if n not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert "m21-lsp = m21_lsp.cli:main" in entry_points
    assert not [n for n in names if n.startswith(("tests/", "editors/", "fixtures/"))]


def test_test_tools_are_an_extra_not_a_dependency(dists: Dists) -> None:
    requires = [
        line.split(":", 1)[1].strip()
        for line in _metadata(dists.wheel).splitlines()
        if line.startswith("Requires-Dist:")
    ]
    plain = [r for r in requires if "extra ==" not in r]
    assert sorted(r.split(">")[0].split("=")[0].split("<")[0] for r in plain) == [
        # finds the secrets kept out of prompts (docs/secrets.md)
        "detect-secrets",
        "httpx",
        "libcst",
        "lsprotocol",
        "pygls",
        # the syntax checks' grammars are real runtime dependencies (docs/syntax-checks.md)
        "tree-sitter",
        "tree-sitter-bash",
        "tree-sitter-c",
        "tree-sitter-cpp",
        "tree-sitter-go",
        "tree-sitter-java",
        "tree-sitter-javascript",
        "tree-sitter-json",
        "tree-sitter-lua",
        "tree-sitter-rust",
        "tree-sitter-toml",
        "tree-sitter-typescript",
        "tree-sitter-yaml",
    ]
    assert any(r.startswith("pytest") and 'extra == "test"' in r for r in requires)


def test_sdist_carries_sources_and_data(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    wanted = ["pyproject.toml", "README.md"] + [f"server/{n}" for n in PACKAGE_DATA + MODULES]
    missing = [n for n in wanted if n not in names]
    assert not missing, f"the sdist lacks {missing}"


def test_installed_version_is_the_wheels(venv_bin: Path, dists: Dists, outside: Path) -> None:
    version = dists.wheel.name.split("-")[1]
    proc = subprocess.run(
        [str(venv_bin / "m21-lsp"), "--version"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env=clean_env(),
        cwd=outside,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"m21-lsp {version}"


def test_installed_package_finds_its_data_outside_the_repo(venv_bin: Path, outside: Path) -> None:
    probe = (
        "import json, m21_lsp, m21_lsp.testing.scripted_server as s\n"
        "from importlib import resources\n"
        "root = resources.files('m21_lsp')\n"
        "print(json.dumps({'file': m21_lsp.__file__,"
        " 'typed': (root / 'py.typed').is_file(),"
        " 'sample': (root / 'demo_data' / 'sample.py').is_file(),"
        " 'reply': len(s.load_reply('reply'))}))\n"
    )
    proc = subprocess.run(
        [str(venv_bin / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env=clean_env(),
        cwd=outside,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert Path(found["file"]).is_relative_to(venv_bin.parent), found["file"]
    assert found["typed"], "py.typed is not in the installed package"
    assert found["sample"], "demo_data/sample.py is not in the installed package"
    assert found["reply"] > 0, "the bundled demo reply is empty"


def test_installed_package_keeps_secrets_out_of_prompts(venv_bin: Path, outside: Path) -> None:
    """detect-secrets comes with the wheel and finds a key (without it every prompt would
    carry the secrets in the code)."""
    probe = (
        "from m21_lsp.pipeline.redact import Redactor\n"
        "key = 'sk_live_' + 'a1B2c3D4' * 3\n"
        "r = Redactor('app.py')\n"
        "out = r.redact([{'role': 'user', 'content': f'KEY = \"{key}\"'}])\n"
        "print(r.count, key in repr(out))\n"
    )
    proc = subprocess.run(
        [str(venv_bin / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env=clean_env(),
        cwd=outside,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "False"]


def test_installed_scripted_server_serves_the_bundled_reply(venv_bin: Path, outside: Path) -> None:
    """The test double is part of the package: editor tests and users run it from the wheel."""
    proc = subprocess.Popen(
        [str(venv_bin / "python"), "-m", "m21_lsp.testing.scripted_server", "--reply", "reply"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        cwd=outside,
    )
    try:
        base_url = _read_line(proc, WAIT_S)
        assert base_url.startswith("http://127.0.0.1:"), base_url
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=WAIT_S) as answer:
            listed = json.load(answer)
        assert "minimax/m2-1" in [m["id"] for m in listed["data"]]
    finally:
        proc.kill()
        proc.wait(timeout=WAIT_S)


def test_installed_demo_runs(venv_bin: Path, outside: Path) -> None:
    proc = subprocess.run(
        [str(venv_bin / "m21-lsp"), "demo"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env=clean_env(),
        cwd=outside,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--- a/sample.py" in proc.stdout or "--- sample.py" in proc.stdout, proc.stdout
    assert "1 edit(s), syntax-checked with libcst" in proc.stdout


def test_installed_server_answers_initialize(venv_bin: Path, dists: Dists, outside: Path) -> None:
    server = subprocess.Popen(
        [str(venv_bin / "m21-lsp"), "serve", "--stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        cwd=outside,
    )
    try:
        _send(server, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": _init(outside)})
        buf = bytearray()
        answer = _receive(server, 1, buf)
        info = answer["result"]["serverInfo"]
        assert info == {"name": "m21-lsp", "version": dists.wheel.name.split("-")[1]}
        assert "codeActionProvider" in answer["result"]["capabilities"]
        _send(server, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
        _send(server, {"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        assert _receive(server, 2, buf)["result"] is None
        _send(server, {"jsonrpc": "2.0", "method": "exit"})
        assert server.wait(timeout=WAIT_S) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=WAIT_S)


def _init(root: Path) -> dict[str, object]:
    return {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}


def _send(proc: subprocess.Popen[bytes], message: dict[str, object]) -> None:
    body = json.dumps(message).encode()
    assert proc.stdin is not None
    proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    proc.stdin.flush()


def _chunks(proc: subprocess.Popen[bytes], timeout: float) -> Iterator[bytes]:
    """Bytes from the process's stdout as they come, failing once `timeout` has passed."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                err = proc.stderr.read1(4000) if proc.poll() is not None and proc.stderr else b""
                raise AssertionError(f"no answer within {timeout} s; stderr: {err!r}")
            chunk = proc.stdout.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                err = proc.stderr.read() if proc.stderr else b""
                raise AssertionError(f"the process closed stdout; stderr: {err[-2000:]!r}")
            yield chunk


def _then(proc: subprocess.Popen[bytes]) -> Iterator[bytes]:
    """Nothing first (so what is already buffered is parsed), then the process's output."""
    yield b""
    yield from _chunks(proc, WAIT_S)


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    data = b""
    for chunk in _chunks(proc, timeout):
        data += chunk
        if b"\n" in data:
            return data.split(b"\n", 1)[0].decode()
    raise AssertionError("unreachable")


def _receive(proc: subprocess.Popen[bytes], want_id: int, buf: bytearray) -> dict[str, object]:
    """The response with id `want_id`, skipping the server's notifications and requests;
    `buf` keeps what was read past it for the next call."""
    for chunk in _then(proc):
        buf += chunk
        while b"\r\n\r\n" in buf:
            header, rest = bytes(buf).split(b"\r\n\r\n", 1)
            length = int(
                next(
                    h.split(b":")[1]
                    for h in header.split(b"\r\n")
                    if h.lower().startswith(b"content-length")
                )
            )
            if len(rest) < length:
                break
            message = json.loads(rest[:length])
            del buf[: len(header) + 4 + length]
            if message.get("id") == want_id and "method" not in message:
                return message
    raise AssertionError("unreachable")
