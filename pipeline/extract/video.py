"""One video's unit of work in `extract`, shared by both engines (local and Ray): bring
its cache entry up to date with the source file and write the streams it lacks.

Any failure inside a video becomes a failed outcome with a one-line reason; nothing is
raised, so one bad video costs no other work.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field

from tqdm import tqdm

from cache.fingerprint import source_record
from cache.store import FeatureCache
from extractors.decode import VideoProbe, VideoReadError, probe_video
from extractors.grid import SnippetGrid
from pipeline.config import Config, save_config
from pipeline.extract.discovery import VideoFile
from pipeline.extract.planned import ExtractorSetupError, PlannedExtractor


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


def prepare_entry(video: VideoFile, cache: FeatureCache, config: Config) -> PreparedEntry:
    """Probe the video and bring its cache entry up to date with the source file.

    A stale or absent entry (other content, other grid) loses its meta until its first
    stream is written again; the same content moved or touched gets its source record
    refreshed. Reads the entry from disk, so a second call (the next engine phase, a
    retry after a dead worker) sees what the first one wrote.
    """
    probe = probe_video(video.path)
    source = source_record(video.path)
    grid = SnippetGrid.for_duration(probe.duration_seconds, config.grid)
    meta = cache.read_meta(video.video_id)
    if meta is None or not cache.source_matches(meta, source) or meta["grid"] != grid.to_dict():
        cache.drop_meta(video.video_id)
        meta = cache.new_meta(video.video_id, source, probe.to_dict(), grid.to_dict())
    elif meta["source"] != source:  # same content, moved or touched: refresh the record
        meta["source"] = source
        cache.write_meta(video.video_id, meta)
    cache.remove_strays(video.video_id, meta)
    return PreparedEntry(probe, grid, meta)


def extract_streams(
    video: VideoFile,
    entry: PreparedEntry,
    cache: FeatureCache,
    extractors: dict[str, PlannedExtractor],
    show_progress: bool,
) -> list[str]:
    """Compute and write each stream of `extractors` that the entry lacks or holds stale
    (in the dict's order); returns the streams written."""
    written = []
    grid = entry.grid.to_dict()
    for stream, extractor in extractors.items():
        identity = extractor.identity()
        if cache.check_stream(video.video_id, entry.meta, stream, identity, grid).valid:
            continue
        extractor.ready()  # the network is built on the first video that needs it
        with tqdm(
            total=entry.grid.num_snippets, unit="snippet", leave=False, desc=f"{stream:>6} {video.video_id}",
            disable=not show_progress, file=sys.stderr,
        ) as bar:
            result = extractor.extract(entry.probe, entry.grid, bar.update)
        cache.write_stream(video.video_id, entry.meta, stream, result.features, result.mask, result.extras, identity)
        written.append(stream)
    return written


def failure_reason(error: Exception) -> str:
    """The one-line reason a failed video gets in the summary and extract_report.json."""
    if isinstance(error, VideoReadError):
        return error.reason
    reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".strip()
    return f"{reason} (rerun with --debug for details)"


def extract_video(
    video: VideoFile,
    cache: FeatureCache,
    extractors: dict[str, PlannedExtractor],
    config: Config,
    show_progress: bool,
    debug: bool,
) -> VideoOutcome:
    """One video's unit of work, shared by both engines: bring its entry up to date and
    write the `extractors`' streams it lacks. Any failure becomes a failed outcome with a
    one-line reason (the traceback too with `debug`); nothing is raised."""
    try:
        entry = prepare_entry(video, cache, config)
        written = extract_streams(video, entry, cache, extractors, show_progress)
    except ExtractorSetupError as setup:  # a network that cannot be built fails every video alike: stop
        raise setup.error from None
    except Exception as error:  # one video's problem must not stop the batch
        if debug and not isinstance(error, VideoReadError):
            traceback.print_exc()
        return VideoOutcome(video.video_id, str(video.path), "failed", failure_reason(error))
    status = "extracted" if written else "up to date"
    return VideoOutcome(video.video_id, str(video.path), status, streams_written=written, num_snippets=entry.grid.num_snippets)


def prepare_cache(cache: FeatureCache, config: Config) -> None:
    """Make the folder a cache (or check it is one) and save the resolved config in it."""
    cache.create()
    save_config(config, cache.root / "config.yaml", "extract")


