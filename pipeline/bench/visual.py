"""`bench visual`: I3D visual-stream throughput in x real time beside decode-only throughput
on the same 720p and 360p videos, measured in one run; written to docs/benchmarks.md.

The test videos (skimage's astronaut photo gliding over a grey background, 30 fps,
H.264) are generated once under `workdir` and reused. Per video, in this process:
decode alone (ffmpeg delivering exactly the frames the visual stream reads: resampled to
visual.sampling_fps, scaled to visual.short_side, read and dropped), then the whole
visual stream (decoder thread + network), with the peak growth of this process's
resident memory while it runs; and the network alone on uint8 clips already in memory,
measured beside each video (so each row shares the machine's load of its moment). I3D
runs with the checkpoint when one is found, else with random weights (same
architecture, so the same speed; the notes say which).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from extractors.visual import VisualConfig, VisualExtractor
from extractors.weights import I3D_CHECKPOINT, WeightsError, resolve_weights
from pipeline.bench.doc import markdown_table, update_device_section
from pipeline.bench.visual_candidates import CANDIDATES, TOLERANCE, candidates_table, run_candidates
from pipeline.bench.visual_measure import measure_decode, measure_network, measure_visual_stream
from pipeline.config import Config
from pipeline.devices import resolve_device
from pipeline.synthetic.i3d_checkpoint import write_random_i3d_checkpoint
from pipeline.synthetic.videos import astronaut_video

BENCH_COMMAND = "python cli.py bench visual"
VIDEO_FPS = 30.0
# name -> (frame size (W, H), side of the astronaut photo in pixels)
RESOLUTIONS: dict[str, tuple[tuple[int, int], int]] = {
    "720p": ((1280, 720), 640),
    "360p": ((640, 360), 320),
}


def _times(duration: float, seconds: float) -> str:
    return f"{duration / seconds:.2f}x" if seconds > 0 else "-"


def _measure_one(video: Path, config: Config, settings: VisualConfig, extractor: VisualExtractor,
                 resolution: str, precision: str) -> tuple[dict, list[str]]:
    """One video's figures and its table row (and a printed line)."""
    decode_seconds = measure_decode(video, config, settings)
    network_rate = config.grid.snippet_seconds / measure_network(extractor)  # video seconds per second
    measured = measure_visual_stream(video, config, extractor)
    d = measured["duration"]
    measured.update(resolution=resolution, precision=extractor.precision, requested=precision, decode=decode_seconds,
                    network_rate=network_rate)
    ratio = decode_seconds / measured["total"]
    row = [
        resolution, f"{d:.0f} s ({measured['snippets']} clips)",
        f"{precision} -> {VisualExtractor.compute_precision(settings, extractor.device)}",
        _times(d, decode_seconds), f"{network_rate:.2f}x", f"**{_times(d, measured['total'])}**", f"{ratio:.2f}",
        f"{measured['cpu']:.1f} s", f"{measured['rss_growth']:.0f} MiB",
    ]
    print(
        f"visual {resolution} {d:.0f} s {extractor.precision}: {_times(d, measured['total'])} real time; "
        f"decode alone {_times(d, decode_seconds)}, network alone {network_rate:.2f}x, stream / decode = {ratio:.2f}"
    )
    return measured, row


def _notes(config: Config, device: str, weights: str, loads: tuple[float, float]) -> str:
    import torch

    visual = config.visual
    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else ""
    batch = visual.batch_clips or ("32" if device.startswith("cuda") else "8")
    return (
        "\nThroughput in x real time (video seconds per wall-clock second; higher is faster); "
        "*stream / decode* is the visual stream's throughput over decode-only throughput on the same video "
        "(1.0: as fast as decoding alone allows).\n"
        f"Settings: I3D R50 ({weights}), {visual.frames_per_clip} frames {visual.frame_spacing} apart at "
        f"{visual.sampling_fps:g} fps per {config.grid.snippet_seconds:g} s snippet, short side {visual.short_side}, "
        f"centre crop {visual.crop_size}, layer {visual.layer}, batch {batch} clips, on {device}"
        f"{f' ({gpu})' if gpu else ''}, torch threads {torch.get_num_threads()}, "
        f"channels-last {visual.channels_last} (torch), runtime {visual.runtime}. *auto* precision is the default "
        "setting: bf16 where the hardware runs it natively (CUDA; CPUs with AVX512-BF16/AMX), else fp16 on CUDA, "
        "else fp32; runtime *auto* is OpenVINO on the CPU where it is installed, else torch.\n"
        f"Input: skimage's astronaut photo gliding over a grey background, H.264, {VIDEO_FPS:g} fps "
        f"({', '.join(f'{name} {size[0]}x{size[1]}' for name, (size, _) in RESOLUTIONS.items())}).\n"
        "*decode alone*: ffmpeg delivering every frame the visual stream reads (resampled to "
        f"{visual.sampling_fps:g} fps, short side {visual.short_side}), read and dropped. *network alone*: "
        "the network on uint8 clips already in memory (normalization included), as video seconds per second. "
        "*visual stream*: decoder thread and network together, as `extract` runs them. *its CPU time*: CPU "
        "seconds of this process (ffmpeg not included). *peak RSS growth*: this process's resident memory "
        "during the stream over its level before (sampled every 50 ms).\n"
        f"Load average (1 min) on the machine: {loads[0]:.1f} before, {loads[1]:.1f} after "
        "(other work running at the same time slows every figure).\n"
    )


