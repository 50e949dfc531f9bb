"""`bench folder`: a folder of generated 720p videos (a real face photo moving, with sound)
through `extract`, one video at a time and with worker processes, each stream alone and
all three together; x real time (seconds of video per second of wall clock, the whole run:
networks built, workers started) and, on CUDA, the GPU's mean utilisation while it ran.
Writes the "folder-cpu" or "folder-cuda" section of docs/benchmarks.md."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from pipeline.bench.doc import markdown_table, update_device_section
from pipeline.config import Config
from pipeline.extract.concurrent import resolve_workers
from pipeline.extract.stage import run_extract
from pipeline.synthetic.videos import astronaut_frames, write_video

BENCH_COMMAND = "python cli.py bench folder"
SIZE = (1280, 720)
FPS = 25.0
FACE_SIDE = 360  # pixels: the photo's side in the frame
SAMPLE_RATE = 16000
# the CPU goal: all streams >= 1.0x real time at 720p on 2 cores without native bf16, >= 2x where the
# visual stream computes in bf16 (the precision its I3D runs in here decides which applies)
CPU_TARGETS = {"fp32": 1.0, "bf16": 2.0}
ALL_STREAMS = ("audio", "visual", "face")


def folder_videos(workdir: Path, count: int, seconds: float, ffmpeg_binary: str = "") -> Path:
    """`count` 720p H.264 videos of `seconds` each, with a face and sound, in a folder of
    their own (reused when already there)."""
    folder = Path(workdir) / f"folder_{count}x{seconds:g}s"
    for index in range(count):
        path = folder / f"video_{index:02d}.mp4"
        if not path.exists():
            rng = np.random.default_rng(index)
            t = np.arange(round(SAMPLE_RATE * seconds)) / SAMPLE_RATE
            sound = 0.2 * np.sin(2 * np.pi * (220 + 110 * index) * t) + 0.05 * rng.standard_normal(len(t))
            frames = astronaut_frames(round(FPS * seconds), SIZE, FACE_SIDE, seed=index)
            write_video(path, frames, FPS, SIZE, audio=sound.astype(np.float32), ffmpeg_binary=ffmpeg_binary)
    return folder


class GpuSampler(threading.Thread):
    """The GPU's utilisation (%) sampled every 0.25 s while running: torch.cuda.utilization
    (it needs pynvml), else `nvidia-smi --query-gpu` (run without a shell)."""

    def __init__(self, device: str):
        super().__init__(daemon=True)
        self.device, self.samples, self.stopped = device, [], threading.Event()

    def sample(self) -> float | None:
        import torch

        index = torch.device(self.device).index or 0
        try:
            return float(torch.cuda.utilization(index))
        except Exception:  # no pynvml: ask nvidia-smi
            try:
                done = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu",
                                       "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
                return float(done.stdout.strip().splitlines()[0])
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                return None

    def run(self) -> None:
        while not self.stopped.wait(0.25):
            value = self.sample()
            if value is not None:
                self.samples.append(value)

    def mean(self) -> str:
        return f"{np.mean(self.samples):.0f} %" if self.samples else "n/a"


def time_extract(folder: Path, cache: Path, config: Config, device: str) -> tuple[float, str]:
    """Seconds for `extract` of the folder into a fresh cache, and the GPU's mean utilisation."""
    shutil.rmtree(cache, ignore_errors=True)
    sampler = GpuSampler(device) if device.startswith("cuda") else None
    if sampler is not None:
        sampler.start()
    started = time.perf_counter()
    summary = run_extract(folder, cache, config, allow_random_weights=True, show_progress=False, log=lambda line: None)
    seconds = time.perf_counter() - started
    if sampler is not None:
        sampler.stopped.set()
        sampler.join()
    if summary.failures:
        raise RuntimeError(f"bench folder: {summary.failures[0].video_id}: {summary.failures[0].reason}")
    return seconds, sampler.mean() if sampler is not None else "n/a"


