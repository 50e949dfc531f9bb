"""The `extract` stage: a folder of videos -> the feature cache, resumable, per-video failures kept.

Everything that can stop the whole run (unknown or unimplemented streams, duplicate ids,
missing weights, a bad cache folder) is checked before the first video is touched. After
that each video is its own unit of work: a failure is caught, given a one-line reason,
listed at the end and in CACHE_DIR/extract_report.json, and the next video goes on.
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
from extractors.decode import VideoReadError, probe_video
from extractors.grid import SnippetGrid
from extractors.registry import EXTRACTORS
from extractors.weights import WeightsError
from pipeline.config import Config, save_config
from pipeline.console import to_stderr
from pipeline.devices import resolve_device
from pipeline.discovery import VideoFile, discover_videos

REPORT_NAME = "extract_report.json"


@dataclass
class VideoOutcome:
    video_id: str
    source: str
    status: str  # "extracted" | "up to date" | "failed"
    reason: str = ""
    streams_written: list[str] = field(default_factory=list)
    num_snippets: int | None = None


@dataclass
class ExtractSummary:
    outcomes: list[VideoOutcome]
    report_path: Path

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


def _extract_video(
    video: VideoFile,
    cache: FeatureCache,
    extractors: dict[str, StreamExtractor],
    config: Config,
    show_progress: bool,
) -> VideoOutcome:
    probe = probe_video(video.path)
    source = source_record(video.path)
    grid = SnippetGrid.for_duration(probe.duration_seconds, config.grid)
    outcome = VideoOutcome(video.video_id, str(video.path), "up to date", num_snippets=grid.num_snippets)
    meta = cache.read_meta(video.video_id)
    if meta is None or not cache.source_matches(meta, source) or meta["grid"] != grid.to_dict():
        # Stale or absent: the entry disappears until its first stream is written again.
        cache.drop_meta(video.video_id)
        meta = cache.new_meta(video.video_id, source, probe.to_dict(), grid.to_dict())
    elif meta["source"] != source:  # same content, moved or touched: refresh the record
        meta["source"] = source
        cache.write_meta(video.video_id, meta)
    cache.remove_strays(video.video_id, meta)

    for stream, extractor in extractors.items():
        identity = extractor.identity()
        if cache.check_stream(video.video_id, meta, stream, identity, grid.to_dict()).valid:
            continue
        with tqdm(
            total=grid.num_snippets, unit="snippet", leave=False, desc=f"{stream:>6} {video.video_id}",
            disable=not show_progress, file=sys.stderr,
        ) as bar:
            result = extractor.extract(probe, grid, bar.update)
        cache.write_stream(video.video_id, meta, stream, result.features, result.mask, result.extras, identity)
        outcome.streams_written.append(stream)
    if outcome.streams_written:
        outcome.status = "extracted"
    return outcome


def run_extract(
    videos_dir: Path,
    cache_dir: Path,
    config: Config,
    allow_random_weights: bool = False,
    debug: bool = False,
    show_progress: bool = True,
) -> ExtractSummary:
    cache = FeatureCache(cache_dir)
    videos = discover_videos(Path(videos_dir), config.extract.video_extensions, skip=[Path(cache_dir)])
    device = resolve_device(config.extract.device)
    extractors = make_extractors(config, device, allow_random_weights)
    cache.create()
    save_config(config, cache.root / "config.yaml", "extract")

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    outcomes: list[VideoOutcome] = []
    for video in tqdm(videos, unit="video", desc="extract", disable=not show_progress, file=sys.stderr):
        try:
            outcomes.append(_extract_video(video, cache, extractors, config, show_progress))
        except VideoReadError as error:
            outcomes.append(VideoOutcome(video.video_id, str(video.path), "failed", error.reason))
        except Exception as error:  # one video's bug must not stop the batch
            if debug:
                traceback.print_exc()
            reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".strip()
            outcomes.append(
                VideoOutcome(video.video_id, str(video.path), "failed", f"{reason} (rerun with --debug for details)")
            )
    report_path = cache.root / "extract_report.json"
    atomic_write_json(
        report_path,
        {
            "started": started,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "videos_dir": str(Path(videos_dir).resolve()),
            "streams": list(config.extract.streams),
            "device": device,
            "counts": {
                status: sum(o.status == status for o in outcomes)
                for status in ("extracted", "up to date", "failed")
            },
            "videos": [asdict(o) for o in outcomes],
        },
    )
    return ExtractSummary(outcomes, report_path)
