"""Neovim with only the plugin: :M21Install puts the server in a private venv, then it refactors.

A user's machine is simulated by a fresh HOME (no XDG variables, so Neovim's own defaults
decide where things go), the repository reachable as ``~/src/m21-lsp`` (where the README
says the clone is), no PYTHONPATH, and a broken ``m21-lsp`` first on PATH: the plugin must
start the server it installed, not the one on PATH. The README's snippets are read out of
README.md and run as written; the model is the scripted server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from m21_editor_case import INSTRUCTION, LOADER_REPLY, NEW_LOADER, OLD_LOADER, SOURCE, line_span
from m21_lsp.testing.scripted_server import Step
from test_neovim import DEBIAN_NVIM, Nvim, _checked, _current_nvim

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packaging"))
from dists import build

pytestmark = pytest.mark.editor

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
RUN = HERE / "nvim" / "install_run.lua"
LAZY_STANDIN = HERE / "nvim" / "lazy_standin.lua"
WAIT_MS = 30_000
# A pip install of the server and its four dependencies (from pip's cache, or the index).
INSTALL_TIMEOUT = 600


@pytest.fixture(params=["debian", "pypi"])
def nvim(request: pytest.FixtureRequest, editor_binary) -> Nvim:
    """Debian's Neovim 0.7.2 (no vim.lsp.start, no vim.system) and the current one."""
    if request.param == "debian":
        if DEBIAN_NVIM.is_file():
            return _checked(str(DEBIAN_NVIM), "debian")
        return _checked(editor_binary("nvim", "neovim"), "debian")
    return _checked(_current_nvim(), "pypi")


def readme_block(after: str, lang: str) -> str:
    """The first ```lang block of README.md after the line `after` (as written there)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(after)
    match = re.compile(rf"^```{lang}\n(.*?)^```$", re.S | re.M).search(text, start)
    assert match, f"no ```{lang} block after {after!r} in README.md"
    return match.group(1)


@pytest.fixture
def user_env(tmp_path: Path, model_server, sentinel_key: str) -> dict[str, str]:
    home = tmp_path / "home"
    (home / "src").mkdir(parents=True)
    (home / "src" / "m21-lsp").symlink_to(REPO_ROOT)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    broken = fake_bin / "m21-lsp"
    broken.write_text("#!/bin/sh\necho 'the m21-lsp on PATH was started' >&2\nexit 3\n")
    broken.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("M21_", "AIMLAPI_", "XDG_", "PYTHON", "VIRTUAL_ENV", "NVIM"))
    }
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(fake_bin), env.get("PATH", "")]),
        M21_BASE_URL=model_server.base_url,
        M21_API_KEY=sentinel_key,
        M21_WAIT_MS=str(WAIT_MS),
    )
    return env


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "shop"\n', encoding="utf-8")
    target = project / "shop.py"
    target.write_text(SOURCE, encoding="utf-8")
    return target


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: int) -> str:
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{cmd} did not finish within {timeout} s:\n{out}")
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{out}"
    return out


def _refactor(nvim_bin: str, init: Path, env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """Starts Neovim with `init` as the user's init file, then refactors load_items."""
    target = _project(tmp_path)
    result_path = tmp_path / "result.json"
    env = dict(
        env,
        M21_FILE=str(target),
        M21_RESULT=str(result_path),
        M21_RANGE="{},{}".format(*line_span(SOURCE, OLD_LOADER)),
        M21_INSTRUCTION=INSTRUCTION,
    )
    cmd = [nvim_bin, "--headless", "-n", "-i", "NONE", "-u", str(init), "-c", f"luafile {RUN}"]
    out = ""
    try:
        out = _run(cmd, env, target.parent, INSTALL_TIMEOUT)
    finally:
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
        if not result.get("ok"):
            logs = "".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.rglob("lsp.log"))
            pytest.fail(
                f"scenario failed: {result.get('error')}\n{out}\n{result}\nlsp.log:\n{logs}"
            )
    assert target.read_text(encoding="utf-8") == SOURCE.replace(OLD_LOADER, NEW_LOADER)
    assert result["command_result"]["applied"] is True
    assert env["M21_API_KEY"] not in json.dumps(result) + out, "the key appeared in the output"
    return result


