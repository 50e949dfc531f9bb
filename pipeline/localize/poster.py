"""The report's poster frame: one small JPEG of the video, embedded in the page, so the
video is not a black box before it plays (or when the browser cannot find or play it).

The frame shown is the middle of the best-scoring shown segment (the middle of the video
when nothing is shown), decoded by an ffmpeg child process (no shell; input seeking, then
one frame), scaled to at most POSTER_WIDTH pixels across, as JPEG.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from extractors.decode import find_ffmpeg

POSTER_WIDTH = 480  # pixels across at most (aspect kept): about 20-40 KB of JPEG
POSTER_QUALITY = 5  # ffmpeg's JPEG qscale: 2 (best) .. 31
POSTER_TIMEOUT_SECONDS = 60


def poster_seconds(shown: Sequence[dict], duration_seconds: float) -> float:
    """When the poster frame is taken (s): the middle of the best-scoring shown segment,
    else the middle of the video."""
    if not shown:
        return max(0.0, duration_seconds / 2)
    best = max(shown, key=lambda entry: float(entry["score"]))
    start, end = (float(value) for value in best["segment"])
    return min(max(0.0, (start + end) / 2), max(0.0, duration_seconds - 0.05))


def poster_jpeg(video: Path, seconds: float, ffmpeg_binary: str = "") -> bytes | None:
    """The frame of `video` at `seconds` as JPEG bytes, or None when ffmpeg cannot give one
    (no picture, unreadable file): the report then has no poster."""
    command = [
        find_ffmpeg(ffmpeg_binary), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-ss", f"{max(0.0, seconds):.3f}", "-i", "file:" + os.path.abspath(video),
        "-frames:v", "1", "-vf", f"scale='min({POSTER_WIDTH},iw)':-2", "-q:v", str(POSTER_QUALITY),
        "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1",
    ]
    try:
        result = subprocess.run(command, capture_output=True, timeout=POSTER_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 and result.stdout.startswith(b"\xff\xd8") else None


def data_uri(jpeg: bytes) -> str:
    """The JPEG as a data: URI (embedded in the page; the page's CSP allows img-src data:)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
