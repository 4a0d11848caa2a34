"""The fidelity corpus lives beside its tests; make it importable as ``corpus``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
