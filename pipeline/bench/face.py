"""`bench face`: face-stream throughput in x real time on 720p and 360p video with a face,
split into decode, detection and embedding; written to docs/benchmarks.md.

The test videos (skimage's astronaut photo gliding over a grey background, 25 fps,
H.264) are generated once under `workdir` and reused. Two measurements per video, in
this process: decode alone (ffmpeg delivering the full-resolution frames the face stream
samples), then the whole face stream with the time split as FaceExtractor.last_timings
records it. ResEmoteNet runs with the configured checkpoint when there is one, else with
random weights (same architecture, so the same speed; the notes say which).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from extractors.decode import iter_video_frames, probe_video
from extractors.face import FaceExtractor
from extractors.grid import SnippetGrid
from pipeline.bench.doc import markdown_table, update_device_section
from pipeline.bench.extractors import extractor_preferring_checkpoint
from pipeline.config import Config
from pipeline.devices import resolve_device
from pipeline.synthetic.videos import astronaut_video

BENCH_COMMAND = "python cli.py bench face"
VIDEO_FPS = 25.0
# name -> (frame size (W, H), side of the astronaut photo in pixels; its face is ~1/5 of it)
RESOLUTIONS: dict[str, tuple[tuple[int, int], int]] = {
    "720p": ((1280, 720), 640),
    "360p": ((640, 360), 360),
}


def measure_face_stream(video: Path, config: Config, extractor: FaceExtractor) -> dict:
    """Seconds for decode alone and for the whole face stream (split), for one video."""
    probe = probe_video(video)
    grid = SnippetGrid.for_duration(probe.duration_seconds, config.grid)
    per_snippet = config.face.frames_per_snippet
    start = time.perf_counter()
    frames = 0
    for chunk in iter_video_frames(
        probe, config.decode, per_snippet / grid.snippet_seconds, grid.num_snippets * per_snippet
    ):
        frames += len(chunk)
    decode_only = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    result = extractor.extract(probe, grid, lambda finished: None)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    timings = extractor.last_timings
    return {
        "duration": probe.duration_seconds,
        "frames": timings.frames,
        "faces": timings.faces,
        "presence": float(result.mask.mean()),
        "decode_only": decode_only,
        "total": total,
        "cpu": cpu,
        "decode": timings.decode,
        "detection": timings.detection,
        "embedding": timings.embedding,
    }


def _times(duration: float, seconds: float) -> str:
    return f"{duration / seconds:.1f}x" if seconds > 0 else "-"


def run_face_bench(
    config: Config, workdir: Path, doc: Path, durations: Sequence[float] = (30.0,), device: str | None = None
) -> list[dict]:
    """Measure every resolution x duration (seconds of video), print a line each, and update
    the "face-<device>" section of `doc`. `device`: a torch device; None: config.extract.device."""
    workdir = Path(workdir)
    device = device or resolve_device(config.extract.device)
    extractor, weights = extractor_preferring_checkpoint("face", config.face, config, device)
    load_before = os.getloadavg()[0]
    rows, results = [], []
    for resolution in RESOLUTIONS:
        for duration in durations:
            size, photo_side = RESOLUTIONS[resolution]
            video = astronaut_video(
                workdir / f"face_{resolution}_{duration:g}s.mp4", duration, VIDEO_FPS, size, photo_side,
                config.decode.ffmpeg_binary,
            )
            measured = measure_face_stream(video, config, extractor)
            measured["resolution"] = resolution
            results.append(measured)
            d = measured["duration"]
            rows.append([
                resolution,
                f"{d:.0f} s",
                f"{measured['faces']}/{measured['frames']}",
                _times(d, measured["decode_only"]),
                _times(d, measured["total"]),
                f"{measured['cpu']:.1f} s",
                f"{measured['decode']:.1f} s ({_times(d, measured['decode'])})",
                f"{measured['detection']:.1f} s ({_times(d, measured['detection'])})",
                f"{measured['embedding']:.1f} s ({_times(d, measured['embedding'])})",
            ])
            print(
                f"face {resolution} {d:.0f} s: {_times(d, measured['total'])} real time "
                f"(decode {measured['decode']:.1f} s, detection {measured['detection']:.1f} s, "
                f"embedding {measured['embedding']:.1f} s; faces in {measured['faces']}/{measured['frames']} frames)"
            )
    load_after = os.getloadavg()[0]
    face = config.face
    table = markdown_table(
        ["input", "length", "frames with a face", "decode alone", "face stream", "its CPU time", "decode (waiting)", "detection", "embedding"],
        rows,
    )
    notes = (
        f"\nThroughput in x real time (video seconds per wall-clock second; higher is faster). "
        f"Settings: {face.frames_per_snippet} frames per {config.grid.snippet_seconds:g} s snippet, "
        f"detector `{face.detector_backend}` on frames downscaled to a longest side of "
        f"{face.detection_max_side or 'full size'} px, align={face.align}, ResEmoteNet batch {face.batch_size} "
        f"({weights}) on {device}, torch threads {torch.get_num_threads()}.\n"
        "Input: skimage's astronaut photo gliding over a grey background, H.264, 25 fps "
        f"({', '.join(f'{name} {size[0]}x{size[1]}' for name, (size, _) in RESOLUTIONS.items())}).\n"
        "*decode alone*: ffmpeg delivering the sampled full-resolution frames, nothing else. "
        "The three split columns are the face stream's own time: waiting for frames, detection "
        "(downscale, DeepFace, primary face, crop) and embedding (preprocessing, ResEmoteNet); "
        "each column's rate is the video length over that part's seconds. Embedding runs in a "
        "background thread overlapped with detection, so the parts can add up to more than the total. "
        "*its CPU time*: CPU seconds of this process (both threads; ffmpeg not included).\n"
        f"Load average (1 min) on the machine: {load_before:.1f} before, {load_after:.1f} after "
        "(other work running at the same time slows every figure).\n"
    )
    update_device_section(doc, "face", "Face stream (DeepFace + ResEmoteNet)", BENCH_COMMAND, device, table + "\n" + notes)
    return results

