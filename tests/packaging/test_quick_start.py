"""The README's quick start works on a fresh machine: Python only, no pipx, no uv.

The first command a newcomer copies is run as written, by ``sh``, in a copy of the release
files (a clone), with ``HOME`` in a temporary folder and a ``PATH`` that holds nothing but a
``python3`` (the interpreter this venv was made from) and the system's basic tools, so a pipx
or uv on the test machine cannot make it pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from dists import REPO_ROOT, release_files

QUICK_START = re.compile(r"## Quick start\n.*?```sh\n(?P<command>[^\n]+)\n```", re.S)


def first_command() -> str:
    match = QUICK_START.search((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "the README has no Quick start with a sh block"
    return match.group("command")


def test_the_first_command_needs_neither_pipx_nor_uv() -> None:
    command = first_command()
    words = re.findall(r"[\w./~-]+", command.split("#")[0])
    assert words[0] == "python3", command
    assert "pipx" not in words and "uv" not in words, command


def test_the_first_command_runs_on_a_machine_with_only_python(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    for rel in release_files():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / rel, clone / rel)
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    (bin_dir / "python3").symlink_to(base)
    system = [d for d in ("/usr/bin", "/bin") if Path(d).is_dir()]
    for tool in ("pipx", "uv"):
        for d in system:
            if (Path(d) / tool).exists():
                # A system pipx/uv would be found: shadow it with one that fails loudly.
                (bin_dir / tool).write_text(
                    "#!/bin/sh\necho 'not on a fresh machine' >&2\nexit 97\n"
                )
                (bin_dir / tool).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "LANG", "LC_", "SSL_"))}
    env.update(HOME=str(home), PATH=os.pathsep.join([str(bin_dir), *system]))
    for config in ("~/.config/pip/pip.conf", "~/.pip/pip.conf"):
        if Path(config).expanduser().is_file():  # the machine's package index, as pip has it
            env.setdefault("PIP_CONFIG_FILE", str(Path(config).expanduser()))
    done = subprocess.run(
        ["sh", "-c", first_command()],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (home / ".local/share/m21-lsp/bin/m21-lsp").exists()
    assert "syntax-checked with libcst" in done.stdout + done.stderr, done.stdout[-2000:]
