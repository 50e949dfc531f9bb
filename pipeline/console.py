"""Messages for people while a command runs: warnings and notes go to stderr, so stdout
carries only a command's results (tables, JSON).

Names that reach the terminal (video ids, file paths, class names) may carry ANSI escape
codes, newlines, bidi overrides or bytes that are not UTF-8; :func:`printable` shows those
as escapes instead."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterable

from cache.atomic import escape_undecodable
from cache.json_text import json_text


def printable(text: object) -> str:
    """`text` with every character Python does not call printable (control characters such
    as ESC and newline, bidi overrides, non-ASCII spaces) written as its escape (\\x1b,
    \\n, \\u202e), and each byte of a file name that was not UTF-8 as \\xNN (as in files:
    cache.atomic.escape_undecodable); plain spaces and every script's letters stay as they are."""
    text = str(text)
    if text.isprintable():
        return text
    text = escape_undecodable(text)
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for ch in text)


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_terminal(stream=None) -> bool:
    """Is `stream` (default stderr) a terminal? Redirected to a file or a pipe it is not."""
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or an object without isatty
        return False


def progress_wanted(no_progress: bool = False, quiet: bool = False) -> bool:
    """Progress bars only on a terminal: a log file gets no carriage returns."""
    return not (no_progress or quiet) and is_terminal()


def warnings_only(message: str) -> None:
    """--quiet's log: warnings and errors still reach stderr, notes do not."""
    if message.startswith(("warning:", "error:")):
        to_stderr(message)


def warnings_once(log: Callable[[str], None]) -> Callable[[str], None]:
    """`log`, saying each warning once: a run whose stages each meet the same thing (the
    demo's extract, train, evaluate and localize all read random-weight features) warns
    once. Other messages pass as they come."""
    said: set[str] = set()

    def say(message: str) -> None:
        if message.startswith("warning:"):
            if message in said:
                return
            said.add(message)
        log(message)

    return say


def stage_log(quiet: bool = False) -> Callable[[str], None]:
    """The `log` of one run (a command, an API call): every message, or (--quiet) only
    warnings and errors; each warning once (:func:`warnings_once`)."""
    return warnings_once(warnings_only if quiet else to_stderr)


def random_weights_warning(streams: Iterable[str]) -> str:
    """The one line every stage says about features from random extractor weights, worded
    alike so that a run says it once (:func:`warnings_once`)."""
    return (f"warning: the {', '.join(sorted(streams))} features come from RANDOM weights (--random-weights): they "
            "carry no learned meaning, and every file made from them says so")


def shell_path(path) -> str:
    """A path as people copy it into a shell: quoted when it holds spaces or other
    characters the shell would split or expand ('demo_out/localize/demo 08/report.html').
    A name with control characters or bytes that are not UTF-8 is escaped as printable()
    does, inside ANSI-C quotes ($'caf\\xe9.mp4'), which bash, zsh and ksh read back into the
    same bytes: the name never reaches a terminal raw, and still pastes."""
    text = str(path)
    if printable(text) == text:
        return shlex.quote(text)
    return "$'" + printable(text.replace("\\", "\\\\").replace("'", "\\'")) + "'"


def json_for_stdout(value) -> str:
    """`value` as indented JSON for a command's --json output: names as they are, those that
    are not UTF-8 as JSON's \\udcXX escapes (cache.atomic.json_text), never raw bytes."""
    return json_text(value)
