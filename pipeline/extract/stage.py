"""The `extract` stage: a folder of videos -> the feature cache, resumable, per-video failures kept.

Everything that can stop the whole run (unknown or unimplemented streams, duplicate ids,
missing weights, a bad cache folder) is checked before the first video is touched. After
that each video is its own unit of work (`extract_video`): a failure is caught, given a
one-line reason, listed at the end and in CACHE_DIR/extract_report.json, and the next
video goes on. Two engines run these units: "local" (this process, one video after the
other) and "ray" (pipeline/extract/ray_engine.py: Ray tasks and actors, on this machine or a
cluster); both share every line that touches a video or the cache.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from cache.atomic import atomic_write_json
from cache.fingerprint import source_record
from cache.store import FeatureCache
from extractors.base import StreamExtractor
from extractors.decode import VideoProbe, VideoReadError, probe_video
from extractors.grid import SnippetGrid
from extractors.registry import EXTRACTORS
from extractors.weights import WeightsError
from pipeline.config import Config, ConfigError, save_config
from pipeline.console import to_stderr
from pipeline.devices import resolve_device
from pipeline.extract.discovery import VideoFile, discover_videos

REPORT_NAME = "extract_report.json"


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
class ExtractSummary:
    outcomes: list[VideoOutcome]
    report_path: Path
    engine_details: dict = field(default_factory=dict)  # Ray engine: cluster, workers, timings (seconds)

    @property
    def failures(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def make_extractors(
    config: Config, device: str, allow_random_weights: bool, log=to_stderr
) -> dict[str, StreamExtractor]:
    """One extractor per requested stream (weights loaded now, so a missing file stops early)."""
    extractors = {}
    for stream in config.extract.streams:
        extractor = EXTRACTORS[stream](getattr(config, stream), config.decode, device, allow_random_weights)
        weights = extractor.weights_identity()
        if weights and weights.get("random"):
            log(f"warning: the {stream} stream runs with RANDOM weights (--random-weights); its features carry no "
                "learned meaning, and the cache records this")
        extractors[stream] = extractor
    return extractors


def extractor_preferring_checkpoint(stream: str, settings, config: Config, device: str) -> tuple[StreamExtractor, str]:
    """The stream's extractor with its checkpoint when one is found, else with random
    weights (for benchmarks, where speed does not depend on the values). A configured
    weights_path that does not load is an error, not a fallback."""
    extractor_class = EXTRACTORS[stream]
    try:
        return extractor_class(settings, config.decode, device, allow_random_weights=False), "checkpoint"
    except WeightsError:
        if settings.weights_path:
            raise
        return extractor_class(settings, config.decode, device, allow_random_weights=True), "random weights"


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
    extractors: dict[str, StreamExtractor],
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
    extractors: dict[str, StreamExtractor],
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


def run_extract(
    videos_dir: Path,
    cache_dir: Path,
    config: Config,
    allow_random_weights: bool = False,
    debug: bool = False,
    show_progress: bool = True,
    extractors: dict[str, StreamExtractor] | None = None,
) -> ExtractSummary:
    """Extract `config.extract.streams` of every video under `videos_dir` into the cache at
    `cache_dir`, on the engine `config.extract.engine` names: "local" (this process, one
    video at a time) or "ray" (pipeline/extract/ray_engine.py). Both do the same checks before any
    work, run the same per-video code (`extract_video`) and write the same report.
    `extractors`: already built for `config` on its device (the local engine uses them
    instead of loading the models again; the Ray engine's workers build their own)."""
    cache = FeatureCache(cache_dir)
    videos = discover_videos(Path(videos_dir), config.extract.video_extensions, skip=[Path(cache_dir)])
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    engine_details: dict = {}
    if config.extract.engine == "ray":
        try:
            from pipeline.extract.ray_engine import extract_on_ray
        except ModuleNotFoundError as error:
            if error.name != "ray":
                raise
            raise ConfigError(
                "extract.engine=ray needs the ray package, which is not installed: run `.venv/bin/pip install ray` "
                "(or bash scripts/install.sh), or use --engine local"
            ) from None
        run = extract_on_ray(videos, cache, config, allow_random_weights, debug, show_progress)
        outcomes, device, engine_details = run.outcomes, run.device, run.details()
    else:
        device = resolve_device(config.extract.device)
        if extractors is None:
            extractors = make_extractors(config, device, allow_random_weights)
        prepare_cache(cache, config)
        outcomes = [
            extract_video(video, cache, extractors, config, show_progress, debug)
            for video in tqdm(videos, unit="video", desc="extract", disable=not show_progress, file=sys.stderr)
        ]
    report_path = cache.root / REPORT_NAME
    atomic_write_json(
        report_path,
        {
            "started": started,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "videos_dir": str(Path(videos_dir).resolve()),
            "streams": list(config.extract.streams),
            "engine": config.extract.engine,
            "device": device,
            "counts": {
                status: sum(o.status == status for o in outcomes)
                for status in ("extracted", "up to date", "failed")
            },
            "videos": [asdict(o) for o in outcomes],
        },
    )
    return ExtractSummary(outcomes, report_path, engine_details)
