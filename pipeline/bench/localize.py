"""`bench localize`: the time to localize a long video whose features are cached, on CPU.

Setup (once, under WORKDIR/localize/): a test-pattern video of the given length; a
feature cache holding, for it, all three streams at their real widths (visual 2048,
audio 160, face 1024 with presence and emotion extras) under this machine's extractor
identities (random values: the speed does not depend on them); and a checkpoint in the
real format for the default FSENet (d_model 512, every stream, random weights) whose
feature spec names the same identities, so `localize` finds everything cached and loads
no extractor.

Measured:
- **in-process**: `run_localize` as the command calls it (model load, cache check, reading
  the features, forward, post-processing, writing every output incl. the PNG and the
  HTML report): the first call in the process (cold: lazy imports, first forward), the
  median of the following calls, the same with torch limited to 1 thread; plus the
  parts, timed one by one.
- **end to end**: `python cli.py localize ...` in a new process (interpreter start and
  imports included), median of a few runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from cache.fingerprint import source_record
from cache.identity import ExtractorIdentity
from cache.store import FeatureCache
from extractors.decode import probe_video
from extractors.grid import SnippetGrid
from model import FSENet
from pipeline.bench.doc import markdown_table, section_stamp, update_section
from pipeline.config import Config, config_to_dict, with_overrides
from pipeline.config.infer import InferConfig
from pipeline.data.cached import samples_from_cache
from pipeline.data.feature_spec import FeatureSpec
from pipeline.devices import autocast_dtype
from pipeline.extract.planned import make_extractors
from pipeline.infer.checkpoint import load_trained_model, save_checkpoint
from pipeline.infer.predict import predict_scores, segments_from_scores
from pipeline.localize.html_report import report_html
from pipeline.localize.outputs import write_video_outputs
from pipeline.localize.stage import run_localize
from pipeline.localize.timeline_plot import timeline_png
from pipeline.localize.video import LocalizedVideo, shown_segments
from pipeline.synthetic.videos import write_test_pattern_video

ROOT = Path(__file__).resolve().parents[2]
CLASS_NAMES = ("negative", "positive")
VIDEO_ID = "long video"


def prepare_cached_video(config: Config, folder: Path, duration_seconds: float) -> tuple[Path, Path, Path, str]:
    """(video, cache dir, checkpoint, weights note) for a video of `duration_seconds`, every
    stream cached with this machine's extractor identities; reused when present."""
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / f"{VIDEO_ID}.mp4"
    if not video.exists():
        write_test_pattern_video(video, duration_seconds, fps=25, size=(320, 240),
                                 ffmpeg_binary=config.decode.ffmpeg_binary)
    cache_dir, checkpoint = folder / "cache", folder / "model.pt"
    config = with_overrides(config, {"extract": {"streams": ["audio", "visual", "face"]}, "model": {"num_classes": 2}})
    extractors = make_extractors(config, "cpu", allow_random_weights=True, log=lambda message: None)
    # As the cache stores them (JSON: lists, not tuples), as a trained checkpoint records them.
    identities = json.loads(json.dumps({stream: extractor.identity() for stream, extractor in extractors.items()}))
    widths = {stream: extractor.output_dim for stream, extractor in extractors.items()}
    typed = {stream: ExtractorIdentity(identity) for stream, identity in identities.items()}
    weights_note = ", ".join(
        f"{stream}: {'random' if identity.is_random else 'checkpoint'}"
        for stream, identity in typed.items() if identity.weights is not None
    )
    del extractors
    probe = probe_video(video)
    grid = SnippetGrid.for_duration(probe.duration_seconds, config.grid)
    cache = FeatureCache(cache_dir)
    cache.create()
    meta = cache.read_meta(VIDEO_ID)
    if meta is None or any(
        not cache.check_stream(VIDEO_ID, meta, s, identities[s], grid.to_dict()).valid for s in identities
    ):
        rng = np.random.default_rng(0)
        meta = cache.new_meta(VIDEO_ID, source_record(video), probe.to_dict(), grid.to_dict())
        count = grid.num_snippets
        presence = (rng.random(count) > 0.3).astype(np.float32)
        for stream in ("audio", "visual", "face"):
            features = rng.standard_normal((count, widths[stream])).astype(np.float32)
            mask = presence if stream == "face" else (np.ones(count, np.float32) if stream == "audio" else None)
            extras = {"emotion": rng.dirichlet(np.ones(7), count).astype(np.float32)} if stream == "face" else {}
            if stream == "face":
                features *= presence[:, None]
            cache.write_stream(VIDEO_ID, meta, stream, features, mask, extras, identities[stream])
    torch.manual_seed(0)
    model = FSENet(config.model, {stream: widths[stream] for stream in config.model.streams})
    grid_record = {k: v for k, v in grid.to_dict().items() if k != "num_snippets"}
    save_checkpoint(checkpoint, {
        "model_state": model.state_dict(),
        "stream_dims": {stream: widths[stream] for stream in config.model.streams},
        "feature_spec": FeatureSpec("cache", str(cache_dir), widths, grid.snippet_seconds, grid_record,
                                    typed).to_dict(),
        "class_names": list(CLASS_NAMES),
        "config": config_to_dict(config),
        "epoch": 0,
    })
    return video, cache_dir, checkpoint, weights_note


