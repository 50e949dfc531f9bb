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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from cache.atomic import atomic_write_json
from cache.store import FeatureCache
from pipeline.config import Config, ConfigError
from pipeline.console import shell_path, to_stderr
from pipeline.devices import resolve_device
from pipeline.extract.discovery import VideoFile, discover_videos
from pipeline.extract.planned import PlannedExtractor, make_extractors
from pipeline.extract.video import VideoOutcome, extract_video, prepare_cache

REPORT_NAME = "extract_report.json"
STATUSES: tuple[str, ...] = ("extracted", "up to date", "failed")


@dataclass
class ExtractSummary:
    outcomes: list[VideoOutcome]
    report_path: Path
    engine_details: dict = field(default_factory=dict)  # Ray engine: cluster, workers, timings (seconds)

    @property
    def failures(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def counts(self) -> dict[str, int]:
        return {status: sum(o.status == status for o in self.outcomes) for status in STATUSES}


def format_extract_summary(summary: ExtractSummary) -> str:
    """What `extract` prints at the end: counts, the failures with their reasons, the report."""
    counts = summary.counts()
    lines = [
        f"{len(summary.outcomes)} video(s): {counts['extracted']} extracted, {counts['up to date']} already up to date, "
        f"{counts['failed']} failed"
    ]
    if summary.failures:
        lines.append("failed:")
        lines += [f"  {shell_path(outcome.source)}: {outcome.reason}" for outcome in summary.failures]
    lines.append(f"report: {shell_path(summary.report_path)}")
    return "\n".join(lines)


def _extract_on_ray(videos: list[VideoFile], cache: FeatureCache, config: Config, allow_random_weights: bool,
                    debug: bool, show_progress: bool, log=to_stderr):
    try:
        from pipeline.extract.ray_engine import extract_on_ray
    except ModuleNotFoundError as error:
        if error.name != "ray":
            raise
        raise ConfigError(
            "extract.engine=ray needs the ray package, which is not installed: run `.venv/bin/pip install ray` "
            "(or bash scripts/install.sh), or use --engine local"
        ) from None
    return extract_on_ray(videos, cache, config, allow_random_weights, debug, show_progress, log)


def _write_report(cache: FeatureCache, videos_dir: Path, config: Config, device: str, started: str,
                  summary: ExtractSummary) -> None:
    atomic_write_json(
        summary.report_path,
        {
            "started": started,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "videos_dir": str(Path(videos_dir).resolve()),
            "streams": list(config.extract.streams),
            "engine": config.extract.engine,
            "device": device,
            "counts": summary.counts(),
            "videos": [asdict(o) for o in summary.outcomes],
        },
    )


def _device_used(config: Config, extractors: dict[str, PlannedExtractor]) -> str:
    """The device the networks ran on; the configured choice when none ran (nothing to do)."""
    resolved = {e.device.resolved for e in extractors.values() if e.device is not None and e.device.resolved}
    return ", ".join(sorted(resolved)) or config.extract.device


def run_extract(
    videos_dir: Path,
    cache_dir: Path,
    config: Config,
    allow_random_weights: bool = False,
    debug: bool = False,
    show_progress: bool = True,
    extractors: dict[str, PlannedExtractor] | None = None,
    videos: Sequence[VideoFile] | None = None,
    log=to_stderr,
) -> ExtractSummary:
    """Extract `config.extract.streams` of every video under `videos_dir` into the cache at
    `cache_dir`, on the engine `config.extract.engine` names: "local" (this process, one
    video at a time) or "ray" (pipeline/extract/ray_engine.py). Both do the same checks
    before any work, run the same per-video code (`extract_video`) and write the same report.

    `extractors`: already planned for `config` (pipeline/extract/planned.py; the local
    engine uses them instead of planning again; the Ray engine's workers build their own).
    Networks are built on the first video that needs them, on `config.extract.device`
    (resolved then; an explicit cpu or cuda is checked now). `videos`: the videos of
    `videos_dir`, when the caller has already found them. `log`: notes and warnings.
    """
    cache = FeatureCache(cache_dir)
    if videos is None:
        videos = discover_videos(Path(videos_dir), config.extract.video_extensions, skip=[Path(cache_dir)])
    videos = list(videos)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    engine_details: dict = {}
    if config.extract.engine == "ray":
        run = _extract_on_ray(videos, cache, config, allow_random_weights, debug, show_progress, log)
        outcomes, device, engine_details = run.outcomes, run.device, run.details()
    else:
        if config.extract.device != "auto":
            resolve_device(config.extract.device)  # a GPU asked for and missing stops the run now
        if extractors is None:
            extractors = make_extractors(config, config.extract.device, allow_random_weights, log)
        prepare_cache(cache, config)
        outcomes = [
            extract_video(video, cache, extractors, config, show_progress, debug)
            for video in tqdm(videos, unit="video", desc="extract", disable=not show_progress, file=sys.stderr)
        ]
        device = _device_used(config, extractors)
    summary = ExtractSummary(outcomes, cache.root / REPORT_NAME, engine_details)
    _write_report(cache, videos_dir, config, device, started, summary)
    return summary
