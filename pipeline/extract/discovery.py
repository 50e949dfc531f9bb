"""Find the videos under an input folder and give each a stable id.

The id is the path relative to the folder, without extension, with '/' separators
("interviews/day 1/clip" for VIDEOS/interviews/day 1/clip.mp4). Hidden files and folders
(names starting with '.') are skipped. Two files with one id stop the run before any work.

An id becomes a folder under --cache and --out, so no part of it may start with '.'
(".", ".." would climb out of them): only a single file given by name can have such a
stem ("...mp4" -> ".."), and its id gets a leading '_' ("_.."), with a warning. The
mapping depends on the name alone, so the id is the same on every run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.console import printable, to_stderr


class DiscoveryError(Exception):
    """The input cannot be turned into a list of videos; the message says why."""


@dataclass(frozen=True)
class VideoFile:
    video_id: str
    path: Path


def safe_video_id(video_id: str) -> str:
    """`video_id` with a '_' before every '/'-separated part that starts with '.' or is
    empty, so that the id, as a path under a folder, stays inside it ("..": "_..")."""
    return "/".join(f"_{part}" if not part or part.startswith(".") else part for part in video_id.split("/"))


def discover_videos(root: Path, extensions: Iterable[str], skip: Iterable[Path] = (),
                    warn: Callable[[str], None] = to_stderr) -> list[VideoFile]:
    """Videos under `root` (recursive, following linked folders once), sorted by id.

    `root` may also be a single file (its id is its name without extension, made safe
    by :func:`safe_video_id`; `warn` gets a line when that changes it).
    `skip`: folders not to descend into (the cache, when it lies inside the input).
    """
    root = Path(root)
    wanted = {e.lower() for e in extensions}
    if root.is_file():
        video_id = safe_video_id(root.stem)
        if video_id != root.stem:
            warn(f"warning: {printable(root)}: the name '{printable(root.stem)}' cannot be a folder under --cache or "
                 f"--out; its video id is '{printable(video_id)}'")
        return [VideoFile(video_id, root)]
    if not root.is_dir():
        raise DiscoveryError(f"{root}: no such file or folder; pass a folder of videos")
    skipped = {os.path.realpath(p) for p in skip}
    seen_dirs: set[str] = set()
    found: dict[str, Path] = {}
    for directory, subdirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen_dirs or real in skipped:
            subdirs[:] = []
            continue
        seen_dirs.add(real)
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(directory) / name
            if name.startswith(".") or path.suffix.lower() not in wanted:
                continue
            video_id = path.relative_to(root).with_suffix("").as_posix()
            if video_id in found:
                raise DiscoveryError(
                    f"{found[video_id]} and {path} both map to video id '{video_id}'; "
                    "rename or move one of them"
                )
            found[video_id] = path
    if not found:
        raise DiscoveryError(
            f"{root}: no videos found (looked for {', '.join(sorted(wanted))}); "
            "pass the folder that holds them or add the extension to extract.video_extensions"
        )
    return [VideoFile(video_id, found[video_id]) for video_id in sorted(found)]