def _config_for(config: Config, streams: tuple[str, ...], workers: int, device: str) -> Config:
    extract = dataclasses.replace(config.extract, streams=streams, workers=workers, device=device, engine="local")
    return dataclasses.replace(config, extract=extract)


def run_folder_bench(config: Config, workdir: Path, doc: Path, count: int, seconds: float, device: str,
                     command: str = BENCH_COMMAND) -> list[dict]:
    """Measure each stream alone and all together, one video at a time and with
    extract.workers (1 there: one per core), print a line each, update the section."""
    workdir = Path(workdir)
    folder = folder_videos(workdir, count, seconds, config.decode.ffmpeg_binary)
    total = count * seconds
    workers = resolve_workers(config.extract.workers if config.extract.workers != 1 else 0)
    load_before = os.getloadavg()[0]
    results = []
    for streams in [(stream,) for stream in ALL_STREAMS] + [ALL_STREAMS]:
        row = {"streams": "all streams" if len(streams) > 1 else streams[0]}
        for mode, mode_workers in (("one", 1), ("concurrent", workers)):
            run_config = _config_for(config, streams, mode_workers, device)
            wall, gpu = time_extract(folder, workdir / f"folder_cache_{mode}", run_config, device)
            row[mode] = {"seconds": wall, "x_real_time": total / wall, "gpu": gpu}
            print(f"folder {row['streams']} {mode} ({mode_workers} worker(s)): {total / wall:.2f}x real time "
                  f"({wall:.1f} s for {total:g} s of video), GPU {gpu}")
        results.append(row)
    body = _section_body(results, config, count, seconds, workers, device, load_before)
    update_device_section(doc, "folder", "A folder of videos through one machine (`extract --workers`)", command,
                          device, body)
    return results


def _section_body(results: list[dict], config: Config, count: int, seconds: float, workers: int, device: str,
                  load_before: float) -> str:
    rows = [[r["streams"], f"{r['one']['x_real_time']:.2f}x ({r['one']['seconds']:.1f} s)",
             f"{r['concurrent']['x_real_time']:.2f}x ({r['concurrent']['seconds']:.1f} s)",
             r["one"]["gpu"], r["concurrent"]["gpu"]] for r in results]
    table = markdown_table(["streams", "one video at a time", f"{workers} workers", "GPU use (one)",
                            f"GPU use ({workers} workers)"], rows)
    every = results[-1]
    best = max(every["one"]["x_real_time"], every["concurrent"]["x_real_time"])
    target = ""
    if device == "cpu":
        from extractors.visual import VisualExtractor

        words = VisualExtractor.compute_precision(config.visual, device)  # e.g. "openvino bf16"
        goal = CPU_TARGETS["bf16" if words.endswith("bf16") else "fp32"]
        met = "met" if best >= goal else "NOT met"
        target = (f"\nThe CPU goal for this precision (visual: {words}), all streams >= {goal:g}x real time at 720p "
                  f"on 2 cores: {met} (best {best:.2f}x here, on {os.cpu_count()} cores with a load average of "
                  f"{load_before:.1f} before the run).")
    return (f"{table}\n\n{count} videos of {seconds:g} s, {SIZE[0]}x{SIZE[1]} at {FPS:g} fps (H.264) with sound "
            f"(AAC), a real face photo ({FACE_SIDE} px) moving across; {count * seconds:g} s of video per run. "
            "x real time = seconds of video / seconds of the whole `extract` run (networks built, worker processes "
            "started, cache written). Random weights where no checkpoint is installed (the speed does not depend "
            f"on the values); visual {config.visual.short_side}/{config.visual.crop_size} px "
            f"(runtime {config.visual.runtime}, precision {config.visual.precision}), "
            f"face detector {config.face.detector_backend} at {config.face.detection_max_side} px, "
            f"decode.hardware={config.decode.hardware}. GPU use: mean of torch.cuda.utilization (or nvidia-smi) "
            f"every 0.25 s.{target}")
