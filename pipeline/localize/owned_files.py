"""Which files in an output folder `localize` wrote, so that it never replaces one it did not.

`--out` may be a folder that holds the user's own files (the videos folder itself, a
library). Before `localize` writes its files in a folder (OUT_DIR for the run's files,
OUT_DIR/<video> for a video's), every name it is about to write must be free, or a file
it wrote there before: the folder's manifest, `.fsenet-localize.json` (a hidden JSON file,
`{"written_by": "fsenet localize", "files": [...]}`), lists those. The manifest is
written, listing them, before the first of them. A name in the way (a file, a folder or a
link localize did not write) stops that folder's writing with one line naming it; nothing
in the folder is touched.

Folders written before the manifest existed are recognised by what they hold: a video's
folder by its segments.json (a "localize" header naming the same video), the run's folder
by its results.json (a "localize" header); their usual files count as localize's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from cache.atomic import atomic_write_json
from cache.json_text import parse_json

MANIFEST_NAME = ".fsenet-localize.json"
WRITTEN_BY = "fsenet localize"


class ForeignFileError(Exception):
    """A file localize did not write is where one of its outputs goes; the message names it."""


def _listed(folder: Path) -> set[str] | None:
    """The names the folder's manifest lists; None when it has no readable manifest."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    files = manifest.get("files") if isinstance(manifest, dict) and manifest.get("written_by") == WRITTEN_BY else None
    return {name for name in files if isinstance(name, str)} if isinstance(files, list) else None


def written_by_localize(path: Path) -> bool:
    """Did localize write `path` (its folder's manifest lists it)? A video localize copied or
    linked beside a report is no new video to localize when --out is the videos folder."""
    return Path(path).name in (_listed(Path(path).parent) or set())


def localize_header(path: Path) -> dict | None:
    """The "localize" header of a results file localize wrote (segments.json, results.json);
    None when `path` is not such a file."""
    try:
        if not path.is_file() or path.stat().st_size > 64 * 2**20:
            return None
        header = parse_json(path.read_text(encoding="utf-8")).get("localize")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return header if isinstance(header, dict) else None


def claim_files(folder: Path, names: Iterable[str], shown_as: Callable[[Path], str],
                earlier_outputs: Callable[[Path], set[str]] = lambda folder: set()) -> None:
    """Make `folder` (created when missing) ready for localize to write `names` in it: each
    must be absent, or listed in the folder's manifest, or among `earlier_outputs(folder)`
    (the files an earlier version wrote there, recognised by their content); then the
    manifest lists them. ForeignFileError naming the first one in the way (as
    `shown_as(path)` writes a path: relative to OUT_DIR) otherwise; nothing is written then."""
    folder = Path(folder)
    names = sorted(set(names))
    listed = _listed(folder)
    if listed is None and os.path.lexists(folder / MANIFEST_NAME):
        raise ForeignFileError(f"{shown_as(folder / MANIFEST_NAME)}: not a manifest localize wrote, where it keeps "
                               "one; move it away or pass another --out")
    owned = listed if listed is not None else earlier_outputs(folder) if folder.is_dir() else set()
    for name in names:
        path = folder / name
        if name not in owned and os.path.lexists(path):
            what = "folder" if path.is_dir() and not path.is_symlink() else "file"
            raise ForeignFileError(f"{shown_as(path)}: a {what} localize did not write is in the way (localize never "
                                   "replaces one); move it away or pass another --out")
    if listed is None or not set(names) <= listed:
        atomic_write_json(folder / MANIFEST_NAME, {"written_by": WRITTEN_BY, "files": sorted(owned | set(names))})
