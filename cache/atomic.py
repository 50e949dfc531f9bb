"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

A process killed at any moment leaves either the old file, the new file, or a stray temp
file whose name (`.NAME.tmp-PID-RANDOM`) no reader ever opens. Strays are removed by
whoever may know their writer is gone: the holder of the folder's lock (cache/lock.py), or
:func:`remove_stale_temp_files` (writer process no longer running, or the file old). A
temp name fits wherever its target's name fits (:func:`temp_path_for`: NAME is cut when
the whole would pass the filesystem's 255-byte limit).

Text from file names: on Linux a name is bytes, and Python carries the bytes that are not
UTF-8 as lone surrogates (U+DC80..U+DCFF, `os.fsdecode`'s surrogateescape), which UTF-8
cannot encode. JSON files keep them losslessly, as JSON's own `\\udcXX` escapes (json.loads
gives back the exact name); other text files (CSV, subtitles, HTML, XML) show each such
byte as `\\xNN` (:func:`escape_undecodable`), as the terminal does.
"""

from __future__ import annotations

import io
import os
import re
import time
import uuid
from pathlib import Path

from cache.json_text import json_text

TEMP_MARKER = ".tmp-"
NAME_MAX_BYTES = 255  # the longest file name (in bytes) of Linux, macOS and Windows filesystems


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
            writer_gone = match is not None and not _process_running(int(match.group(1)))
            if now - stat.st_mtime > min_age_seconds or writer_gone:
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
        what = "it" if existing == folder else existing
        return f"{what} cannot be written (permission denied or a read-only filesystem)"
    return None


def _cut_to_bytes(name: str, limit: int) -> str:
    """The longest start of `name` whose file-system bytes (os.fsencode) fit in `limit`,
    cut between characters."""
    if len(os.fsencode(name)) <= limit:
        return name
    total, kept = 0, []
    for character in name:
        total += len(os.fsencode(character))
        if total > limit:
            break
        kept.append(character)
    return "".join(kept)


def fitted_name(stem: str, suffix: str) -> str:
    """`stem + suffix` as a file name, `stem` cut between characters so that the whole
    fits in NAME_MAX_BYTES (a name that fits already is unchanged)."""
    return _cut_to_bytes(stem, NAME_MAX_BYTES - len(os.fsencode(suffix))) + suffix


def temp_path_for(path: Path) -> Path:
    """A fresh temp name beside `path`, `.NAME.tmp-PID-RANDOM` (is_temp_file, and
    remove_stale_temp_files reads the PID), that fits wherever `path`'s name fits: NAME
    is cut (fitted_name) when the whole would pass NAME_MAX_BYTES."""
    path = Path(path)
    return path.with_name(fitted_name(f".{path.name}", f"{TEMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}"))


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def escape_undecodable(text: str) -> str:
    """`text` with each byte of a file name that was not UTF-8 (carried as U+DC80..U+DCFF by
    surrogateescape) written as `\\xNN`: 'caf\\udce9' -> 'caf\\\\xe9'. Other text is unchanged."""
    return _UNDECODABLE.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`data` as the file `path` (a temp file, fsync, rename). An OSError names `path`: a
    write or fsync that fails (a full disk) names no file of its own, and the temp file's
    name means nothing to the person who reads the error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(path)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        if error.filename in (None, str(temp)):
            error.filename = str(path)
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def atomic_write_text(path: Path, text: str) -> None:
    """`text` as UTF-8; bytes of file names that were not UTF-8 as `\\xNN` (escape_undecodable),
    any other lone surrogate as `\\udXXX`."""
    atomic_write_bytes(path, escape_undecodable(text).encode("utf-8", "backslashreplace"))


def atomic_write_json(path: Path, value) -> None:
    """`value` as JSON (UTF-8, indented; names that are not UTF-8 kept exactly: json_text)."""
    atomic_write_bytes(path, (json_text(value) + "\n").encode("utf-8"))


def atomic_save_npy(path: Path, array) -> None:
    """`array` (np.ndarray) as a .npy file, without pickles."""
    import numpy as np  # here: the writers of text and JSON (and --help, through pipeline.console) need no numpy

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
