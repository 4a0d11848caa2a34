"""``refactor --apply`` keeps its promises: an atomic rewrite that keeps the file's mode.

Atomic means the file is never seen half written: the new text goes to a temporary file in
the same directory, which then replaces the file in one ``rename``. So at the moment of the
rename the file still holds the old text in full and the temporary file the new text in
full; afterwards the path names a new inode (a reader who had the old file open keeps
reading the old text); and a failure before the rename leaves the file as it was, with no
temporary file left behind. The expected texts are written out here from the fixture reply.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from m21_lsp.cli import main
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

OLD_FUNCTION = """def total_price(items, tax_rate):
    total = 0
    for i in range(len(items)):
        item = items[i]
        if item["qty"] > 0:
            total = total + item["price"] * item["qty"]
    total = total + total * tax_rate
    return round(total, 2)
"""
NEW_FUNCTION = '''def total_price(items, tax_rate):
    """Sum price * qty over items with a positive quantity, then add tax."""
    subtotal = sum(item["price"] * item["qty"] for item in items if item["qty"] > 0)
    return round(subtotal * (1 + tax_rate), 2)
'''
LINES = "6-13"  # total_price in fixtures/sources/sample_basic.py


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A directory holding only the file to edit, so that leftovers are easy to see."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def sample(folder: Path, fixtures_dir: Path) -> Path:
    target = folder / "shop.py"
    shutil.copyfile(fixtures_dir / "sources" / "sample_basic.py", target)
    return target


@pytest.fixture(autouse=True)
def _cli_env(env: str, model_server: ScriptedModelServer) -> None:
    """The CLI tests' environment (tests/core/conftest.py), with a refactor reply queued."""
    model_server.enqueue(Step(fixture="refactor_basic"))


def apply(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["refactor", str(path), "--lines", LINES, "--apply"], out=out, err=err)
    return code, err.getvalue()


def expected_bytes(original: bytes) -> bytes:
    return original.decode().replace(OLD_FUNCTION, NEW_FUNCTION).encode()


@pytest.mark.parametrize("mode", [0o640, 0o755, 0o600, 0o444])
def test_apply_keeps_the_files_mode(sample: Path, mode: int) -> None:
    original = sample.read_bytes()
    sample.chmod(mode)
    code, err = apply(sample)
    assert code == 0, err
    assert sample.read_bytes() == expected_bytes(original)
    assert stat.S_IMODE(sample.stat().st_mode) == mode


def test_apply_replaces_the_file_in_one_rename_from_its_own_directory(
    sample: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample.chmod(0o750)
    original = sample.read_bytes()
    new = expected_bytes(original)
    inode = sample.stat().st_ino
    renames: list[dict[str, Any]] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        # What anyone looking at the directory sees just before the switch.
        renames.append(
            {
                "src_dir": Path(src).resolve().parent,
                "dst": Path(dst).resolve(),
                "dst_bytes": Path(dst).read_bytes(),
                "src_bytes": Path(src).read_bytes(),
                "src_mode": stat.S_IMODE(os.stat(src).st_mode),
            }
        )
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    with sample.open("rb") as reader:  # opened before the rewrite
        code, err = apply(sample)
        assert code == 0, err
        assert reader.read() == original  # the old inode still holds the old text, whole
    (rename,) = renames
    assert rename["dst"] == sample.resolve()
    assert rename["src_dir"] == folder.resolve()  # same file system: rename is atomic
    assert rename["dst_bytes"] == original  # until the rename, the old text in full
    assert rename["src_bytes"] == new  # the new text complete before it is switched in
    assert rename["src_mode"] == 0o750  # never visible with the temporary file's mode
    assert sample.stat().st_ino != inode
    assert sample.read_bytes() == new
    assert sorted(p.name for p in folder.iterdir()) == ["shop.py"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_the_file_intact_and_says_so(
    sample: Path, folder: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    original = sample.read_bytes()
    inode = sample.stat().st_ino

    def disk_full(*_args: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, failing, disk_full)
    code, err = apply(sample)
    assert code == 1, err
    assert os.strerror(errno.ENOSPC) in err
    assert "not changed" in err
    assert "Traceback" not in err
    assert sample.read_bytes() == original
    assert sample.stat().st_ino == inode
    assert sorted(p.name for p in folder.iterdir()) == ["shop.py"]  # no temporary file left


def test_apply_through_a_symbolic_link_rewrites_the_file_it_points_to(
    sample: Path, tmp_path: Path
) -> None:
    """Editing through a link (dotfile managers, monorepo links) must keep the link."""
    sample.chmod(0o640)
    original = sample.read_bytes()
    link = tmp_path / "link.py"
    link.symlink_to(sample)
    code, err = apply(link)
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == sample.resolve()
    assert sample.read_bytes() == expected_bytes(original)
    assert stat.S_IMODE(sample.stat().st_mode) == 0o640
