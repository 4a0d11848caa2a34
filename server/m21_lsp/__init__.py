"""m21-lsp: refactor and explain code with the MiniMax M2.1 model, from any LSP client."""

from __future__ import annotations

__version__ = "0.1.0"


def version() -> str:
    """The installed distribution's version, so ``--version`` tells users which build they run.

    An installed wheel knows its own version from its metadata; a checkout run through
    ``PYTHONPATH`` (tests, development) has none and falls back to ``__version__``.
    """
    from importlib import metadata

    try:
        return metadata.version("m21-lsp")
    except metadata.PackageNotFoundError:
        return __version__
