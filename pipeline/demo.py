"""`demo`: make a few small videos (a real face, sound, different containers and frame
rates) and run the pipeline on them, offline.

Until the training and localization stages land, the demo ends at the feature cache:
it extracts every implemented stream and prints what the cache holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from extractors.registry import EXTRACTORS
from pipeline.cache_info import cache_records, format_records
from pipeline.config import Config, with_overrides
from pipeline.extract import run_extract
from pipeline.reporting import print_extract_summary
from pipeline.synthetic_videos import write_test_pattern_video, write_video


def astronaut_frames(num_frames: int, size: tuple[int, int], face_side: int, seed: int = 0):
    """Frames of a real photo (skimage's astronaut) gliding over a grey background."""
    from skimage.data import astronaut
    from skimage.transform import resize

    width, height = size
    photo = (resize(astronaut(), (face_side, face_side), anti_aliasing=True) * 255).astype(np.uint8)
    rng = np.random.default_rng(seed)
    background = np.full((height, width, 3), 96, dtype=np.uint8)
    for k in range(num_frames):
        phase = k / max(1, num_frames - 1)
        x = int((width - face_side) * (0.5 + 0.5 * np.sin(2 * np.pi * phase)))
        y = (height - face_side) // 2
        frame = background.copy()
        frame[y : y + face_side, x : x + face_side] = photo
        noise = rng.integers(0, 8, size=frame.shape, dtype=np.uint8)
        yield np.minimum(frame.astype(np.uint16) + noise, 255).astype(np.uint8)


def speech_like_audio(duration_seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A tone whose pitch and loudness move, with a little noise (stands in for a voice)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_seconds * sample_rate)) / sample_rate
    pitch = 180 + 60 * np.sin(2 * np.pi * 0.3 * t)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t) ** 2
    tone = np.sin(2 * np.pi * np.cumsum(pitch) / sample_rate) * envelope
    return (0.4 * tone + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def make_demo_videos(folder: Path, config: Config) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg = config.decode.ffmpeg_binary
    paths = []
    face = folder / "face talking.mp4"
    if not face.exists():
        fps, seconds = 30, 12.0
        write_video(
            face, astronaut_frames(int(fps * seconds), (320, 240), 240), fps, (320, 240),
            audio=speech_like_audio(seconds, 16000), ffmpeg_binary=ffmpeg,
        )
    paths.append(face)
    pattern = folder / "test pattern.webm"
    if not pattern.exists():
        write_test_pattern_video(pattern, 8.0, fps=24, size=(320, 180), tone_hz=330, ffmpeg_binary=ffmpeg)
    paths.append(pattern)
    silent = folder / "nested" / "silent clip.mkv"
    if not silent.exists():
        write_test_pattern_video(silent, 5.3, fps=29.97, size=(240, 160), tone_hz=None, ffmpeg_binary=ffmpeg)
    paths.append(silent)
    return paths


def run_demo(out: Path, config: Config, show_progress: bool = True) -> int:
    out = Path(out)
    videos = out / "videos"
    print(f"writing demo videos to {videos}")
    make_demo_videos(videos, config)
    streams = [s for s in config.extract.streams if s in EXTRACTORS] or list(EXTRACTORS)
    config = with_overrides(config, {"extract": {"streams": streams}})
    summary = run_extract(videos, out / "cache", config, allow_random_weights=True, show_progress=show_progress)
    print_extract_summary(summary)
    print(format_records(cache_records(out / "cache")))
    print(f"feature cache: {out / 'cache'} (inspect with: python cli.py cache-info {out / 'cache'} --json)")
    return 1 if summary.failures else 0
