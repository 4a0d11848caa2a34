"""What the terminal shows while the model works, and the summary line after it."""

from __future__ import annotations

from typing import ClassVar, TextIO

from ..errors import scrub
from ..model.types import Progress, Usage


class TerminalProgress:
    """Progress on stderr: a spinner on a terminal, plain lines anywhere else.

    A model call can sit for minutes in a retry wait or in the model's thinking. On a
    terminal the spinner shows that; in a log or CI, where a spinner is noise, each retry,
    each wait and each change of phase is one line, so the log says what happened and when.
    Retries and waits are kept as lines on a terminal too (the spinner would overwrite them).
    """

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    # What a log line says when the phase changes (counts would make one line per token).
    PHASE_LINES: ClassVar[dict[str, str]] = {
        "connecting": "waiting for the model",
        "thinking": "the model is thinking",
        "writing": "the model is writing",
        "checking": "checking the code",
        "repairing": "asking the model to fix a syntax error",
    }

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.enabled = _is_terminal(stream)
        self.frame = 0
        self._phase = ""
        self._last_line = ""

    def __call__(self, progress: Progress) -> None:
        line = self._line_for(progress)
        if line:
            self.line(line)
        if not self.enabled:
            return
        self.frame = (self.frame + 1) % len(self.FRAMES)
        text = f"{self.FRAMES[self.frame]} {self.label}: {progress.describe()}"
        self.stream.write("\r\x1b[2K" + text[:120])
        self.stream.flush()

    def _line_for(self, progress: Progress) -> str:
        """The line this report deserves, or "" (a repeat, or a spinner-only update)."""
        phase, self._phase = self._phase, progress.phase
        if progress.message:
            return progress.message
        if self.enabled or progress.phase == phase:
            return ""
        return self.PHASE_LINES.get(progress.phase, "")

    def line(self, text: str) -> None:
        """One permanent line (never the same twice in a row)."""
        text = f"{self.label}: {scrub(text)}"
        if text == self._last_line:
            return
        self._last_line = text
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def summary(seconds: float, usage: Usage, calls: int = 1) -> str:
    """'done in 2.1 s (1 model call): 1,200 prompt + 34 completion tokens'."""
    return (
        f"done in {seconds:.1f} s ({calls} model call{'s' if calls != 1 else ''}): "
        f"{usage.describe()}"
    )
