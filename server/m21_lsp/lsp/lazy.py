"""The pipeline (and with it libcst and httpx) is imported after ``initialize`` is answered.

Importing libcst costs most of a second; an editor waits for the ``initialize`` answer
before it shows anything from the server, and code actions and hover never need libcst.
So the first use imports the pipeline, and :func:`warm_up` starts that import in a thread
right after start-up, so that it is usually done before the user's first command; the
secret scanner (``pipeline/detect.py``, which keeps secrets out of prompts) is loaded by the
same thread, never on the way to the ``initialize`` answer.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

_MODULES = ("m21_lsp.pipeline.run", "m21_lsp.model.client")


def pipeline() -> ModuleType:
    return importlib.import_module("m21_lsp.pipeline.run")


def warm_up() -> None:
    def load() -> None:
        for name in _MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # a broken install shows up on first use, with the error
                return
        try:
            # detect-secrets (about 0.5 s): loaded here so the first prompt need not wait.
            importlib.import_module("m21_lsp.pipeline.detect").load()
        except Exception:
            return

    threading.Thread(target=load, name="m21-warm-up", daemon=True).start()
