"""m21-lsp: refactor and explain code with the MiniMax M2.1 model, from any LSP client."""

__version__ = "0.1.0"
