"""The `extract` stage: a folder of videos -> the feature cache, resumable, per-video failures kept.

Everything that can stop the whole run (unknown or unimplemented streams, duplicate ids,
missing weights, a bad cache folder) is checked before the first video is touched. After
that each video is its own unit of work (`extract_video`): a failure is caught, given a
one-line reason, listed at the end and in the reports, and the next video goes on. Two
engines run these units: "local" (this process, one video after the other) and "ray"
(pipeline/extract/ray_engine.py: Ray tasks and actors, on this machine or a cluster); both
share every line that touches a video or the cache.

Several runs may share one cache: each video's entry is worked on under its lock (the
local engine first does the videos no other run holds, then waits for the rest, which
it then finds up to date). Each run writes its own report,
CACHE_DIR/reports/extract-<started>-<pid>.json (the newest 20 kept), and merges its
outcomes into CACHE_DIR/extract_report.json under the cache lock: there every video has
its latest outcome, naming the run that gave it, and "runs" lists the runs merged.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from cache.atomic import atomic_write_json
from cache.json_text import parse_json
from cache.regular_files import read_regular_text
from cache.store import FeatureCache
from pipeline.config import Config, ConfigError
from pipeline.console import printable, shell_path, to_stderr
from pipeline.devices import resolve_device
from pipeline.extract.concurrent import extract_concurrently, resolve_workers
from pipeline.extract.discovery import VideoFile, discover_videos
from pipeline.extract.planned import PlannedExtractor, make_extractors
from pipeline.extract.video import RUN_REPORTS, VideoOutcome, extract_video, prepare_cache

REPORT_NAME = "extract_report.json"
KEEP_RUN_REPORTS = 20
STATUSES: tuple[str, ...] = ("extracted", "up to date", "failed")


@dataclass
class ExtractSummary:
    outcomes: list[VideoOutcome]
    report_path: Path | None  # this run's report; None when the cache could not be written
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
        f"{len(summary.outcomes)} video(s): {counts['extracted']} extracted, "
        f"{counts['up to date']} already up to date, "
        f"{counts['failed']} failed"
    ]
    if summary.failures:
        lines.append("failed:")
        lines += [f"  {shell_path(outcome.source)}: {printable(outcome.reason)}" for outcome in summary.failures]
    if summary.report_path is None:
        lines.append("report: not written (the cache cannot be written; see the warning above)")
    else:
        lines.append(f"report: {shell_path(summary.report_path)} (every video's latest outcome: "
                     f"{shell_path(summary.report_path.parent.parent / REPORT_NAME)})")
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


def _run_report(videos_dir: Path, config: Config, device: str, started: str, summary: ExtractSummary) -> dict:
    return {
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "videos_dir": str(Path(videos_dir).resolve()),
        "streams": list(config.extract.streams),
        "engine": config.extract.engine,
        "device": device,
        "pid": os.getpid(),
        "counts": summary.counts(),
        "videos": [asdict(o) for o in summary.outcomes],
    }


def merged_report(previous: object, run: dict, run_name: str) -> dict:
    """extract_report.json after this run: `previous` (its parsed content, or anything
    unreadable) with this run's outcome replacing each of its videos' earlier one, and
    this run added to "runs" (the newest KEEP_RUN_REPORTS kept)."""
    previous = previous if isinstance(previous, dict) else {}
    old_videos = previous.get("videos") if isinstance(previous.get("videos"), list) else []
    videos = {v["video_id"]: v for v in old_videos if isinstance(v, dict) and isinstance(v.get("video_id"), str)}
    for outcome in run["videos"]:
        videos[outcome["video_id"]] = {**outcome, "run": run_name, "finished": run["finished"]}
    runs = previous.get("runs") if isinstance(previous.get("runs"), list) else []
    runs = [*runs, {"report": run_name, **{k: v for k, v in run.items() if k != "videos"}}][-KEEP_RUN_REPORTS:]
    merged = [videos[video_id] for video_id in sorted(videos)]
    counts = {status: sum(v.get("status") == status for v in merged) for status in STATUSES}
    return {"updated": run["finished"], "counts": counts, "videos": merged, "runs": runs}


def _write_reports(cache: FeatureCache, run: dict, started_at: float, log=to_stderr) -> Path | None:
    """This run's report in CACHE_DIR/reports/, merged into CACHE_DIR/extract_report.json,
    under the cache lock; None (and a warning naming the file) where they cannot be written
    (a read-only cache, a full disk)."""
    name = f"{RUN_REPORTS}/extract-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started_at))}-{os.getpid()}.json"
    try:
        with cache.lock():
            atomic_write_json(cache.root / name, run)
            try:
                previous = parse_json(read_regular_text(cache.root / REPORT_NAME))
            except (OSError, ValueError):
                previous = None
            atomic_write_json(cache.root / REPORT_NAME, merged_report(previous, run, name))
            for old in sorted((cache.root / RUN_REPORTS).glob("extract-*.json"))[:-KEEP_RUN_REPORTS]:
                old.unlink(missing_ok=True)
    except OSError as error:
        log(f"warning: the extract report was not written ({error.strerror or type(error).__name__}: "
            f"{printable(error.filename or cache.root)})")
        return None
    return cache.root / name


def _extract_locally(videos: list[VideoFile], cache: FeatureCache, extractors: dict[str, PlannedExtractor],
                     config: Config, show_progress: bool, debug: bool) -> list[VideoOutcome]:
    """The local engine: each video in turn; one whose entry another run holds now is left
    for after the others, then waited for. Outcomes in the order of `videos`."""
    outcomes: dict[int, VideoOutcome] = {}
    with tqdm(total=len(videos), unit="video", desc="extract", disable=not show_progress, file=sys.stderr) as bar:
        busy = []
        for index, video in enumerate(videos):
            outcome = extract_video(video, cache, extractors, config, show_progress, debug, wait=False)
            if outcome is None:
                busy.append(index)
                continue
            outcomes[index] = outcome
            bar.update(1)
        for index in busy:
            outcomes[index] = extract_video(videos[index], cache, extractors, config, show_progress, debug)
            bar.update(1)
    return [outcomes[index] for index in range(len(videos))]


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
    The local engine takes one video at a time, or with `config.extract.workers` > 1 (0:
    one per core) several at once (pipeline/extract/concurrent.py), with the same results.
    """
    cache = FeatureCache(cache_dir)
    if videos is None:
        videos = discover_videos(Path(videos_dir), config.extract.video_extensions, skip=[Path(cache_dir)])
    videos = list(videos)
    cache.check_folder()  # a file, a foreign folder, a new cache that cannot be written: before any model loads
    started_at = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started_at))
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
        if resolve_workers(config.extract.workers) > 1:
            outcomes = extract_concurrently(videos, cache, extractors, config, show_progress, debug)
        else:
            outcomes = _extract_locally(videos, cache, extractors, config, show_progress, debug)
        device = _device_used(config, extractors)
    summary = ExtractSummary(outcomes, None, engine_details)
    summary.report_path = _write_reports(cache, _run_report(videos_dir, config, device, started, summary), started_at)
    return summary
