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
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from extractors.decode import iter_video_frames, probe_video
from extractors.grid import SnippetGrid
from extractors.visual import VisualConfig, VisualExtractor, frame_count
from pipeline.bench.doc import markdown_table, update_device_section
from pipeline.bench.extractors import extractor_preferring_checkpoint
from pipeline.config import Config
from pipeline.devices import resolve_device
from pipeline.synthetic.videos import astronaut_video

BENCH_COMMAND = "python cli.py bench visual"
VIDEO_FPS = 30.0
# name -> (frame size (W, H), side of the astronaut photo in pixels)
RESOLUTIONS: dict[str, tuple[tuple[int, int], int]] = {
    "720p": ((1280, 720), 640),
    "360p": ((640, 360), 320),
}


def _rss_mib() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class _PeakRss(threading.Thread):
    """Samples this process's resident memory every 50 ms until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.baseline = _rss_mib()
        self.peak = self.baseline
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.05):
            self.peak = max(self.peak, _rss_mib())

    def stop(self) -> float:
        """Peak growth over the baseline, MiB."""
        self._stop_event.set()
        self.join()
        return max(0.0, self.peak - self.baseline)


def measure_decode(video: Path, config: Config, settings: VisualConfig) -> float:
    """Seconds for ffmpeg to deliver the frames the visual stream reads, read and dropped."""
    probe = probe_video(video)
    start = time.perf_counter()
    for _ in iter_video_frames(
        probe, config.decode, settings.sampling_fps, frame_count(probe.duration_seconds, settings.sampling_fps),
        short_side=settings.short_side, chunk_frames=16,
    ):
        pass
    return time.perf_counter() - start


def measure_network(extractor: VisualExtractor, batches: int = 2) -> float:
    """Seconds per clip of the network alone (uint8 clips in memory, one warm-up batch)."""
    import torch

    settings = extractor.settings
    shape = (extractor.batch_clips, settings.frames_per_clip, settings.crop_size, settings.crop_size, 3)
    clips = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    extractor.embed_clips(clips)
    start = time.perf_counter()
    for _ in range(batches):
        extractor.embed_clips(clips)
    return (time.perf_counter() - start) / (batches * extractor.batch_clips)


def measure_visual_stream(video: Path, config: Config, extractor: VisualExtractor) -> dict:
    probe = probe_video(video)
    grid = SnippetGrid.for_duration(probe.duration_seconds, config.grid)
    memory = _PeakRss()
    memory.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = extractor.extract(probe, grid, lambda finished: None)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    grown = memory.stop()
    assert result.features.shape == (grid.num_snippets, extractor.output_dim) and np.isfinite(result.features).all()
    return {"duration": probe.duration_seconds, "snippets": grid.num_snippets, "total": total, "cpu": cpu,
            "rss_growth": grown}


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
        resolution, f"{d:.0f} s ({measured['snippets']} clips)", f"{precision} -> {extractor.precision}",
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
        f"channels-last {visual.channels_last}. *auto* precision is the default setting: bf16 where the "
        "hardware runs it natively (CUDA; CPUs with AVX512-BF16/AMX), else fp16 on CUDA, else fp32.\n"
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


def run_visual_bench(
    config: Config,
    workdir: Path,
    doc: Path,
    durations: Sequence[float] = (30.0,),
    device: str | None = None,
    precisions: Sequence[str] = ("auto", "fp32"),
) -> list[dict]:
    """Measure every precision x resolution x duration (seconds of video), print a line
    each, and update the "visual-<device>" section of `doc`. `device`: a torch device; None:
    config.extract.device. `precisions`: visual.precision values to compare ("auto" is
    the default setting; the others are measured on the shortest 720p video only)."""
    workdir = Path(workdir)
    device = device or resolve_device(config.extract.device)
    load_before = os.getloadavg()[0]
    rows, results = [], []
    weights = "?"
    for precision in precisions:
        settings = replace(config.visual, precision=precision)
        extractor, weights = extractor_preferring_checkpoint("visual", settings, config, device)
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
    table = markdown_table(
        ["input", "length", "precision", "decode alone", "network alone", "visual stream", "stream / decode",
         "its CPU time", "peak RSS growth"],
        rows,
    )
    notes = _notes(config, device, weights, (load_before, os.getloadavg()[0]))
    update_device_section(doc, "visual", "Visual stream (I3D R50, pytorchvideo)", BENCH_COMMAND, device,
                          table + "\n" + notes)
    return results