def _parts(checkpoint: Path, cache_dir: Path, video: Path, out: Path, repeats: int,
           infer: InferConfig) -> dict[str, float]:
    """Median seconds of each part of localizing one cached video, timed one by one."""
    times: dict[str, list[float]] = {}

    @contextmanager
    def timed(name: str):
        started = time.perf_counter()
        yield
        times.setdefault(name, []).append(time.perf_counter() - started)

    for _ in range(repeats):
        with timed("load the checkpoint"):
            trained = load_trained_model(checkpoint, "cpu", infer=infer)
        with timed("read the cached features"):
            samples, _ = samples_from_cache(cache_dir, [VIDEO_ID], trained.streams, len(CLASS_NAMES))
        with timed("model forward"):
            scores = predict_scores(trained.model, samples, [VIDEO_ID], "cpu", trained.config.postprocess, 1,
                                    autocast_dtype(trained.config.infer.amp_dtype, "cpu", "infer.amp_dtype"))
        with timed("post-processing"):
            results = segments_from_scores(scores, samples, trained.config.postprocess, trained.class_names)
        sample = samples[VIDEO_ID]
        localized = LocalizedVideo(
            VIDEO_ID, video, sample.duration_seconds, sample.snippet_seconds, scores[VIDEO_ID].snippet_scores,
            sample.face_mask,
            results[VIDEO_ID], shown_segments(results[VIDEO_ID], sample.snippet_seconds), out / VIDEO_ID,
        )
        with timed("timeline PNG (render only)"):
            timeline_png(localized, CLASS_NAMES, random_weights=True)
        with timed("HTML report (render only)"):
            report_html(localized, CLASS_NAMES, header={"random_weights": True}, files={})
        with timed("every per-video file rendered and written"):
            write_video_outputs(localized, CLASS_NAMES, {"random_weights": True})
    return {name: statistics.median(values) for name, values in times.items()}


def _localize_repeatedly(video: Path, checkpoint: Path, out: Path, config: Config, cache_dir: Path,
                         repeats: int) -> tuple[list[float], object]:
    """Seconds of `repeats` in-process `run_localize` calls, and the last summary."""
    seconds, summary = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        summary = run_localize(video, checkpoint, out, config, cache_dir=cache_dir, device="cpu",
                               allow_random_weights=True, show_progress=False, log=lambda message: None)
        seconds.append(time.perf_counter() - started)
    return seconds, summary


