"""Test support shared by every test folder: the position oracle (and, later, the LSP client).

Importable as ``support`` because pytest puts ``tests/`` on ``sys.path`` for ``tests/conftest.py``
(rootdir-relative "prepend" import mode, no ``__init__.py`` in ``tests/``). Scripts that run
outside pytest (``bench/soak.py``) put ``tests/`` on the path themselves.
"""
