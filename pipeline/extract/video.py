"""One video's unit of work in `extract`, shared by both engines (local and Ray): bring
its cache entry up to date with the source file and write the streams it lacks.

Any failure inside a video becomes a failed outcome with a one-line reason; nothing is
raised, so one bad video costs no other work (only a cache that cannot be written stops
the run: every video would fail alike). A video's entry is worked on under its lock
(cache/lock.py), so several `extract` runs may share one cache.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from cache.atomic import is_temp_file
from cache.fingerprint import source_record
from cache.lock import is_permission_error
from cache.regular_files import read_regular_text
from cache.store import META_NAME, CacheError, FeatureCache, OtherSourceError
from extractors.decode import VideoProbe, VideoReadError, probe_video
from extractors.grid import SnippetGrid
from pipeline.config import Config, config_to_yaml, save_config
from pipeline.console import printable, to_stderr
from pipeline.extract.discovery import VideoFile
from pipeline.extract.planned import ExtractorSetupError, PlannedExtractor

RUN_REPORTS = "reports"  # CACHE_DIR/reports/: one report per extract run (pipeline/extract/stage.py)


@dataclass
class VideoOutcome:
    video_id: str
    source: str
    status: str  # "extracted" | "up to date" | "failed"
    reason: str = ""
    streams_written: list[str] = field(default_factory=list)
    num_snippets: int | None = None
    retries: int = 0  # times it was started again after the Ray worker holding it died (always 0 locally)


@dataclass
class PreparedEntry:
    """A video's cache entry ready for its streams: probed, on its grid, its meta reconciled
    with the source file (as on disk, or new and not yet written), stray files removed."""

    probe: VideoProbe
    grid: SnippetGrid
    meta: dict


def prepare_entry(video: VideoFile, cache: FeatureCache, config: Config,
                  probe: VideoProbe | None = None) -> PreparedEntry:
    """Probe the video (unless `probe` is given) and bring its cache entry up to date with
    the source file; the caller holds the entry's lock.

    A stale, absent or damaged entry (other content, other grid, a meta.json that is not
    one) loses its meta until its first stream is written again; the same content moved or
    touched gets its source record refreshed (where the cache can be written). An entry
    extracted from a different file (another path and other content) is left alone:
    OtherSourceError (FeatureCache.other_source). Reads the entry from disk, so a second
    call (the next engine phase, a retry after a dead worker, another `extract` on the same
    cache) sees what the first one wrote.
    """
    probe = probe or probe_video(video.path)
    source = source_record(video.path)
    grid = SnippetGrid.for_duration(probe.duration_seconds, config.grid)
    meta = cache.read_meta(video.video_id)
    conflict = cache.other_source(video.video_id, meta, source) if meta is not None else None
    if conflict is not None:
        raise conflict
    if meta is None or not cache.source_matches(meta, source) or meta["grid"] != grid.to_dict():
        if (cache.entry_dir(video.video_id) / META_NAME).exists():
            cache.drop_meta(video.video_id)
        meta = cache.new_meta(video.video_id, source, probe.to_dict(), grid.to_dict())
    elif meta["source"] != source:  # same content, moved or touched: refresh the record
        meta["source"] = source
        _unless_read_only(lambda: cache.write_meta(video.video_id, meta))
    _unless_read_only(lambda: cache.remove_strays(video.video_id, meta))
    return PreparedEntry(probe, grid, meta)


def _unless_read_only(write) -> None:
    """Run a write the entry does not need to be valid; skipped where the cache is read-only."""
    try:
        write()
    except OSError as error:
        if not is_permission_error(error):
            raise


def stale_streams(video: VideoFile, entry: PreparedEntry, cache: FeatureCache,
                  extractors: dict[str, PlannedExtractor]) -> list[str]:
    """The streams of `extractors` (in the dict's order) that the entry lacks or holds stale."""
    grid = entry.grid.to_dict()
    return [stream for stream, extractor in extractors.items()
            if not cache.check_stream(video.video_id, entry.meta, stream, extractor.identity(), grid).valid]


def extract_streams(
    video: VideoFile,
    entry: PreparedEntry,
    cache: FeatureCache,
    extractors: dict[str, PlannedExtractor],
    show_progress: bool,
    written: list[str],
) -> None:
    """Compute and write each stream of `extractors` that the entry lacks or holds stale
    (in the dict's order); each stream is appended to `written` once it is in the cache."""
    for stream in stale_streams(video, entry, cache, extractors):
        extractor = extractors[stream]
        extractor.ready()  # the network is built on the first video that needs it
        with tqdm(
            total=entry.grid.num_snippets, unit="snippet", leave=False, desc=f"{stream:>6} {printable(video.video_id)}",
            disable=not show_progress, file=sys.stderr,
        ) as bar:
            result = extractor.extract(entry.probe, entry.grid, bar.update)
        cache.write_stream(video.video_id, entry.meta, stream, result.features, result.mask, result.extras,
                           extractor.identity())
        written.append(stream)


def failure_reason(error: Exception) -> str:
    """The one-line reason a failed video gets in the summary and extract_report.json."""
    if isinstance(error, VideoReadError):
        return error.reason
    if isinstance(error, OtherSourceError):
        return str(error)
    reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".strip()
    return f"{reason} (rerun with --debug for details)"


def cache_not_writable(cache: FeatureCache, error: OSError) -> CacheError:
    """The run-stopping error for a cache that cannot be written (every video would fail alike)."""
    return CacheError(f"{cache.root}: cannot write to the feature cache ({error.strerror}); "
                      "make it writable or pass another --cache folder")


def failed_outcome(video: VideoFile, cache: FeatureCache, error: Exception, debug: bool, written: list[str],
                   entry: PreparedEntry | None) -> VideoOutcome:
    """The failed outcome of `error`, raised while working on `video` (after `written` were
    written); raises instead what would fail every video alike: a network that cannot be
    built (its user-facing error) and a cache that cannot be written (CacheError)."""
    if isinstance(error, ExtractorSetupError):
        raise error.error from None
    if is_permission_error(error) and cache.root.resolve() in Path(error.filename or "/").resolve().parents:
        raise cache_not_writable(cache, error) from error
    if debug and not isinstance(error, VideoReadError):
        traceback.print_exception(error)
    return VideoOutcome(video.video_id, str(video.path), "failed", failure_reason(error), streams_written=written,
                        num_snippets=entry.grid.num_snippets if entry is not None else None)


def extract_video(
    video: VideoFile,
    cache: FeatureCache,
    extractors: dict[str, PlannedExtractor],
    config: Config,
    show_progress: bool,
    debug: bool,
    wait: bool = True,
) -> VideoOutcome | None:
    """One video's unit of work, shared by both engines: bring its entry up to date and
    write the `extractors`' streams it lacks, holding the entry's lock (another `extract`
    on the same cache waits for it, or, with wait=False, this returns None at once and
    leaves the video to be done later).

    Any failure becomes a failed outcome with a one-line reason (the traceback too with
    `debug`), listing the streams written before it; only a cache that cannot be written
    raises (CacheError: every video would fail alike)."""
    written: list[str] = []
    entry = None
    try:
        probe = probe_video(video.path)
        with cache.entry_lock(video.video_id, wait) as held:
            if not held:
                return None
            entry = prepare_entry(video, cache, config, probe)
            extract_streams(video, entry, cache, extractors, show_progress, written)
    except Exception as error:  # one video's problem must not stop the batch
        return failed_outcome(video, cache, error, debug, written, entry)
    status = "extracted" if written else "up to date"
    return VideoOutcome(video.video_id, str(video.path), status, streams_written=written,
                        num_snippets=entry.grid.num_snippets)


def prepare_cache(cache: FeatureCache, config: Config, log=to_stderr) -> None:
    """Make the folder a cache (or check it is one; CacheError when it cannot be one), and
    save the resolved config in it when it changed. Under the cache lock, temp files at
    the cache's root (left by a killed run) are removed. A cache that cannot be written
    (read-only, a full disk) is used as it is, with a warning naming the file: an
    up-to-date cache needs no write."""
    note = cache.create()
    if note:
        log(f"warning: {printable(note)}")
    path = cache.root / "config.yaml"
    try:
        with cache.lock():
            for folder in (cache.root, cache.root / RUN_REPORTS):  # written under this lock only
                for temp in [p for p in folder.glob(".*") if is_temp_file(p)]:
                    temp.unlink(missing_ok=True)
            try:
                saved = read_regular_text(path).split("\n", 1)[-1]
            except (OSError, UnicodeDecodeError):
                saved = None
            if saved != config_to_yaml(config):
                save_config(config, path, "extract")
    except OSError as error:  # read-only, or a full disk: the videos say what they need
        log(f"warning: {printable(error.filename or cache.root)} cannot be written "
            f"({error.strerror or type(error).__name__}): "
            "config.yaml and the extract reports stay as they are; videos whose features are up to date are reported "
            "as such")


