"""The feature cache: the contract between extraction and everything after it.

Layout under the user's cache folder:

    CACHE_DIR/cache.json                 format marker
    CACHE_DIR/config.yaml                resolved config of the last `extract`
    CACHE_DIR/extract_report.json        what the last `extract` did, failures with reasons
    CACHE_DIR/videos/<video_id>/meta.json
    CACHE_DIR/videos/<video_id>/<stream>.npy          (T, D) float32
    CACHE_DIR/videos/<video_id>/<stream>.mask.npy     (T,) float32, when the stream has one
    CACHE_DIR/videos/<video_id>/<stream>.<extra>.npy  (T, k) float32 extras

A video id is the video's path relative to the input folder, without extension ("a/b"
for VIDEOS/a/b.mp4). Every file is written atomically, arrays before the meta that lists
them, and a stream is dropped from the meta before its arrays are replaced: whatever the
moment a process dies, every stream the meta lists is complete and matches its record.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cache.atomic import atomic_save_npy, atomic_write_json, is_temp_file
from cache.fingerprint import content_fingerprint
from cache.identity import canonical

FORMAT_NAME = "fsenet-feature-cache"
FORMAT_VERSION = 1
META_NAME = "meta.json"


class CacheError(Exception):
    """A cache that cannot be used as asked, with a one-line reason."""


@dataclass
class StreamCheck:
    valid: bool
    reason: str = ""


@dataclass
class EntryCheck:
    video_id: str
    meta: dict | None
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.meta is not None and not self.problems


@dataclass
class LoadedStream:
    features: np.ndarray  # (T, D) float32
    mask: np.ndarray | None  # (T,) float32
    extras: dict[str, np.ndarray]
    record: dict  # the stream's meta record (shape, extractor identity, files)


class FeatureCache:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.videos_root = self.root / "videos"

    # -- layout -------------------------------------------------------------------------
    def is_cache(self) -> bool:
        return (self.root / "cache.json").is_file()

    def create(self) -> None:
        """Make the folder a cache (idempotent); refuses a folder that is something else."""
        marker = self.root / "cache.json"
        if marker.is_file():
            info = json.loads(marker.read_text())
            if info.get("format") != FORMAT_NAME or info.get("version") != FORMAT_VERSION:
                raise CacheError(
                    f"{self.root}: a feature cache of another format ({info}); use a new --cache folder"
                )
            return
        if self.root.exists() and any(self.root.iterdir()):
            raise CacheError(
                f"{self.root}: folder exists, is not empty and is not a feature cache; "
                "pass an empty or new folder to --cache"
            )
        atomic_write_json(marker, {"format": FORMAT_NAME, "version": FORMAT_VERSION})

    def entry_dir(self, video_id: str) -> Path:
        return self.videos_root / video_id

    def video_ids(self) -> list[str]:
        if not self.videos_root.is_dir():
            return []
        return sorted(p.parent.relative_to(self.videos_root).as_posix() for p in self.videos_root.rglob(META_NAME))

    # -- metadata -----------------------------------------------------------------------
    def read_meta(self, video_id: str) -> dict | None:
        """The entry's metadata, or None when absent, unreadable or of another format."""
        path = self.entry_dir(video_id) / META_NAME
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if meta.get("format_version") != FORMAT_VERSION:
            return None
        return meta

    def drop_meta(self, video_id: str) -> None:
        """Remove an entry's meta: its arrays stop counting (they are removed as strays)."""
        (self.entry_dir(video_id) / META_NAME).unlink(missing_ok=True)

    def write_meta(self, video_id: str, meta: dict) -> None:
        atomic_write_json(self.entry_dir(video_id) / META_NAME, meta)

    @staticmethod
    def new_meta(video_id: str, source: dict, probe: dict, grid: dict) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "video_id": video_id,
            "source": source,
            "probe": probe,
            "grid": grid,
            "streams": {},
        }

    # -- validity -----------------------------------------------------------------------
    @staticmethod
    def source_matches(meta: dict, source: dict) -> bool:
        return meta["source"].get("fingerprint") == source["fingerprint"] and meta["source"].get(
            "size"
        ) == source["size"]

    def _array_problem(self, entry: Path, file_name: str, shape: list[int]) -> str | None:
        path = entry / file_name
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            return f"{file_name} unreadable ({type(error).__name__})"
        if list(array.shape) != list(shape) or array.dtype != np.float32:
            return f"{file_name} is {array.dtype}{list(array.shape)}, meta says float32{list(shape)}"
        return None

    def stream_files_problem(self, video_id: str, record: dict) -> str | None:
        """None when every file of a stream record exists with the recorded shape."""
        entry = self.entry_dir(video_id)
        num_snippets = record["shape"][0]
        files = [(record["file"], record["shape"])]
        if record.get("mask_file"):
            files.append((record["mask_file"], [num_snippets]))
        files += [(extra["file"], extra["shape"]) for extra in record.get("extras", {}).values()]
        for file_name, shape in files:
            problem = self._array_problem(entry, file_name, shape)
            if problem:
                return problem
        return None

    def check_stream(self, video_id: str, meta: dict | None, stream: str, identity: dict, grid: dict) -> StreamCheck:
        """Is `stream` of this entry complete and made by exactly `identity` on `grid`?"""
        if meta is None:
            return StreamCheck(False, "not cached")
        if canonical(meta["grid"]) != canonical(grid):
            return StreamCheck(False, "snippet grid changed")
        record = meta["streams"].get(stream)
        if record is None:
            return StreamCheck(False, "not cached")
        if canonical(record["extractor"]) != canonical(identity):
            return StreamCheck(False, "extractor config or weights changed")
        problem = self.stream_files_problem(video_id, record)
        if problem:
            return StreamCheck(False, problem)
        return StreamCheck(True)

    def check_entry(self, video_id: str) -> EntryCheck:
        """Files present with recorded shapes, source unchanged (for `cache-info`)."""
        meta = self.read_meta(video_id)
        if meta is None:
            return EntryCheck(video_id, None, ["meta.json missing or unreadable"])
        check = EntryCheck(video_id, meta)
        source_path = Path(meta["source"]["path"])
        if not source_path.is_file():
            check.problems.append("source file missing")
        else:
            try:
                if content_fingerprint(source_path) != meta["source"]["fingerprint"]:
                    check.problems.append("source file changed since extraction")
            except OSError as error:
                check.problems.append(f"source unreadable ({error.strerror})")
        if not meta["streams"]:
            check.problems.append("no streams")
        for stream, record in sorted(meta["streams"].items()):
            problem = self.stream_files_problem(video_id, record)
            if problem:
                check.problems.append(f"{stream}: {problem}")
        return check

    # -- writing ------------------------------------------------------------------------
    def forget_stream(self, video_id: str, meta: dict, stream: str) -> None:
        """Drop a stream from the meta (atomically) before its files are replaced."""
        if stream in meta["streams"]:
            del meta["streams"][stream]
            if meta["streams"]:
                self.write_meta(video_id, meta)
            else:
                self.drop_meta(video_id)

    def write_stream(
        self,
        video_id: str,
        meta: dict,
        stream: str,
        features: np.ndarray,
        mask: np.ndarray | None,
        extras: dict[str, np.ndarray],
        identity: dict,
    ) -> None:
        """Write one stream's arrays, then the meta that lists them (both atomic)."""
        num_snippets = meta["grid"]["num_snippets"]
        arrays = {f"{stream}.npy": features}
        if mask is not None:
            arrays[f"{stream}.mask.npy"] = mask
        arrays.update({f"{stream}.{name}.npy": values for name, values in extras.items()})
        for file_name, array in arrays.items():
            if array.shape[0] != num_snippets:
                raise ValueError(
                    f"{stream} extractor returned {array.shape[0]} rows for {file_name}, "
                    f"the grid has {num_snippets}"
                )
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{stream} extractor returned NaN or infinite values for {file_name}")
        self.forget_stream(video_id, meta, stream)
        entry = self.entry_dir(video_id)
        for file_name, array in arrays.items():
            atomic_save_npy(entry / file_name, array.astype(np.float32, copy=False))
        meta["streams"][stream] = {
            "file": f"{stream}.npy",
            "shape": list(features.shape),
            "dtype": "float32",
            "mask_file": f"{stream}.mask.npy" if mask is not None else None,
            "extras": {
                name: {"file": f"{stream}.{name}.npy", "shape": list(values.shape)}
                for name, values in extras.items()
            },
            "extractor": identity,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self.write_meta(video_id, meta)

    def remove_strays(self, video_id: str, meta: dict) -> None:
        """Delete temp files left by a killed run and arrays the meta does not list."""
        entry = self.entry_dir(video_id)
        if not entry.is_dir():
            return
        listed = {META_NAME}
        for record in meta["streams"].values():
            listed.add(record["file"])
            if record.get("mask_file"):
                listed.add(record["mask_file"])
            listed.update(extra["file"] for extra in record.get("extras", {}).values())
        for path in entry.iterdir():
            if path.is_file() and (is_temp_file(path) or (path.suffix == ".npy" and path.name not in listed)):
                path.unlink(missing_ok=True)

    # -- reading ------------------------------------------------------------------------
    def load_stream(self, video_id: str, stream: str) -> LoadedStream:
        meta = self.read_meta(video_id)
        if meta is None:
            raise CacheError(f"{self.entry_dir(video_id)}: no valid cache entry; run `extract` first")
        record = meta["streams"].get(stream)
        if record is None:
            raise CacheError(
                f"{self.entry_dir(video_id)}: stream '{stream}' not cached; run `extract --streams {stream}`"
            )
        problem = self.stream_files_problem(video_id, record)
        if problem:
            raise CacheError(f"{self.entry_dir(video_id)}: {problem}; run `extract` again to repair it")
        entry = self.entry_dir(video_id)
        mask = np.load(entry / record["mask_file"]) if record.get("mask_file") else None
        extras = {name: np.load(entry / extra["file"]) for name, extra in record.get("extras", {}).items()}
        return LoadedStream(np.load(entry / record["file"]), mask, extras, record)
