"""`bench scaling`: the Ray engine's throughput per model worker with 1 and 2 workers, and
its fixed costs, written as JSON (--out) for the scaling note in docs/benchmarks.md.

Inputs, generated once under WORKDIR/scaling/: 6 copies of a 320x240 test-pattern video
with a tone (10 s by default, --durations; 30 s takes over 10 minutes on 2 cores), and 10
copies of a one-snippet video (0.64 s).

Measured, each run with a fresh cache and its own Ray instance started on this machine
(`run_extract` with extract.engine=ray, streams audio + visual at their defaults unless
--set says otherwise):
- **throughput**: for N = 1, 2 model workers (1 CPU and 1 torch thread each; Ray gets
  N + 1 CPUs, the extra one for the audio tasks), video seconds per wall-clock second of
  the scheduling phase (Ray started and workers loaded), and that divided by N (per
  worker); beside it the local engine on the same videos (torch on every core).
- **fixed costs**: starting Ray; loading the extractors in a model worker (inside the
  actor, and from creating the actors until all answered: process start and imports
  included); and per video, the Ray engine's time per one-snippet video (two phases,
  each probing the file and reading its cache entry, plus scheduling) against the same
  per-video work done in this process with the same extractors and 1 torch thread, per
  phase (the Ray figure is the steady interval between videos done, the first one left
  out: it also waits for the first task worker to start and import; the phases of
  consecutive videos overlap there, so the overhead is that interval minus the slower
  phase).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cache.atomic import atomic_write_json
from cache.identity import ExtractorIdentity
from cache.store import FeatureCache
from extractors.grid import SnippetGrid
from pipeline.bench.doc import git_revision, machine_description
from pipeline.config import Config, with_overrides
from pipeline.extract.discovery import discover_videos
from pipeline.extract.planned import make_extractors
from pipeline.extract.stage import run_extract
from pipeline.extract.video import extract_video, prepare_cache
from pipeline.synthetic.videos import write_test_pattern_video

BENCH_COMMAND = "python cli.py bench scaling"
VIDEO_SIZE = (320, 240)
TINY_VIDEOS = 10
STREAMS = ("audio", "visual")


def copies(source: Path, folder: Path, count: int, stem: str) -> Path:
    """`count` copies of `source` named STEM_i.mp4 in `folder` (made once)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        target = folder / f"{stem}_{index}.mp4"
        if not target.exists():
            shutil.copyfile(source, target)
    return folder


def prepare_inputs(config: Config, workdir: Path, video_seconds: float, videos: int) -> tuple[Path, Path]:
    """(folder of `videos` long videos, folder of the one-snippet videos)."""
    root = workdir / "scaling"
    long_video = root / f"pattern_{VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}_{video_seconds:g}s.mp4"
    tiny_video = root / "one_snippet.mp4"
    for path, seconds in ((long_video, video_seconds), (tiny_video, config.grid.snippet_seconds)):
        if not path.exists():
            print(f"generating {path} ...", file=sys.stderr)
            write_test_pattern_video(path, seconds, fps=25.0, size=VIDEO_SIZE,
                                     ffmpeg_binary=config.decode.ffmpeg_binary)
    long_folder = copies(long_video, root / f"videos_{videos}x{video_seconds:g}s", videos, "video")
    # Tiny videos at a fixed count; a folder per count keeps discovery to exactly these.
    tiny_folder = copies(tiny_video, root / f"tiny_{TINY_VIDEOS}", TINY_VIDEOS, "tiny")
    return long_folder, tiny_folder


def ray_config(config: Config, workers: int) -> Config:
    return with_overrides(config, {"extract": {
        "engine": "ray", "ray_address": "", "ray_model_actors": workers, "ray_cpus_per_model_actor": 1.0,
        "ray_num_cpus": workers + 1, "streams": list(STREAMS),
    }})


def timed_extract(videos: Path, cache: Path, config: Config) -> tuple[float, dict, int]:
    """(wall seconds, engine details, videos extracted) of one run into a fresh cache."""
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    summary = run_extract(videos, cache, config, allow_random_weights=True, show_progress=False)
    wall = time.perf_counter() - started
    if summary.failures:
        raise RuntimeError(f"bench scaling: {summary.failures[0].source}: {summary.failures[0].reason}")
    return wall, summary.engine_details, sum(o.status == "extracted" for o in summary.outcomes)


def total_video_seconds(folder: Path, config: Config) -> float:
    from extractors.decode import probe_video

    return sum(probe_video(v.path).duration_seconds for v in discover_videos(folder, config.extract.video_extensions))


def measure_ray(videos: Path, cache: Path, config: Config, workers: int, video_seconds: float) -> dict:
    wall, details, extracted = timed_extract(videos, cache, ray_config(config, workers))
    work = details["work_seconds"]
    return {
        "workers": workers,
        "videos": extracted,
        "video_seconds": video_seconds,
        "wall_seconds": wall,
        "ray_start_seconds": details["ray_start_seconds"],
        "actors_ready_seconds": details["actors_ready_seconds"],
        "model_load_seconds_in_actor": [actor["load_seconds"] for actor in details["model_actors"]],
        "work_seconds": work,
        "x_real_time": video_seconds / work,
        "x_real_time_per_worker": video_seconds / work / workers,
        "finished_at_seconds": details["finished_at_seconds"],
    }


