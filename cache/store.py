"""The feature cache: the contract between extraction and everything after it.

Layout under the user's cache folder:

    CACHE_DIR/cache.json                 format marker
    CACHE_DIR/config.yaml                resolved config of the last `extract`
    CACHE_DIR/extract_report.json        every video's latest outcome over the `extract` runs
    CACHE_DIR/reports/extract-*.json     one report per `extract` run (the newest 20 kept)
    CACHE_DIR/.lock                      the cache lock (cache/lock.py)
    CACHE_DIR/videos/<video_id>/.lock    the entry's lock
    CACHE_DIR/videos/<video_id>/meta.json
    CACHE_DIR/videos/<video_id>/<stream>.npy          (T, D) float32
    CACHE_DIR/videos/<video_id>/<stream>.mask.npy     (T,) float32, when the stream has one
    CACHE_DIR/videos/<video_id>/<stream>.<extra>.npy  (T, k) float32 extras

A video id is the video's path relative to the input folder, without extension ("a/b"
for VIDEOS/a/b.mp4). Every file is written atomically, arrays before the meta that lists
them, and a stream is dropped from the meta before its arrays are replaced: whatever the
moment a process dies, every stream the meta lists is complete and matches its record.
Writers hold the entry's lock (:meth:`FeatureCache.entry_lock`), so several `extract`
runs can share a cache.

An entry is valid only when its meta.json has the shape written here (anything else,
including a JSON list or a record naming a file outside the entry, reads as damaged) and
every array it lists has the recorded shape, dtype float32 and only finite values.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cache.atomic import atomic_save_npy, atomic_write_json, folder_write_problem, is_temp_file
from cache.fingerprint import content_fingerprint
from cache.identity import canonical
from cache.json_text import parse_json
from cache.lock import LOCK_NAME, exclusive_lock
from cache.regular_files import check_regular_file, read_regular_text

FORMAT_NAME = "fsenet-feature-cache"
FORMAT_VERSION = 1
META_NAME = "meta.json"


class CacheError(Exception):
    """A cache that cannot be used as asked, with a one-line reason."""


class OtherSourceError(CacheError):
    """A video whose id names a cache entry extracted from a different file (another path and
    other content): the entry is left as it is (see FeatureCache.other_source)."""


def check_video_id(video_id: str) -> str:
    """`video_id` when it is a relative path that stays inside the folder it is joined to
    (no empty, '.' or '..' part, not absolute, no NUL); else CacheError. Every place an
    id becomes a path (a cache entry, a localize output folder) goes through this."""
    parts = video_id.split("/") if isinstance(video_id, str) else [""]
    if any(part in ("", ".", "..") for part in parts) or "\0" in video_id:
        raise CacheError(f"video id {video_id!r} would leave the folder it names; rename the file")
    return video_id


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


def _is_number(value: object, minimum: float = 0.0) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= minimum


def _is_file_name(value: object) -> bool:
    """A plain array file name inside the entry ("audio.npy"), never a path."""
    return isinstance(value, str) and value.endswith(".npy") and "/" not in value and "\0" not in value \
        and not value.startswith(".")


def _is_shape(value: object, dims: int) -> bool:
    return isinstance(value, list) and len(value) == dims and all(isinstance(n, int) and n >= 0 for n in value)


def _record_problem(stream: str, record: object, num_snippets: int) -> str | None:
    """What is wrong with one stream record of a meta.json, None when nothing."""
    where = f"meta.json stream {stream!r}"
    if not isinstance(record, dict):
        return f"{where} is {_JSON_TYPES.get(type(record), 'not an object')}, not an object"
    if not _is_file_name(record.get("file")) or not _is_shape(record.get("shape"), 2):
        return f"{where} lacks a valid 'file' or 'shape'"
    if record["shape"][0] != num_snippets:
        return f"{where} has {record['shape'][0]} rows, the grid {num_snippets}"
    if record.get("mask_file") is not None and not _is_file_name(record["mask_file"]):
        return f"{where} has an invalid 'mask_file'"
    extras = record.get("extras", {})
    if not isinstance(extras, dict) or not all(
        isinstance(extra, dict) and _is_file_name(extra.get("file")) and _is_shape(extra.get("shape"), 2)
        for extra in extras.values()
    ):
        return f"{where} has invalid 'extras'"
    if not isinstance(record.get("extractor"), dict):
        return f"{where} lacks its 'extractor' identity"
    return None


def meta_problem(meta: object) -> str | None:
    """None when `meta` (a parsed meta.json) has the shape :meth:`FeatureCache.write_stream`
    writes, else what is wrong, in a few words."""
    if not isinstance(meta, dict):
        return f"meta.json holds {_JSON_TYPES.get(type(meta), 'something else')}, not an object"
    if meta.get("format_version") != FORMAT_VERSION:
        return f"meta.json format_version is {meta.get('format_version')!r}, this code reads {FORMAT_VERSION}"
    for key in ("source", "probe", "grid", "streams"):
        if not isinstance(meta.get(key), dict):
            return f"meta.json lacks the {key!r} object"
    source, probe, grid = meta["source"], meta["probe"], meta["grid"]
    if not (isinstance(source.get("path"), str) and isinstance(source.get("fingerprint"), str)
            and isinstance(source.get("size"), int)):
        return "meta.json 'source' lacks path, size or fingerprint"
    if not _is_number(probe.get("duration_seconds")):
        return "meta.json 'probe' lacks duration_seconds"
    if not (isinstance(grid.get("num_snippets"), int) and grid["num_snippets"] >= 0
            and _is_number(grid.get("snippet_seconds"))):
        return "meta.json 'grid' lacks num_snippets or snippet_seconds"
    for stream, record in meta["streams"].items():
        problem = _record_problem(stream, record, grid["num_snippets"])
        if problem:
            return problem
    return None


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
        """cache.json is there: a file, or anything but a folder in its place (a FIFO: a
        damaged marker, never read (cache/regular_files.py), which `extract` rewrites)."""
        marker = self.root / "cache.json"
        return os.path.lexists(marker) and not marker.is_dir()

    def _marker(self) -> dict | None:
        """cache.json parsed, None when it is not a JSON object (damaged)."""
        try:
            info = parse_json(read_regular_text(self.root / "cache.json"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def _write_marker(self) -> None:
        try:
            atomic_write_json(self.root / "cache.json", {"format": FORMAT_NAME, "version": FORMAT_VERSION})
        except OSError as error:
            raise CacheError(f"{self.root}: cannot create a feature cache there ({error.strerror}); "
                             "pass a folder you can write to --cache") from None

    def check_folder(self) -> None:
        """CacheError (one line naming the folder and the fix) when the folder can neither be
        used as a cache nor made one: a file, a foreign non-empty folder, a cache of another
        format, a new cache that cannot be written. Touches nothing. An existing cache that
        cannot be written passes (reading an up-to-date cache needs no write)."""
        if self.root.exists() and not self.root.is_dir():
            raise CacheError(f"{self.root}: exists and is not a folder; pass a folder (new, "
                             "or a feature cache) to --cache")
        # listed before cache.json is looked for: another run making this cache writes
        # cache.json first, so any of its files listed here means cache.json is there now
        strangers = [p.name for p in self.root.iterdir() if not (p.name == LOCK_NAME or is_temp_file(p))] \
            if self.root.is_dir() else []
        marker = self.root / "cache.json"
        if self.is_cache():
            info = self._marker()
            if info is None and not any((self.root / name).exists() for name in self._CACHE_FILES):
                raise CacheError(f"{marker}: not a feature cache marker (not a JSON object); pass a new --cache folder")
            if info is not None and (info.get("format") != FORMAT_NAME or info.get("version") != FORMAT_VERSION):
                raise CacheError(f"{self.root}: a feature cache of another format ({info}); use a new --cache folder")
            return
        if strangers:
            raise CacheError(
                f"{self.root}: folder exists, is not empty and is not a feature cache; "
                "pass an empty or new folder to --cache"
            )
        problem = folder_write_problem(self.root)
        if problem:
            raise CacheError(f"{self.root}: cannot create a feature cache there: {problem}; "
                             "pass a folder you can write to --cache")

    _CACHE_FILES = ("videos", "config.yaml", "extract_report.json")  # besides cache.json, only a cache has these

    def create(self) -> str | None:
        """Make the folder a cache (idempotent); refuses a folder that is something else
        (:meth:`check_folder`). A cache.json that is not JSON is rewritten when the folder
        is clearly a cache (it holds videos/, config.yaml or extract_report.json); returns a
        note saying so.

        Race-free: several runs may create one new cache at once. The marker is written
        under the cache lock (whose holder removes stray temp files at the root, so a
        write outside it could lose its temp file), and the folder is checked again there,
        where no other run can be half-way through making it."""
        self.check_folder()  # before the lock: a foreign folder gets no .lock file
        try:
            with self.lock():
                self.check_folder()
                marker = self.root / "cache.json"
                if not self.is_cache():
                    self._write_marker()
                elif self._marker() is None:
                    self._write_marker()
                    return f"{marker} was damaged (not a JSON object); rewritten"
        except OSError as error:  # the lock file: making the folder failed
            raise CacheError(f"{self.root}: cannot create a feature cache there ({error.strerror}); "
                             "pass a folder you can write to --cache") from None
        return None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The cache lock (cache/lock.py): held while the files at the cache's root change."""
        with exclusive_lock(self.root / LOCK_NAME):
            yield

    @contextmanager
    def entry_lock(self, video_id: str, wait: bool = True) -> Iterator[bool]:
        """The entry's lock (cache/lock.py); yields False (wait=False) when another process holds it."""
        with exclusive_lock(self.entry_dir(video_id) / LOCK_NAME, wait) as held:
            yield held

    def entry_dir(self, video_id: str) -> Path:
        return self.videos_root / check_video_id(video_id)

    def video_ids(self) -> list[str]:
        """Entries with a meta.json file (valid or not)."""
        if not self.videos_root.is_dir():
            return []
        return sorted(p.parent.relative_to(self.videos_root).as_posix() for p in self.videos_root.rglob(META_NAME))

    def entry_ids(self) -> list[str]:
        """Every entry `extract` has written to: folders holding a meta.json or an array
        (an entry whose meta.json was deleted or never written is one of them)."""
        if not self.videos_root.is_dir():
            return []
        folders = {p.parent for p in self.videos_root.rglob("*")
                   if p.is_file() and (p.name == META_NAME or (p.suffix == ".npy" and not p.name.startswith(".")))}
        return sorted(folder.relative_to(self.videos_root).as_posix() for folder in folders
                      if folder != self.videos_root)

    # -- metadata -----------------------------------------------------------------------
    def read_meta_checked(self, video_id: str) -> tuple[dict | None, str | None]:
        """(the entry's metadata, None), or (None, why not) when it is absent, unreadable,
        not JSON, of another format or of the wrong shape (:func:`meta_problem`)."""
        path = self.entry_dir(video_id) / META_NAME
        try:
            meta = parse_json(read_regular_text(path))
        except FileNotFoundError:
            return None, "meta.json missing"
        except OSError as error:
            return None, f"meta.json unreadable ({error.strerror})"
        except (UnicodeDecodeError, ValueError):
            return None, "meta.json is not valid JSON"
        problem = meta_problem(meta)
        return (None, problem) if problem else (meta, None)

    def read_meta(self, video_id: str) -> dict | None:
        """The entry's metadata, or None when absent, unreadable, of another format or damaged."""
        return self.read_meta_checked(video_id)[0]

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

    def other_source(self, video_id: str, meta: dict, source: dict) -> OtherSourceError | None:
        """The refusal to give when the entry's features come from a different file than
        `source` (cache.fingerprint.source_record): another path and other content. The same
        path with other content is the file changed (its features are redone); other paths
        with the same content are the file moved or copied (its features are reused). An
        entry belongs to the file it was extracted from: in a cache shared by several
        folders, another file whose id is the same would otherwise replace its features, and
        a later train or evaluate would read them as the first file's."""
        if self.source_matches(meta, source) or meta["source"]["path"] == source["path"]:
            return None
        return OtherSourceError(  # no absolute path: localize's summary.csv holds this reason
            f"the cache entry '{video_id}' holds the features of another file, "
            f"{Path(meta['source']['path']).name!r} elsewhere (cache-info shows where); extract this one into "
            f"another --cache or give it another name; if it replaces that file, delete the entry's folder "
            f"(videos/{video_id} in the cache) first"
        )

    def _array_problem(self, entry: Path, file_name: str, shape: list[int]) -> str | None:
        path = entry / file_name
        try:
            check_regular_file(path)  # a FIFO there would block np.load forever
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if list(array.shape) != list(shape) or array.dtype != np.float32:
                return f"{file_name} is {array.dtype}{list(array.shape)}, meta says float32{list(shape)}"
            # one pass, no temporary: a float64 sum of float32 values is finite exactly when they all are
            if not math.isfinite(float(np.sum(array, dtype=np.float64))):
                return f"{file_name} holds NaN or infinite values"
        except OSError as error:
            return f"{file_name} unreadable ({error.strerror or type(error).__name__})"
        except ValueError as error:
            return f"{file_name} unreadable ({type(error).__name__})"
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
        """Files present with recorded shapes and finite values, source unchanged (for `cache-info`)."""
        meta, problem = self.read_meta_checked(video_id)
        if meta is None:
            return EntryCheck(video_id, None, [problem])
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
        """A stream's arrays; CacheError (one line naming the entry and the fix) when the entry
        or the stream is missing or damaged (wrong shape, NaN or infinite values)."""
        meta, meta_trouble = self.read_meta_checked(video_id)
        if meta is None:
            if meta_trouble == "meta.json missing" and not self.entry_dir(video_id).is_dir():
                raise CacheError(f"{self.entry_dir(video_id)}: no cache entry; run `extract` first")
            raise CacheError(f"{self.entry_dir(video_id)}: damaged cache entry ({meta_trouble}); "
                             "rerun `extract` to repair it")
        record = meta["streams"].get(stream)
        if record is None:
            raise CacheError(
                f"{self.entry_dir(video_id)}: stream '{stream}' not cached; run `extract --streams {stream}`"
            )
        problem = self.stream_files_problem(video_id, record)
        if problem:
            raise CacheError(f"{self.entry_dir(video_id)}: damaged cache entry ({problem}); "
                             "rerun `extract` to repair it")
        entry = self.entry_dir(video_id)
        mask = np.load(entry / record["mask_file"]) if record.get("mask_file") else None
        extras = {name: np.load(entry / extra["file"]) for name, extra in record.get("extras", {}).items()}
        return LoadedStream(np.load(entry / record["file"]), mask, extras, record)
