"""`bench face`: face-stream throughput in x real time on 720p and 360p video with a face,
split into decode, detection and embedding, and the face detectors compared on real faces
and faceless frames (recall, false faces, milliseconds per frame); written to
docs/benchmarks.md.

The test videos (skimage's astronaut photo gliding over a grey background, 25 fps,
H.264) are generated once under `workdir` and reused. Two measurements per video, in
this process: decode alone (ffmpeg delivering the full-resolution frames the face stream
samples), then the whole face stream with the time split as FaceExtractor.last_timings
records it. ResEmoteNet runs with the configured checkpoint when there is one, else with
random weights (same architecture, so the same speed; the notes say which).

The detector comparison uses only pictures that installed packages ship (skimage's
astronaut and LFW subset, matplotlib's Grace Hopper, skimage's photos of things), made
into frames by pipeline/synthetic/faces.py, and ffmpeg's test pattern, so it runs offline.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from extractors.decode import iter_video_frames, probe_video
from extractors.face import FaceConfig, FaceExtractor, deepface_home_for, detect_in_frame
from extractors.face_detectors import build_detector
from extractors.grid import SnippetGrid
from extractors.weights import WeightsError
from pipeline.bench.doc import markdown_table, section_stamp, update_device_section, update_section
from pipeline.bench.extractors import extractor_preferring_checkpoint
from pipeline.config import Config
from pipeline.devices import resolve_device
from pipeline.synthetic.faces import PlacedFace, face_trials, faceless_trials
from pipeline.synthetic.videos import astronaut_video, write_test_pattern_video

BENCH_COMMAND = "python cli.py bench face"
VIDEO_FPS = 25.0
# name -> (frame size (W, H), side of the astronaut photo in pixels; its face is ~1/5 of it)
RESOLUTIONS: dict[str, tuple[tuple[int, int], int]] = {
    "720p": ((1280, 720), 640),
    "360p": ((640, 360), 360),
}
# the face stream's detector before RetinaFace became the default, measured beside it on 720p
REFERENCE_DETECTOR: tuple[str, int] = ("opencv", 640)
# the detectors compared: (face.detector_backend, face.detection_max_side)
DETECTOR_ROWS: tuple[tuple[str, int], ...] = (("retinaface", 960), ("retinaface", 640), ("centerface", 640),
                                              ("opencv", 640))


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
    config: Config, workdir: Path, doc: Path, durations: Sequence[float] = (30.0,), device: str | None = None,
    detector_rows: Sequence[tuple[str, int]] = DETECTOR_ROWS, frames_per_trial: int | None = None,
    reference: tuple[str, int] | None = REFERENCE_DETECTOR,
) -> list[dict]:
    """Measure every resolution x duration (seconds of video) with the configured detector,
    and 720p also with `reference` ((backend, detection_max_side); None: not), print a line
    each, and update the "face-<device>" section of `doc`. `device`: a torch device; None:
    config.extract.device. Then compare the detectors of `detector_rows` (none: no
    comparison) with `run_detector_comparison`."""
    workdir = Path(workdir)
    device = device or resolve_device(config.extract.device)
    extractor, weights = extractor_preferring_checkpoint("face", config.face, config, device)
    runs = [(resolution, extractor) for resolution in RESOLUTIONS]
    if reference is not None:
        settings = dataclasses.replace(config.face, detector_backend=reference[0], detection_max_side=reference[1])
        try:
            runs.insert(1, ("720p", extractor_preferring_checkpoint("face", settings, config, device)[0]))
        except WeightsError as error:
            print(f"face: the reference detector {reference[0]} was not measured ({error})")
    load_before = os.getloadavg()[0]
    rows, results = [], []
    for resolution, face_extractor in runs:
        for duration in durations:
            size, photo_side = RESOLUTIONS[resolution]
            video = astronaut_video(
                workdir / f"face_{resolution}_{duration:g}s.mp4", duration, VIDEO_FPS, size, photo_side,
                config.decode.ffmpeg_binary,
            )
            measured = measure_face_stream(video, config, face_extractor)
            settings = face_extractor.settings
            measured.update(resolution=resolution,
                            detector=f"`{settings.detector_backend}` at {settings.detection_max_side} px")
            results.append(measured)
            rows.append(_throughput_row(measured))
            print(
                f"face {resolution} {measured['detector']} {measured['duration']:.0f} s: "
                f"{_times(measured['duration'], measured['total'])} real time (decode {measured['decode']:.1f} s, "
                f"detection {measured['detection']:.1f} s, embedding {measured['embedding']:.1f} s; "
                f"faces in {measured['faces']}/{measured['frames']} frames)"
            )
    table = markdown_table(
        ["input", "detector", "length", "frames with a face", "decode alone", "face stream", "its CPU time",
         "decode (waiting)", "detection", "embedding"],
        rows,
    )
    notes = _throughput_notes(config, weights, device, reference, load_before)
    update_device_section(doc, "face", "Face stream (face detector + ResEmoteNet)", BENCH_COMMAND, device,
                          table + "\n" + notes)
    if detector_rows:
        run_detector_comparison(config, workdir, doc, detector_rows, frames_per_trial)
    return results


def _throughput_row(measured: dict) -> list[str]:
    d = measured["duration"]
    return [
        measured["resolution"],
        measured["detector"],
        f"{d:.0f} s",
        f"{measured['faces']}/{measured['frames']}",
        _times(d, measured["decode_only"]),
        _times(d, measured["total"]),
        f"{measured['cpu']:.1f} s",
        f"{measured['decode']:.1f} s ({_times(d, measured['decode'])})",
        f"{measured['detection']:.1f} s ({_times(d, measured['detection'])})",
        f"{measured['embedding']:.1f} s ({_times(d, measured['embedding'])})",
    ]


def _throughput_notes(config: Config, weights: str, device: str, reference, load_before: float) -> str:
    face = config.face
    compared = (
        f" On 720p the same video also ran with `{reference[0]}` at {reference[1]} px (the face stream's "
        "detector before RetinaFace became the default), right after the default, so both see the same machine "
        "load."
        if reference is not None else ""
    )
    return (
        f"\nThroughput in x real time (video seconds per wall-clock second; higher is faster). "
        f"Settings: {face.frames_per_snippet} frames per {config.grid.snippet_seconds:g} s snippet, "
        f"frames downscaled to the detector's longest side, align={face.align}, ResEmoteNet batch {face.batch_size} "
        f"({weights}) on {device}, torch threads {torch.get_num_threads()}.{compared}\n"
        "Input: skimage's astronaut photo gliding over a grey background, H.264, 25 fps "
        f"({', '.join(f'{name} {size[0]}x{size[1]}' for name, (size, _) in RESOLUTIONS.items())}).\n"
        "*decode alone*: ffmpeg delivering the sampled full-resolution frames, nothing else. "
        "The three split columns are the face stream's own time: waiting for frames, detection "
        "(downscale, face detector, primary face, crop) and embedding (preprocessing, ResEmoteNet); "
        "each column's rate is the video length over that part's seconds. Embedding runs in a "
        "background thread overlapped with detection, so the parts can add up to more than the total. "
        "*its CPU time*: CPU seconds of this process (both threads; ffmpeg not included).\n"
        f"Load average (1 min) on the machine: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(other work running at the same time slows every figure).\n"
    )


# -- detector comparison on real photos that ship with installed packages ------------------
def measure_detector(
    backend: str, max_side: int, trials: dict[str, list[PlacedFace]], faceless: dict[str, list[np.ndarray]],
    deepface_home: Path,
) -> dict:
    """Faces found per trial, frames with a false face, and milliseconds per 720p frame
    (wall and process CPU, medians) for one detector at one detection size."""
    detector = build_detector(backend, deepface_home)
    found, false_beside, wall, cpu = {}, 0, [], []
    for name, placed in trials.items():
        found[name] = 0
        for face in placed:
            started, cpu_started = time.perf_counter(), time.process_time()
            boxes = detect_in_frame(detector, face.frame, max_side, 0.0)
            if face.frame.shape[:2] == (720, 1280):
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
            hits = [face.found_by(box) for box in boxes]
            found[name] += any(hits)
            false_beside += len(hits) > sum(hits)
    false_alone = {
        name: sum(bool(detect_in_frame(detector, frame, max_side, 0.0)) for frame in frames)
        for name, frames in faceless.items()
    }
    return {"found": found, "false_beside_faces": false_beside, "false_alone": false_alone,
            "wall_ms": 1000 * float(np.median(wall)), "cpu_ms": 1000 * float(np.median(cpu))}


def run_detector_comparison(
    config: Config, workdir: Path, doc: Path, rows: Sequence[tuple[str, int]] = DETECTOR_ROWS,
    frames_per_trial: int | None = None,
) -> list[dict]:
    """Every detector of `rows` ((backend, detection_max_side)) on the same real-face and
    faceless frames (the first `frames_per_trial` of each trial; None: all); prints a line
    each and writes the "face-detectors" section of `doc`."""
    pattern = Path(workdir) / "pattern_720p_20frames.mp4"
    if not pattern.exists():
        write_test_pattern_video(pattern, 20.0, fps=1.0, size=(1280, 720), tone_hz=None,
                                 ffmpeg_binary=config.decode.ffmpeg_binary)
    trials, faceless = face_trials(), faceless_trials(pattern)
    if frames_per_trial is not None:
        trials = {name: frames[:frames_per_trial] for name, frames in trials.items()}
        faceless = {name: frames[:frames_per_trial] for name, frames in faceless.items()}
    results, table_rows = [], []
    for backend, max_side in rows:
        default = (backend, max_side) == (FaceConfig().detector_backend, FaceConfig().detection_max_side)
        label = f"`{backend}` at {max_side} px" + (" (default)" if default else "")
        try:
            measured = measure_detector(backend, max_side, trials, faceless, deepface_home_for(config.face))
        except WeightsError as error:
            print(f"{label}: not measured ({error})")
            table_rows.append([label, *["-"] * (len(trials) + 3), f"not installed: {error}"])
            continue
        results.append({"backend": backend, "max_side": max_side, **measured})
        table_rows.append(_detector_row(label, measured, trials))
        print(f"{label}: {table_rows[-1][1:]}")
    headers = ["detector", *trials, "false faces beside a real face", "frames with a 'face' in: "
               + " / ".join(faceless), "ms per 720p frame (wall / CPU)"]
    body = "\n".join([section_stamp(BENCH_COMMAND), markdown_table(headers, table_rows), _comparison_notes(faceless)])
    update_section(doc, "face-detectors", "Face detectors compared (real faces, faceless frames)", body)
    return results


def _detector_row(label: str, measured: dict, trials: dict[str, list[PlacedFace]]) -> list[str]:
    found = [f"{measured['found'][name]}/{len(placed)}" for name, placed in trials.items()]
    false_alone = " / ".join(str(count) for count in measured["false_alone"].values())
    timing = f"{measured['wall_ms']:.0f} / {measured['cpu_ms']:.0f}"
    return [label, *found, str(measured["false_beside_faces"]), false_alone, timing]


def _comparison_notes(faceless: dict[str, list[np.ndarray]]) -> str:
    sizes = ", ".join(f"{name}: {len(frames)}" for name, frames in faceless.items())
    return (
        "\nEach cell of a face column: frames whose face was found (a box centred within 0.6 face sizes of it, "
        "0.4-2.5 times its width) over frames. Frames are downscaled to the detection size first (longest side), "
        "as the face stream does. Real faces: skimage's astronaut photo and matplotlib's Grace Hopper photo, "
        "scaled, moved, rotated about the face and pasted on grey (seeded); LFW: skimage's `lfw_subset` "
        "(25 x 25 crops that end at the eyebrows and chin, so the detectors see less context than in a video). "
        f"Faceless frames ({sizes}): frames where any box was found. ms per frame: medians over the 60 "
        "720p frames, wall clock and CPU of the process (the detector's own threads included); other work on the "
        f"machine slows both (load average {os.getloadavg()[0]:.1f} at the end).\n"
    )
