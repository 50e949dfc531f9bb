"""Identify a source file's content cheaply: sha256 over its size and three 1 MiB samples
(start, middle, end). Files up to 3 MiB are hashed whole."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SAMPLE_BYTES = 1 << 20


def content_fingerprint(path: Path) -> str:
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        if size <= 3 * SAMPLE_BYTES:
            digest.update(handle.read())
        else:
            for offset in (0, size // 2 - SAMPLE_BYTES // 2, size - SAMPLE_BYTES):
                handle.seek(offset)
                digest.update(handle.read(SAMPLE_BYTES))
    return "sha256-sampled:" + digest.hexdigest()


def source_record(path: Path) -> dict:
    """What the cache stores about a source file: absolute path, size, mtime, fingerprint."""
    stat = os.stat(path)
    return {
        "path": os.path.abspath(path),
        "size": stat.st_size,
        "mtime": stat.st_mtime,
        "fingerprint": content_fingerprint(path),
    }


def file_sha256(path: Path, block_bytes: int = 1 << 22) -> str:
    """Full sha256 of a file (for model weights)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()
