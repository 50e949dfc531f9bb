"""Exclusive locks on a feature cache, so that several `extract` runs (or Ray workers) can
share one cache folder.

Two kinds, both `fcntl.flock` on a small file that stays in place (Linux and macOS; on
NFS, Linux emulates flock with POSIX locks, which the server arbitrates):

- the cache lock, CACHE_DIR/.lock: held briefly while cache.json, config.yaml and the
  extract reports are written;
- an entry lock, CACHE_DIR/videos/<video_id>/.lock: held while one video's entry is
  brought up to date (read, strays removed, streams written).

The kernel drops a lock when its holder exits, however it exits (SIGKILL included), so
a lock never outlives a run. Every write of an entry's files happens under its lock;
whoever holds it may therefore delete any temp file it finds there: its writer is gone.

A folder that cannot be written (read-only mount, no permission) cannot be changed by
anyone either: there the lock is skipped when its file cannot be created.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"
PERMISSION_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


def is_permission_error(error: BaseException) -> bool:
    """An OSError meaning "this place cannot be written" (permission, read-only filesystem)."""
    return isinstance(error, OSError) and error.errno in PERMISSION_ERRNOS


def _open_lock_file(path: Path) -> int | None:
    """A descriptor of the lock file (created when missing); None when the folder cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as error:
        if not is_permission_error(error):
            raise
    try:  # an existing lock file can be locked through a read-only descriptor
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


@contextmanager
def exclusive_lock(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on `path` for the `with` block; yields True when held.

    wait=False: yields False at once when another process holds it (the block should then
    leave the guarded files alone). Yields True without a lock where the folder cannot be
    written (module docstring).
    """
    descriptor = _open_lock_file(Path(path))
    if descriptor is None:
        yield True
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # closing releases the lock