def in_process_seconds_per_video(videos: Path, cache: Path, config: Config) -> tuple[dict[str, float], str]:
    """Per video and phase (audio, then visual), the work in this process with the
    extractors already loaded and 1 torch thread, as a task and one model worker run it;
    and the visual weights used ("random" or their sha256)."""
    settings = with_overrides(config, {"extract": {"streams": list(STREAMS), "engine": "local"}})
    settings = replace(settings, visual=replace(settings.visual, torch_threads=1))
    extractors = make_extractors(settings, "cpu", allow_random_weights=True, log=lambda message: None)
    found = discover_videos(videos, settings.extract.video_extensions)
    shutil.rmtree(cache, ignore_errors=True)
    feature_cache = FeatureCache(cache)
    prepare_cache(feature_cache, settings)
    extract_video(found[0], feature_cache, extractors, settings, False, False)  # warm-up (first forward, imports)
    shutil.rmtree(cache / "videos", ignore_errors=True)
    seconds = dict.fromkeys(STREAMS, 0.0)
    for video in found:
        for stream in STREAMS:
            started = time.perf_counter()
            outcome = extract_video(video, feature_cache, {stream: extractors[stream]}, settings, False, False)
            seconds[stream] += time.perf_counter() - started
            assert outcome.status == "extracted", outcome.reason
    visual = ExtractorIdentity(extractors["visual"].identity())
    return {stream: total / len(found) for stream, total in seconds.items()}, (
        "random" if visual.is_random else str(visual.weights.get("sha256", ""))
    )


def run_scaling_bench(
    config: Config, workdir: Path, out: Path, video_seconds: float = 10.0, videos: int = 6,
    workers: Sequence[int] = (1, 2),
) -> dict:
    """Measure (see the module docstring), print a summary, write JSON to `out`; returns it."""
    workdir, out = Path(workdir), Path(out)
    load_before = os.getloadavg()[0]
    long_folder, tiny_folder = prepare_inputs(config, workdir, video_seconds, videos)
    cache = workdir / "scaling" / "cache"
    seconds = total_video_seconds(long_folder, config)

    local_config = with_overrides(config, {"extract": {"engine": "local", "streams": list(STREAMS)}})
    local_wall, _, _ = timed_extract(long_folder, cache, local_config)
    throughput = [measure_ray(long_folder, cache, config, n, seconds) for n in workers]
    for row in throughput:
        print(f"ray, {row['workers']} model worker(s): {row['x_real_time']:.2f}x real time "
              f"({row['x_real_time_per_worker']:.2f}x per worker); Ray start {row['ray_start_seconds']:.1f} s, "
              f"workers ready {row['actors_ready_seconds']:.1f} s")

    tiny = measure_ray(tiny_folder, cache, config, 1, total_video_seconds(tiny_folder, config))
    # Steady state: the interval between videos done, leaving out the first (it waits for
    # the first task worker to start and import, and for the first forward pass).
    done = tiny["finished_at_seconds"]
    ray_per_video = (done[-1] - done[0]) / (len(done) - 1)
    phase_seconds, visual_weights = in_process_seconds_per_video(tiny_folder, cache, config)
    # The two phases overlap in Ray (the next video's audio task runs beside this one's
    # visual call), so a video costs the slower phase plus the engine's own overhead.
    slower_phase = max(phase_seconds.values())
    result = {
        "command": BENCH_COMMAND,
        "machine": machine_description(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "code": git_revision(),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "streams": list(STREAMS),
        "settings": {"visual": {"short_side": config.visual.short_side, "crop_size": config.visual.crop_size,
                                "layer": config.visual.layer, "precision": config.visual.precision,
                                "weights": visual_weights},
                     "grid_snippet_seconds": config.grid.snippet_seconds},
        "inputs": {"videos": videos, "video_seconds_each": video_seconds, "size": list(VIDEO_SIZE),
                   "total_video_seconds": seconds},
        "local_engine": {"wall_seconds": local_wall, "x_real_time_including_model_load": seconds / local_wall},
        "ray_throughput": throughput,
        "fixed_costs": {
            "ray_start_seconds": [row["ray_start_seconds"] for row in [*throughput, tiny]],
            "model_load_seconds_in_actor": [
                s for row in [*throughput, tiny] for s in row["model_load_seconds_in_actor"]
            ],
            "actors_ready_seconds": [row["actors_ready_seconds"] for row in [*throughput, tiny]],
            "one_snippet_videos": TINY_VIDEOS,
            "ray_seconds_per_one_snippet_video": ray_per_video,
            "ray_seconds_until_first_one_snippet_video": done[0],
            "in_process_seconds_per_one_snippet_video_by_phase": phase_seconds,
            "ray_overhead_seconds_per_video": ray_per_video - slower_phase,
        },
        "snippets_per_long_video": SnippetGrid.for_duration(video_seconds, config.grid).num_snippets,
    }
    atomic_write_json(out, result)
    costs = result["fixed_costs"]
    print(f"local engine: {seconds / local_wall:.2f}x real time (model load included)")
    print(f"per one-snippet video: ray {ray_per_video:.2f} s; in-process audio {phase_seconds['audio']:.2f} s, "
          f"visual {phase_seconds['visual']:.2f} s -> overhead {costs['ray_overhead_seconds_per_video']:.2f} s")
    print(json.dumps(result, indent=2))
    print(f"written to {out}")
    return result