def bench_weights(config: Config, workdir: Path) -> tuple[Config, str]:
    """The config to bench with and the words for its weights: the checkpoint when one is
    found, else a checkpoint of random values shaped like trained ones, written once under
    `workdir` (pytorchvideo's own random init leaves the residual branches dead, which
    would flatter the cosine of the candidates; the speed is the same)."""
    visual = config.visual
    try:
        resolve_weights(I3D_CHECKPOINT, visual.weights_path, allow_random=False, download=False)
        return config, "checkpoint"
    except WeightsError:
        if visual.weights_path:
            raise
    path = workdir / "random_i3d" / I3D_CHECKPOINT.file_name
    if not path.is_file():
        write_random_i3d_checkpoint(path, seed=visual.random_seed)
    return replace(config, visual=replace(visual, weights_path=str(path))), "random weights shaped like trained ones"


def _default_rows(config: Config, workdir: Path, durations: Sequence[float], device: str,
                  precisions: Sequence[str]) -> tuple[list[dict], list[list[str]]]:
    """The default settings (and `precisions`) on each resolution and duration."""
    rows, results = [], []
    for precision in precisions:
        settings = replace(config.visual, precision=precision)
        extractor = VisualExtractor(settings, config.decode, device)
        for resolution, (size, photo_side) in RESOLUTIONS.items():
            for duration in durations:
                if precision != precisions[0] and (resolution != "720p" or duration != min(durations)):
                    continue
                video = astronaut_video(
                    workdir / f"visual_{resolution}_{duration:g}s.mp4", duration, VIDEO_FPS, size, photo_side,
                    config.decode.ffmpeg_binary,
                )
                measured, row = _measure_one(video, config, settings, extractor, resolution, precision)
                results.append(measured)
                rows.append(row)
        del extractor
    return results, rows


def _candidates_section(config: Config, workdir: Path, device: str, seconds: float) -> str:
    """The candidates (pipeline/bench/visual_candidates.py) on a 720p video of `seconds`."""
    size, photo_side = RESOLUTIONS["720p"]
    video = astronaut_video(workdir / f"visual_720p_{seconds:g}s.mp4", seconds, VIDEO_FPS, size, photo_side,
                            config.decode.ffmpeg_binary)
    results = run_candidates(config, config.visual, video, device)
    return (
        f"\n### Candidates, side by side (720p, {seconds:g} s)\n\n"
        + candidates_table(results, (config.visual.crop_size, config.visual.short_side))
        + "\n\n*network alone*, *visual stream*: as above. *decode, then network*: decode alone and network alone "
        "added up, what the stream would take without its decoder thread. *cosine min*: the least per-snippet "
        f"cosine between the row's features and the first row's on the same frames and weights; {TOLERANCE} or "
        "more keeps the cache identity (the runtime and precision are runtime fields); a crop of 224 is another "
        "setting (and a short side of 224 too), so the identity changes and the cosine only shows how far the "
        "features move. Rows are measured "
        "one after the other in this one run.\n"
    )


def run_visual_bench(
    config: Config,
    workdir: Path,
    doc: Path,
    durations: Sequence[float] = (30.0,),
    device: str | None = None,
    precisions: Sequence[str] = ("auto", "fp32"),
    candidate_seconds: float = 15.0,
) -> list[dict]:
    """Measure every precision x resolution x duration (seconds of video) at the default
    settings, then (on the CPU; 0 `candidate_seconds` skips them) the candidates side by
    side on a 720p video of `candidate_seconds`; print a line each, and update the
    "visual-<device>" section of `doc`. `device`: a torch device; None:
    config.extract.device. `precisions`: visual.precision values to compare ("auto" is
    the default setting; the others are measured on the shortest 720p video only)."""
    workdir = Path(workdir)
    device = device or resolve_device(config.extract.device)
    load_before = os.getloadavg()[0]
    config, weights = bench_weights(config, workdir)
    results, rows = _default_rows(config, workdir, durations, device, precisions)
    table = markdown_table(
        ["input", "length", "precision", "decode alone", "network alone", "visual stream", "stream / decode",
         "its CPU time", "peak RSS growth"],
        rows,
    )
    candidates = _candidates_section(config, workdir, device, candidate_seconds) if (
        device == "cpu" and candidate_seconds > 0 and CANDIDATES) else ""
    notes = _notes(config, device, weights, (load_before, os.getloadavg()[0]))
    update_device_section(doc, "visual", "Visual stream (I3D R50, pytorchvideo)", BENCH_COMMAND, device,
                          table + "\n" + notes + candidates)
    return results
