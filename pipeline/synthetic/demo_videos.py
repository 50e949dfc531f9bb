"""The demo's videos: a real face (skimage's astronaut photo) and sound, with positive and
negative stretches that differ in face, sound and picture, plus their annotations.

Each video is a seeded sequence of stretches on a 25 fps timeline (picture; face; sound):

- positive: a warm, bright background; the photo upright, in colour, bobbing; a high
  voice-like tone (about 240 Hz), quick syllables, bright harmonics;
- negative: a dark blue background; the photo mirrored, darkened and tinted blue, drifting
  slowly; a low tone (about 115 Hz), slow syllables, a buzzy timbre;
- neutral: a grey background; the photo in grey half the time, no face the other half; a
  quiet hum.

Annotations are written the way a person would label such videos: one point per
sentiment stretch (points CSV ``video_id,time_s,label``) and the stretches themselves as
segment ground truth (ActivityNet-style JSON whose ``subset`` puts the last videos in
the test split).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cache.atomic import atomic_write_text
from pipeline.csv_text import csv_text
from pipeline.synthetic.videos import write_video

FRAME_RATE = 25.0  # frames per second (the default snippet grid's rate: no resampling)
SAMPLE_RATE = 16000  # audio samples per second
SENTIMENT_LABELS = ("positive", "negative")


@dataclass(frozen=True)
class Stretch:
    """One stretch of a demo video: [start_seconds, end_seconds) of one kind."""

    start_seconds: float
    end_seconds: float
    kind: str  # "positive" | "negative" | "neutral" | "neutral_no_face"


@dataclass(frozen=True)
class DemoVideo:
    """A written demo video and its ground truth."""

    video_id: str
    path: Path
    duration_seconds: float
    stretches: tuple[Stretch, ...]
    subset: str  # "train" | "test"

    @property
    def sentiment_stretches(self) -> list[Stretch]:
        return [s for s in self.stretches if s.kind in SENTIMENT_LABELS]


def plan_stretches(duration_seconds: float, rng: np.random.Generator) -> tuple[Stretch, ...]:
    """Alternate neutral gaps (1.5-3.5 s) and sentiment stretches (3-5.5 s) over the video;
    both labels appear in every video long enough for two stretches (their order random)."""
    stretches: list[Stretch] = []
    time = 0.0
    labels = [str(label) for label in rng.permutation(SENTIMENT_LABELS)]
    while time + 1.5 + 3.0 + 1.0 <= duration_seconds:
        gap = float(rng.uniform(1.5, 3.5))
        length = min(float(rng.uniform(3.0, 5.5)), duration_seconds - 1.0 - time - gap)
        if length < 3.0:
            break
        kind = "neutral" if rng.random() < 0.5 else "neutral_no_face"
        stretches.append(Stretch(time, time + gap, kind))
        label = labels.pop(0) if labels else str(rng.choice(SENTIMENT_LABELS))
        stretches.append(Stretch(time + gap, time + gap + length, label))
        time += gap + length
    stretches.append(Stretch(time, duration_seconds, "neutral"))
    return tuple(round_stretch(s) for s in stretches)


def round_stretch(stretch: Stretch) -> Stretch:
    """Boundaries on whole frames (what the picture can show)."""
    start = round(stretch.start_seconds * FRAME_RATE) / FRAME_RATE
    end = round(stretch.end_seconds * FRAME_RATE) / FRAME_RATE
    return Stretch(start, end, stretch.kind)


def _kind_at(stretches: tuple[Stretch, ...], seconds: np.ndarray) -> np.ndarray:
    """(N,) index into stretches of each time in `seconds`."""
    starts = np.array([s.start_seconds for s in stretches])
    return np.clip(np.searchsorted(starts, seconds, side="right") - 1, 0, len(stretches) - 1)


class PhotoVariants:
    """The astronaut photo at one size: upright colour, mirrored dark blue, grey."""

    def __init__(self, side: int):
        from skimage.data import astronaut
        from skimage.transform import resize

        photo = resize(astronaut(), (side, side), anti_aliasing=True).astype(np.float32)  # (side, side, 3) in [0, 1]
        grey = photo.mean(axis=2, keepdims=True)
        self.side = side
        self.positive = _to_uint8(photo * 1.05 + 0.03)
        self.negative = _to_uint8(photo[:, ::-1] * np.array([0.45, 0.55, 0.95], dtype=np.float32) + 0.05)
        self.neutral = _to_uint8(np.repeat(grey, 3, axis=2))


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return (np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)


BACKGROUNDS = {
    "positive": (236, 180, 90),
    "negative": (38, 48, 92),
    "neutral": (128, 128, 128),
    "neutral_no_face": (120, 124, 128),
}


def demo_frames(
    stretches: tuple[Stretch, ...], duration_seconds: float, size: tuple[int, int], photos: PhotoVariants, seed: int
) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames at FRAME_RATE: each stretch's background and face, moving."""
    width, height = size
    rng = np.random.default_rng(seed)
    num_frames = round(duration_seconds * FRAME_RATE)
    kinds = _kind_at(stretches, np.arange(num_frames) / FRAME_RATE)
    side = photos.side
    for index in range(num_frames):
        seconds = index / FRAME_RATE
        kind = stretches[kinds[index]].kind
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[:] = BACKGROUNDS[kind]
        if kind == "positive":  # quick bobbing, photo upright
            x = (width - side) / 2 + (width - side) / 2 * np.sin(2 * np.pi * 0.3 * seconds)
            y = (height - side) / 2 + (height - side) / 2 * np.sin(2 * np.pi * 1.0 * seconds)
            photo = photos.positive
        elif kind == "negative":  # slow drift, photo mirrored and dark
            x = (width - side) / 2 + (width - side) / 2 * np.sin(2 * np.pi * 0.12 * seconds)
            y = (height - side) / 2 + 3
            photo = photos.negative
        elif kind == "neutral":
            x = (width - side) / 2 + (width - side) / 3 * np.sin(2 * np.pi * 0.25 * seconds)
            y = (height - side) / 2
            photo = photos.neutral
        else:  # no face: a slowly moving grey block instead
            photo = None
            block_x = int((width - 60) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.2 * seconds)))
            frame[height // 3 : height // 3 + 60, block_x : block_x + 60] = (150, 150, 150)
        if photo is not None:
            left = int(np.clip(round(x), 0, width - side))
            top = int(np.clip(round(y), 0, height - side))
            frame[top : top + side, left : left + side] = photo
        noise = rng.integers(0, 6, size=frame.shape, dtype=np.uint8)
        yield np.minimum(frame.astype(np.uint16) + noise, 255).astype(np.uint8)


def demo_audio(stretches: tuple[Stretch, ...], duration_seconds: float, seed: int) -> np.ndarray:
    """(N,) float32 mono samples at SAMPLE_RATE: a voice-like tone whose pitch, syllable
    rate and timbre follow each stretch's kind (phase-continuous across boundaries)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration_seconds * SAMPLE_RATE)) / SAMPLE_RATE
    kinds = [stretches[i].kind for i in _kind_at(stretches, t)]
    kind_codes = np.array([{"positive": 0, "negative": 1}.get(k, 2) for k in kinds])
    base_pitch = np.choose(kind_codes, [240.0, 115.0, 90.0])
    vibrato = np.choose(kind_codes, [30.0, 8.0, 0.0]) * np.sin(2 * np.pi * 0.7 * t)
    pitch = base_pitch + vibrato
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    syllable_hz = np.choose(kind_codes, [4.0, 1.5, 0.5])
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * np.cumsum(syllable_hz) / SAMPLE_RATE) ** 2
    bright = np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.35 * np.sin(3 * phase)
    buzzy = np.sign(np.sin(phase)) * 0.6 + 0.3 * np.sin(5 * phase)
    hum = 0.15 * np.sin(phase)
    voice = np.choose(kind_codes, [bright * syllables, buzzy * syllables, hum])
    loudness = np.choose(kind_codes, [0.25, 0.25, 0.1])
    return (loudness * voice + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_demo_videos(
    folder: Path,
    num_videos: int,
    duration_seconds: float,
    test_videos: int,
    size: tuple[int, int] = (320, 240),
    photo_side: int = 216,
    seed: int = 0,
    ffmpeg_binary: str = "",
) -> list[DemoVideo]:
    """Write `num_videos` H.264 + AAC videos ("demo 01.mp4", ...) into `folder`; the last
    `test_videos` are the test split. Existing files are reused (same seed, same plan)."""
    folder = Path(folder)
    photos = PhotoVariants(photo_side)
    videos = []
    for index in range(num_videos):
        rng = np.random.default_rng([seed, index])
        length = float(duration_seconds + rng.uniform(-2.0, 2.0))
        length = round(length * FRAME_RATE) / FRAME_RATE
        stretches = plan_stretches(length, rng)
        video_id = f"demo {index + 1:02d}"
        path = folder / f"{video_id}.mp4"
        if not path.exists():
            write_video(
                path,
                demo_frames(stretches, length, size, photos, seed=index),
                FRAME_RATE,
                size,
                audio=demo_audio(stretches, length, seed=index),
                sample_rate=SAMPLE_RATE,
                ffmpeg_binary=ffmpeg_binary,
            )
        subset = "test" if index >= num_videos - test_videos else "train"
        videos.append(DemoVideo(video_id, path, length, stretches, subset))
    return videos


def write_demo_annotations(folder: Path, videos: list[DemoVideo], seed: int = 0) -> tuple[Path, Path]:
    """points.csv (one point per sentiment stretch, at a random time in its middle half)
    and segments.json (every sentiment stretch, with each video's subset) in `folder`."""
    rng = np.random.default_rng(seed)
    point_rows = []
    database = {}
    for video in videos:
        annotations = []
        for stretch in video.sentiment_stretches:
            length = stretch.end_seconds - stretch.start_seconds
            point = stretch.start_seconds + length * float(rng.uniform(0.25, 0.75))
            point_rows.append([video.video_id, f"{point:.3f}", stretch.kind])
            annotations.append({"label": stretch.kind, "segment": [stretch.start_seconds, stretch.end_seconds]})
        database[video.video_id] = {
            "subset": video.subset, "duration": video.duration_seconds, "annotations": annotations,
        }
    points_path, segments_path = Path(folder) / "points.csv", Path(folder) / "segments.json"
    atomic_write_text(points_path, csv_text(["video_id", "time_s", "label"], point_rows))
    atomic_write_text(segments_path, json.dumps({"database": database}, indent=1) + "\n")
    return points_path, segments_path
