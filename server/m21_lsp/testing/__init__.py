"""Shipped on purpose: the loopback model server that ``m21-lsp demo`` and the tests use.

It speaks the chat-completions protocol (JSON and SSE) on 127.0.0.1 and plays replies
scripted from files, so a demo or a test runs the whole product without a network or a key.
"""
