"""Messages for people while a command runs: warnings and notes go to stderr, so stdout
carries only a command's results (tables, JSON)."""

from __future__ import annotations

import sys


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
