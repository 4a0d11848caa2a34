"""The rule for code the user changed while the model worked, at the pipeline's level.

The model wrote its reply for the selection it was shown. If the user changes any
character of that selection before the edit lands, the reply no longer fits the code, even
when it left the changed line alone: ``pipeline.rebase`` refuses. Changes outside the
selection (and away from the edited lines) are still moved onto, as before.

A real refactor runs first (the scripted model server on 127.0.0.1, the real client and
pipeline), so the result carries the edits and the selection exactly as a caller gets them.
"""

from __future__ import annotations

import pytest
from m21_lsp.config import Settings
from m21_lsp.errors import StaleDocument
from m21_lsp.model.client import ModelClient
from m21_lsp.pipeline import run as pipeline
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step

FUNCTION = "def total(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
TEXT = "import math\n\n\n" + FUNCTION + "\n\ndef other():\n    return 1\n"
# The model rewrites one line of the selection and keeps the others.
REWRITTEN = FUNCTION.replace("total += x", "total = total + x")
REPLY = f"<think>spell the sum out</think>\n```python\n{REWRITTEN}```\n"


async def refactor_function(server: ScriptedModelServer, key: str) -> pipeline.RefactorResult:
    server.enqueue(Step(content=REPLY))
    start = TEXT.index(FUNCTION)
    req = pipeline.RefactorRequest(TEXT, start, start + len(FUNCTION), path="m.py")
    settings = Settings(api_key=key, base_url=server.base_url)
    async with ModelClient(settings) as client:
        result = await pipeline.refactor(req, settings, client)
    # Only the one line changed: the user's change below is not next to the edit.
    (edit,) = result.edits
    assert TEXT[edit.start : edit.end] == "        total += x\n"
    return result


async def test_a_change_inside_the_selection_on_a_line_the_model_kept_is_refused(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    result = await refactor_function(model_server, sentinel_key)
    current = TEXT.replace("return total", "return -total")
    with pytest.raises(StaleDocument) as info:
        await pipeline.rebase(result, current, is_python=True)
    assert "selected code changed" in info.value.message


async def test_the_first_and_last_selected_characters_count(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    result = await refactor_function(model_server, sentinel_key)
    start = TEXT.index(FUNCTION)
    end = start + len(FUNCTION)
    assert result.selection == (start, end)
    for current in (
        TEXT[:start] + "async " + TEXT[start:],  # typed right before the selection
        TEXT[:start] + "f" + TEXT[start + 1 :],  # its first character
        TEXT[: end - 2] + "L" + TEXT[end - 1 :],  # its last character before the newline
    ):
        with pytest.raises(StaleDocument):
            await pipeline.rebase(result, current, is_python=True)


async def test_changes_outside_the_selection_are_still_rebased(
    model_server: ScriptedModelServer, sentinel_key: str
) -> None:
    result = await refactor_function(model_server, sentinel_key)
    current = TEXT.replace("import math\n", "import math\nimport os\n").replace(
        "return 1", "return 2"
    )
    edits, new_text = await pipeline.rebase(result, current, is_python=True)
    assert new_text == current.replace(FUNCTION, REWRITTEN)
    assert len(edits) == 1
