"""Reading and writing the user's files: UTF-8 exactly as stored, never half a file.

A failure here is a clear error and leaves the file as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import M21Error, UsageError


def read_text(path: Path) -> str:
    """The file's text with its line endings kept, or a usage error that says why not."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; m21-lsp only edits UTF-8 files.") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror}).") from None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step so that a crash never leaves half a file.

    The new text is written and synced to a temporary file next to the file (the same
    file system, so the rename is atomic), given the file's mode, then renamed over it.
    A symbolic link is followed, so the link stays and the file it names is rewritten.
    Hard links to the old file keep the old text (a rename cannot update them). Any
    failure before the rename leaves the file as it was and is reported as such.
    """
    target = path.resolve()
    tmp: str | None = None
    try:
        mode = target.stat().st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".m21", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise M21Error(f"{path}: cannot write it ({reason}); the file was not changed.") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def create_or_replace(path: Path, text: str, existed: bool) -> None:
    """Write a target: atomically over an existing file; a new one is created empty first
    (exclusively, with the umask's mode) so :func:`write_atomically` has a mode to keep,
    and removed again if the write fails."""
    if existed:
        write_atomically(path, text)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=False)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise M21Error(f"{path}: cannot create it ({reason}); nothing was written.") from None
    try:
        write_atomically(path, text)
    except M21Error:
        path.unlink(missing_ok=True)
        raise
