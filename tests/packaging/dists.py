"""Builds the sdist and the wheel once per source state, the way a release would.

The packaging test and the Neovim install test both need the wheel a user would get. The
build runs in a copy of the files that go into a release (``pyproject.toml``, ``README.md``,
``server/``), so it writes nothing into the checkout, and with ``python -m build``'s isolated
environment, so it needs only what ``[build-system]`` declares. The result is kept under
``.e2e-cache/dists/<hash of those files>`` so the tests and repeated runs share one build;
any change to a packaged file gives a new hash and a fresh build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".e2e-cache" / "dists"
BUILD_TIMEOUT = 600


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path


def release_files() -> list[Path]:
    """The files a release is built from, relative to the repository root."""
    files = [Path("pyproject.toml"), Path("README.md")]
    for path in sorted((REPO_ROOT / "server").rglob("*")):
        rel = path.relative_to(REPO_ROOT)
        if path.is_file() and "__pycache__" not in rel.parts and ".egg-info" not in str(rel):
            files.append(rel)
    return files


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for rel in files:
        h.update(str(rel).encode() + b"\0" + (REPO_ROOT / rel).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build() -> Dists:
    """The sdist and wheel for the current sources, built now or taken from the cache."""
    files = release_files()
    out = CACHE / _digest(files)
    found = _found(out)
    if found:
        return found
    work = out.with_name(f"{out.name}.tmp{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    src = work / "src"
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, src / rel)
    # The wheel is built from the sdist (build's default), which proves the sdist is complete.
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        cwd=work,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"python -m build failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    try:
        (work / "dist").rename(out)
    except OSError:  # another run finished the same build first: use that one
        pass
    shutil.rmtree(work, ignore_errors=True)
    found = _found(out)
    assert found, f"python -m build left no sdist and wheel in {out}: {sorted(out.iterdir())}"
    return found


def _found(out: Path) -> Dists | None:
    sdists = sorted(out.glob("m21_lsp-*.tar.gz")) if out.is_dir() else []
    wheels = sorted(out.glob("m21_lsp-*-py3-none-any.whl")) if out.is_dir() else []
    if len(sdists) == 1 and len(wheels) == 1:
        return Dists(sdist=sdists[0], wheel=wheels[0])
    return None


def make_venv(where: Path, wheel: Path) -> Path:
    """A fresh venv with only the wheel (and its dependencies from the index) installed.

    Returns the venv's ``bin`` folder. PYTHONPATH is dropped so nothing of the checkout leaks in.
    """
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    bindir = where / "bin"
    proc = subprocess.run(
        [
            str(bindir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env=clean_env(),
        cwd=where,
    )
    if proc.returncode != 0:
        raise AssertionError(f"pip install {wheel.name} failed:\n{proc.stdout}\n{proc.stderr}")
    return bindir


def clean_env() -> dict[str, str]:
    """The environment without anything that points Python at the checkout or at a key."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        and not k.startswith(("M21_", "AIMLAPI_"))
    }
