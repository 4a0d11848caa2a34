"""The m21-lsp language server (pygls 2): thin handlers over :mod:`m21_lsp.pipeline.run`."""

from .server import create_server, run_stdio, run_tcp

__all__ = ["create_server", "run_stdio", "run_tcp"]