def _assert_private_server(result: dict[str, Any], env: dict[str, str], nvim_bin: Nvim) -> None:
    """The client ran the venv's m21-lsp under Neovim's default data directory, not PATH's."""
    assert result["nvim_version"] == "{}.{}.{}".format(*nvim_bin.version)
    private = Path(env["HOME"]) / ".local" / "share" / "nvim" / "m21" / "venv" / "bin" / "m21-lsp"
    assert private.is_file()
    assert result["client_cmd"] == [str(private), "serve", "--stdio"]
    assert result["server"]["how"] == "the private venv (:M21Install)"
    health = "\n".join(result["health"])
    assert f"server: {private} serve --stdio (found via the private venv (:M21Install))" in health
    assert "version: m21-lsp " in health
    assert "doctor: the settings are valid and the endpoint answers" in health


def test_packadd_setup_installs_the_wheel_then_refactors(
    nvim: Nvim, user_env: dict[str, str], model_server, tmp_path: Path
) -> None:
    wheel = build().wheel
    # The README's shell lines, with :M21Install given the built wheel instead of the clone.
    shell = readme_block("Without a plugin manager, as a package:", "sh")
    lines = shell.strip().splitlines()
    assert lines[-1] == 'nvim --headless "+packadd m21" "+M21Install" +qa'
    lines[-1] = f'"$M21_NVIM" --headless "+packadd m21" "+M21Install {wheel}" +qa'
    home = Path(user_env["HOME"])
    _run(
        ["bash", "-euc", "\n".join(lines)],
        dict(user_env, M21_NVIM=str(nvim)),
        home,
        INSTALL_TIMEOUT,
    )

    init = home / ".config" / "nvim" / "init.lua"
    init.parent.mkdir(parents=True)
    block = readme_block("Without a plugin manager, as a package:", "lua")
    assert block.startswith("-- ~/.config/nvim/init.lua\n")
    init.write_text(block)
    model_server.enqueue(Step(content=LOADER_REPLY))
    result = _refactor(str(nvim), init, user_env, tmp_path)
    _assert_private_server(result, user_env, nvim)


def test_lazy_spec_builds_from_the_clone_then_refactors(
    user_env: dict[str, str], model_server, tmp_path: Path
) -> None:
    """lazy.nvim needs Neovim 0.8+, so only the current Neovim runs this spec."""
    current = _checked(_current_nvim(), "pypi")
    home = Path(user_env["HOME"])
    spec = home / ".config" / "nvim" / "lua" / "plugins" / "m21.lua"
    spec.parent.mkdir(parents=True)
    block = readme_block("With [lazy.nvim]", "lua")
    assert block.startswith("-- ~/.config/nvim/lua/plugins/m21.lua\n")
    spec.write_text(block)
    model_server.enqueue(Step(content=LOADER_REPLY))
    result = _refactor(current, LAZY_STANDIN, user_env, tmp_path)
    _assert_private_server(result, user_env, current)
    health = "\n".join(result["health"])
    assert f"installs from {home / 'src' / 'm21-lsp'} (the plugin's checkout)" in health


def test_failed_install_says_why_and_keeps_using_path(
    nvim: Nvim, user_env: dict[str, str], tmp_path: Path
) -> None:
    """pip's own reason reaches the user, and no half-made venv is taken for a server."""
    missing = tmp_path / "no-such-m21_lsp-0.1.0-py3-none-any.whl"
    plugin = REPO_ROOT / "editors" / "neovim"
    out_file = tmp_path / "out.json"
    probe = (
        f"vim.opt.runtimepath:prepend({json.dumps(str(plugin))})\n"
        "local install = require('m21.install')\n"
        f"local ok = install.install({{ source = {json.dumps(str(missing))} }})\n"
        "local cmd, how = install.resolve(nil, false)\n"
        f"local fh = assert(io.open({json.dumps(str(out_file))}, 'w'))\n"
        "fh:write(vim.fn.json_encode({ ok = ok, message = install.state.message,"
        " how = how, messages = vim.fn.execute('messages') }))\n"
        "fh:close()\n"
    )
    script = tmp_path / "probe.lua"
    script.write_text(probe)
    _run(
        [
            str(nvim),
            "--headless",
            "-n",
            "-i",
            "NONE",
            "-u",
            "NONE",
            "-c",
            f"luafile {script}",
            "-c",
            "qa!",
        ],
        user_env,
        tmp_path,
        INSTALL_TIMEOUT,
    )
    got = json.loads(out_file.read_text())
    assert got["ok"] is False
    assert f"install from {missing} failed: `" in got["message"]
    assert "exited with" in got["message"]
    assert str(missing.name) in got["message"], "pip's reason is not in the message"
    assert got["message"] in got["messages"], "the user was not told"
    assert got["how"] == "PATH"  # the broken m21-lsp on PATH, not a venv without the server
