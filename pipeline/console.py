"""Messages for people while a command runs: warnings and notes go to stderr, so stdout
carries only a command's results (tables, JSON).

Names that reach the terminal (video ids, file paths, class names) may carry ANSI escape
codes, newlines or bidi overrides; :func:`printable` shows those as escapes instead."""

from __future__ import annotations

import sys


def printable(text: object) -> str:
    """`text` with every character Python does not call printable (control characters such
    as ESC and newline, bidi overrides, non-ASCII spaces) written as its escape (\\x1b,
    \\n, \\u202e); plain spaces and every script's letters stay as they are."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
