"""The importable test harness: helpers that more than one test module uses, one module per
subject (``api``, ``admission``, ``cli``, ``edge``, ``fulfillment``, ``inventory``, ``money``,
``offer``, ``parking``, ``pipeline``). Fixtures live in the nearest ``conftest.py``, never here."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
FLASHSALE = str(Path(sys.executable).with_name("flashsale"))  # the CLI of this venv
