"""Reading files of a cache only when they are regular files.

A FIFO (or a device, a socket) where a cache file belongs would block its reader forever:
`mkfifo CACHE/videos/v/audio.npy` used to hang cache-info, extract and train. Every file
the cache reads goes through here first; anything but a regular file is an OSError
("not a regular file") that the reader reports like any unreadable file, and `extract`
replaces it (an atomic rename over it) when it rewrites the entry.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

NOT_REGULAR = "not a regular file"


class NotRegularFileError(OSError):
    """A path that exists but is a FIFO, a device, a socket or a folder, not a file."""


def _refuse(path: Path) -> NotRegularFileError:
    return NotRegularFileError(errno.EINVAL, NOT_REGULAR, str(path))


def check_regular_file(path: Path | str) -> None:
    """Nothing when `path` is a regular file (through links); FileNotFoundError when it does
    not exist, NotRegularFileError when it is something else. Opens nothing."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise _refuse(Path(path))


def read_regular_bytes(path: Path | str) -> bytes:
    """The bytes of `path`, opened without waiting for a writer (O_NONBLOCK) and read only
    when the opened file is a regular one (fstat); NotRegularFileError otherwise."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise _refuse(Path(path))
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(descriptor)


def read_regular_text(path: Path | str, encoding: str = "utf-8") -> str:
    """read_regular_bytes decoded (UnicodeDecodeError when it is not `encoding`)."""
    return read_regular_bytes(path).decode(encoding)