def _end_to_end(video: Path, checkpoint: Path, cache_dir: Path, out: Path, runs: int) -> tuple[list[float], float]:
    """Seconds of `runs` runs of the command in new processes, and of Python start + imports alone."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "localize", str(video), "--model", str(checkpoint), "--out",
             str(out), "--cache", str(cache_dir), "--device", "cpu", "--no-progress", "--random-weights"],
            capture_output=True, text=True, cwd=ROOT,
        )
        seconds.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"bench localize: the command failed: {result.stderr.strip().splitlines()[-1:]}")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, matplotlib, pipeline.localize.stage"], cwd=ROOT, check=True)
    return seconds, time.perf_counter() - started


def _doc_body(command: str, config: Config, figures: dict, localized, repeats: int, threads: int, weights_note: str,
              loads: tuple[float, float]) -> str:
    rows = [
        ["`run_localize`, first call in the process (cold)", f"{figures['in_process_cold']:.2f} s"],
        [f"`run_localize`, median of {repeats} more calls (warm), {threads} torch threads",
         f"**{figures['in_process_warm']:.2f} s**"],
        [f"`run_localize`, warm, torch limited to 1 thread (median of {repeats})",
         f"{figures['in_process_warm_one_thread']:.2f} s"],
        [f"`python cli.py localize ...`, a new process, median of {figures['end_to_end_runs']}",
         f"{figures['end_to_end']:.2f} s"],
        ["  of which: Python start + importing torch, matplotlib, the pipeline",
         f"{figures['python_start_and_imports']:.2f} s"],
    ]
    part_rows = [[name, f"{seconds * 1000:.0f} ms"] for name, seconds in figures["parts"].items()]
    return "\n".join([
        section_stamp(command),
        markdown_table(["what", "wall time"], rows),
        "",
        f"Input: a {localized.duration_seconds / 60:.1f}-minute video ({figures['snippets']} snippets of "
        f"{localized.snippet_seconds:.2f} s) whose audio, visual and face features are already in the cache; the "
        f"default FSENet (d_model {config.model.d_model}, all three streams, random weights in the real checkpoint "
        f"format) on CPU with {threads} torch threads. The post-processing kept "
        f"{figures['segments']} segments ({figures['shown']} shown). Extractor identities: {weights_note}; nothing "
        "is extracted (with extraction, the extraction figures above apply).",
        "The warm call covers everything `localize` does for the video: loading the checkpoint, checking the "
        "cache, reading the features, the forward pass, post-processing and writing segments.json/.csv, the "
        "SRT and WebVTT files, timeline.csv, timeline.png, report.html, results.json and summary.csv.",
        "",
        "Parts (median of the warm runs, timed one by one):",
        "",
        markdown_table(["part", "time"], part_rows),
        "",
        f"Load average (1 min) on the machine: {loads[0]:.1f} before, {loads[1]:.1f} after (other work running "
        "at the same time slows every figure). On a busy 2-core machine the forward pass is much slower with 2 torch "
        "threads than with 1 (OpenMP threads wait for each other on shared cores); the 1-thread row shows it.",
    ])


def run_localize_bench(
    config: Config,
    workdir: Path,
    doc: Path,
    duration_seconds: float = 300.0,
    repeats: int = 5,
    command: str = "python cli.py bench localize",
) -> dict:
    """Measure and write the `localize` section of `doc`; returns the figures (seconds).

    config: this machine's config (runtime settings; the default model is benchmarked).
    workdir: where the video, cache and checkpoint are made (reused).
    duration_seconds: length of the benchmarked video. repeats: warm in-process runs and
    part timings (the end-to-end command runs max(3, repeats // 2) times).
    """
    folder = Path(workdir) / "localize"
    video, cache_dir, checkpoint, weights_note = prepare_cached_video(config, folder, duration_seconds)
    load_before = _load_average()
    in_process, summary = _localize_repeatedly(video, checkpoint, folder / "out", config, cache_dir, repeats + 1)
    if summary is None or not summary.videos or summary.extracted:
        raise RuntimeError("bench localize: the video was not localized from the cache as expected")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy machine, 2 OpenMP threads on 2 shared cores wait for each other
    try:
        one_thread, _ = _localize_repeatedly(video, checkpoint, folder / "out", config, cache_dir, repeats)
    finally:
        torch.set_num_threads(threads)
    localized = summary.videos[0]
    parts = _parts(checkpoint, cache_dir, video, folder / "parts", repeats, config.infer)
    end_to_end, imports = _end_to_end(video, checkpoint, cache_dir, folder / "out_cli", max(3, repeats // 2))
    figures = {
        "video_seconds": localized.duration_seconds, "snippets": int(localized.scores.shape[0]),
        "segments": len(localized.segments), "shown": len(localized.shown),
        "in_process_cold": in_process[0], "in_process_warm": statistics.median(in_process[1:]),
        "in_process_warm_one_thread": statistics.median(one_thread),
        "end_to_end": statistics.median(end_to_end), "end_to_end_runs": len(end_to_end),
        "python_start_and_imports": imports, "parts": parts,
    }
    body = _doc_body(command, config, figures, localized, repeats, threads, weights_note,
                     (load_before, _load_average()))
    minutes = f"{localized.duration_seconds / 60:g}"
    update_section(doc, "localize", f"Localize a cached {minutes}-minute video (`bench localize`)", body)
    return figures


def _load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
