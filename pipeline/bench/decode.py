"""`bench decode` and `bench extract`: throughput in x real time and peak memory, written
to docs/benchmarks.md.

Each measurement runs in a fresh Python process (`python -m pipeline.bench.decode worker ...`),
so its peak resident memory, and that of the ffmpeg child it starts, are its own.
Test videos are generated once under --workdir with ffmpeg (a moving test pattern with a
tone) and reused by later runs.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from extractors.audio import AudioExtractor
from extractors.decode import iter_audio_samples, iter_video_frames, probe_video
from extractors.grid import SnippetGrid
from pipeline.bench.doc import markdown_table, section_stamp, update_section
from pipeline.config import Config, config_from_dict, config_to_dict
from pipeline.synthetic.videos import write_test_pattern_video

LOW_RES = (320, 240)
HD = (1280, 720)
HD_SECONDS = 60.0


class ChildPeakMemory:
    """Largest peak RSS (VmHWM, MiB) of this process's child processes, polled from /proc.

    getrusage(RUSAGE_CHILDREN) cannot be used: a child's maxrss includes the parent's
    memory at fork time, before ffmpeg was exec'd.
    """

    def __init__(self, interval_seconds: float = 0.05):
        self.interval_seconds = interval_seconds
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _poll(self) -> None:
        me = str(os.getpid())
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                if stat.rsplit(")", 1)[1].split()[1] != me:
                    continue
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_mib = max(self.peak_mib, int(line.split()[1]) / 1024)
            except (OSError, IndexError, ValueError):
                continue

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(self.interval_seconds)

    def __enter__(self) -> ChildPeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measure(mode: str, video: Path, config: Config) -> dict:
    """Run one measurement in this process; returns seconds and memory figures (MiB)."""
    baseline_mib = _current_rss_mib()
    probe = probe_video(video)
    grid = SnippetGrid.for_duration(probe.duration_seconds, config.grid)
    start = time.perf_counter()
    with ChildPeakMemory() as children:
        _run_mode(mode, probe, grid, config)
    seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "seconds": seconds,
        "duration_seconds": probe.duration_seconds,
        "baseline_rss_mib": baseline_mib,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ffmpeg_peak_rss_mib": children.peak_mib,
    }


def _run_mode(mode: str, probe, grid: SnippetGrid, config: Config) -> None:
    if mode == "video-decode":
        frames = sum(len(chunk) for chunk in iter_video_frames(probe, config.decode, grid.frame_rate, grid.num_frames))
        assert frames == grid.num_frames
    elif mode == "video-decode-256":
        for _ in iter_video_frames(probe, config.decode, grid.frame_rate, grid.num_frames, short_side=256):
            pass
    elif mode == "audio-decode":
        total = round(grid.num_snippets * grid.snippet_seconds * config.audio.sample_rate)
        for _ in iter_audio_samples(probe, config.decode, config.audio.sample_rate, total, 1 << 16):
            pass
    elif mode == "audio-extract":
        AudioExtractor(config.audio, config.decode).extract(probe, grid, lambda n: None)
    else:
        raise ValueError(f"unknown mode {mode}")


def _measure_in_fresh_process(mode: str, video: Path, config: Config, config_file: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.bench.decode", "worker", mode, str(video), str(config_file)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark worker failed ({mode}, {video}): {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _test_video(workdir: Path, seconds: float, size: tuple[int, int], config: Config) -> Path:
    path = workdir / f"pattern_{size[0]}x{size[1]}_{int(seconds)}s.mp4"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        write_test_pattern_video(path, seconds, fps=25.0, size=size, ffmpeg_binary=config.decode.ffmpeg_binary)
    return path


def _row(label: str, measured: dict) -> list[str]:
    return [
        label,
        f"{measured['duration_seconds'] / 60:.1f}",
        f"{measured['seconds']:.1f}",
        f"{measured['duration_seconds'] / measured['seconds']:.1f}x",
        f"{measured['baseline_rss_mib']:.0f}",
        f"{measured['peak_rss_mib']:.0f}",
        f"{measured['ffmpeg_peak_rss_mib']:.0f}",
    ]


HEADER = [
    "what", "video min", "wall s", "x real time", "python RSS before, MiB", "python peak RSS, MiB",
    "ffmpeg peak RSS, MiB",
]


def run_bench(what: str, config: Config, workdir: Path, doc: Path, durations: list[float]) -> None:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "bench_config.json"
    config_file.write_text(json.dumps(config_to_dict(config)))
    low_res = [_test_video(workdir, seconds, LOW_RES, config) for seconds in durations]
    command = f"python cli.py bench {what} --durations {','.join(str(int(d)) for d in durations)}"
    rows = []
    if what == "decode":
        modes = [("video-decode", "video frames, 320x240 -> 25 fps RGB"),
                 ("audio-decode", "audio, mono 16 kHz float32")]
        for video in low_res:
            for mode, label in modes:
                rows.append(_row(label, _measure_in_fresh_process(mode, video, config, config_file)))
        hd = _test_video(workdir, HD_SECONDS, HD, config)
        rows.append(_row("video frames, 1280x720 -> 25 fps RGB",
                         _measure_in_fresh_process("video-decode", hd, config, config_file)))
        rows.append(
            _row("video frames, 1280x720 -> 25 fps, short side 256",
                 _measure_in_fresh_process("video-decode-256", hd, config, config_file))
        )
        title = "Decoding: throughput and peak memory (`bench decode`)"
        notes = (
            "Decode-only: frames are read from the ffmpeg pipe and dropped; audio is decoded to mono float32. "
            "Memory per process: the Python side (RSS after its imports, then its peak) and the ffmpeg child "
            "(its own peak, VmHWM polled from /proc); neither should grow with the video's length."
        )
    elif what == "extract":
        for video in low_res:
            rows.append(_row("audio stream (MFCC, 160-d per snippet)",
                             _measure_in_fresh_process("audio-extract", video, config, config_file)))
        title = "Audio extraction: throughput and peak memory (`bench extract`)"
        notes = (
            f"The audio stream at its defaults (n_mfcc={config.audio.n_mfcc}, "
            f"{config.audio.window_seconds * 1000:.0f} ms window, "
            f"{config.audio.hop_seconds * 1000:.0f} ms hop), decoding included, one process per video."
        )
    else:
        raise ValueError(f"unknown benchmark {what!r}")
    body = section_stamp(command) + "\n" + markdown_table(HEADER, rows) + "\n\n" + notes + "\n"
    update_section(doc, what, title, body)
    print(markdown_table(HEADER, rows))
    print(f"written to {doc}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "worker":
        bench_config = config_from_dict(json.loads(Path(sys.argv[4]).read_text()))
        print(json.dumps(_measure(sys.argv[2], Path(sys.argv[3]), bench_config)))
    else:
        sys.exit("usage: python -m pipeline.bench.decode worker MODE VIDEO CONFIG_JSON")
