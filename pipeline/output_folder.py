"""Output folders the user names (--out): checked before any work, so a file in the way or
a folder that cannot be written is one line (exit 2), not a traceback after the work."""

from __future__ import annotations

from pathlib import Path

from cache.atomic import folder_write_problem


class OutputFolderError(Exception):
    """An output folder that cannot be used; the message names it and the fix."""


def check_output_folder(folder: Path, option: str) -> Path:
    """`folder` when files can be written in it (existing, or creatable); else
    OutputFolderError naming it, why, and `option` (e.g. "--out") to change. Touches nothing."""
    problem = folder_write_problem(Path(folder))
    if problem:
        raise OutputFolderError(f"{folder}: cannot write the outputs there: {problem}; pass another {option} folder")
    return Path(folder)
