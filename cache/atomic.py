"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

A process killed at any moment leaves either the old file, the new file, or a stray temp
file whose name (`.NAME.tmp-PID-RANDOM`) no reader ever opens. Strays are removed by
whoever may know their writer is gone: the holder of the folder's lock (cache/lock.py), or
:func:`remove_stale_temp_files` (writer process no longer running, or the file old).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import uuid
from pathlib import Path

import numpy as np

TEMP_MARKER = ".tmp-"


_TEMP_PID = re.compile(r"\.tmp-(\d+)-[0-9a-f]+$")


def is_temp_file(path: Path) -> bool:
    return path.name.startswith(".") and TEMP_MARKER in path.name


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temp_files(folder: Path, min_age_seconds: float = 3600.0) -> dict[Path, int]:
    """Delete the temp files directly in `folder` that no running write can still need:
    their writer process (the PID in the name) is not running on this machine, or they were
    last changed more than `min_age_seconds` ago (a PID reused, a writer on another
    machine). Returns the files removed and their sizes in bytes; files that vanish or
    cannot be removed are skipped."""
    removed: dict[Path, int] = {}
    if not Path(folder).is_dir():
        return removed
    now = time.time()
    for path in Path(folder).iterdir():
        if not is_temp_file(path):
            continue
        match = _TEMP_PID.search(path.name)
        try:
            stat = path.stat()
            if now - stat.st_mtime > min_age_seconds or (match is not None and not _process_running(int(match.group(1)))):
                path.unlink()
                removed[path] = stat.st_size
        except OSError:
            continue
    return removed


def folder_write_problem(folder: Path) -> str | None:
    """None when files can be written in `folder` (an existing folder, or one that mkdir
    can make: its nearest existing ancestor is a folder this process may write in);
    else why not, in a few words. Touches nothing."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return "it exists and is not a folder"
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != folder and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{'it' if existing == folder else existing} cannot be written (permission denied or a read-only filesystem)"
    return None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
