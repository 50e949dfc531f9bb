"""The measurements `bench visual` makes: decode alone, the network alone, the whole visual
stream (with its peak memory growth)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from extractors.decode import iter_video_frames, probe_video
from extractors.grid import SnippetGrid
from extractors.visual import VisualConfig, VisualExtractor, frame_count
from pipeline.config import Config


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


def measure_visual_stream(video: Path, config: Config, extractor: VisualExtractor, keep_features: bool = False) -> dict:
    """Wall and CPU seconds of `extract` on `video` and the peak growth of resident memory
    (MiB); with keep_features, the (T, D) features too."""
    probe = probe_video(video)
    grid = SnippetGrid.for_duration(probe.duration_seconds, config.grid)
    memory = _PeakRss()
    memory.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = extractor.extract(probe, grid, lambda finished: None)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    grown = memory.stop()
    assert result.features.shape == (grid.num_snippets, extractor.output_dim) and np.isfinite(result.features).all()
    measured = {"duration": probe.duration_seconds, "snippets": grid.num_snippets, "total": total, "cpu": cpu,
                "rss_growth": grown}
    return {**measured, "features": result.features} if keep_features else measured
