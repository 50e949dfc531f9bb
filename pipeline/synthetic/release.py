"""A TSL-300-shaped synthetic dataset in the released feature layout.

:func:`write_synthetic_release` writes what the TSL-300 / FSENet releases hold:

    OUT/features/{train,test}/rgb/<video>.npy       (T_v, visual_width)      one row per snippet
    OUT/features/{train,test}/logmfcc/<video>.npy   (T_a * 32 + r, 60)       32 rows per snippet
    OUT/features/{train,test}/img/<video>.npy       (T_f, face_width)        zero rows = no face
    OUT/gt.json, OUT/videosenti_gt.json             ActivityNet style, as the real files
    OUT/split_train.txt, OUT/split_test.txt, OUT/fps_dict.json, OUT/len_duration_dict.json,
    OUT/time.json, OUT/point_gaussian/point_labels.csv, OUT/synth.json (how it was made)

A snippet is 16 native frames (16 / fps seconds). Videos, durations, frame rates,
segments, points and splits come from real TSL-300 annotation files when
``annotations_dir`` is given (``../shared/tsl300``), else from a seeded generator with
TSL-300-like statistics (segments per video median 5, length median 6.6 s, 58% positive,
durations 120-1160 s times ``scale``, 20-30 fps, one point inside each training segment).

The planted signal. Every stream's rows are unit-variance noise (AR(1) over time, plus a
per-video offset). Each class c has an intensity a_c(t) in [0, 1]: 1 inside its segments,
0 outside, with a linear ramp of ``ramp_snippets`` snippets centred on each boundary (0.5
at the boundary). A stream s adds ``strength_s * a_c(t)`` times a unit direction that is
the normalised sum of a shared "sentiment" direction and a class-c direction of that
stream (fixed for the dataset), so strength is the shift along the direction in noise
standard deviations; each segment's gain varies by +-``segment_gain_spread``. Faces are
clearest (face_strength), audio and visual weaker. Distractor events (Poisson,
``distractor_rate_per_minute``) outside segments add a bump along the sentiment direction
plus both class directions equally: sentiment-like but class-ambiguous. Stretches without
a face are zero rows in img. Stream lengths differ by up to ``row_jitter`` snippet rows
(and the audio by a partial snippet of rows), like the released files.
Audio values are log-mel-like dB numbers: -10 + 8 z, which the loader's default
(x + 50) / 80 maps to 0.5 + 0.1 z.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cache.atomic import atomic_save_npy, atomic_write_text
from model.setting_checks import check_bool, check_int, check_names, check_number, check_seed, require
from model.streams import RELEASE_FOLDERS, STREAM_NAMES
from pipeline.csv_text import csv_text
from pipeline.data.release import (
    RELEASE_BOTH_SPLITS_GT,
    RELEASE_DURATIONS_FILE,
    RELEASE_FRAME_RATES_FILE,
    RELEASE_POINTS_FILE,
    RELEASE_TEST_DURATIONS_FILE,
    RELEASE_TEST_GT,
    split_file_name,
)

RELEASE_POINT_HEADER: tuple[str, ...] = ("class", "class_index", "start_frame", "stop_frame", "video_id", "point")
CLASS_LABELS: tuple[str, ...] = ("n", "p")  # TSL-300's labels; index = class_index
AUDIO_DB_CENTER = -10.0  # dB value of z = 0
AUDIO_DB_PER_UNIT = 8.0  # dB per noise standard deviation
COMMON_FRAME_RATES: tuple[float, ...] = (20.0, 24000 / 1001, 25.0, 30000 / 1001, 30.0)
FRAME_RATE_WEIGHTS: tuple[float, ...] = (0.05, 0.15, 0.2, 0.3, 0.3)
MARKER_NAME = "synth.json"


class SynthError(Exception):
    """A synthetic dataset that cannot be written as asked; one line with the fix."""


@dataclass(frozen=True)
class SynthConfig:
    """Settings of the synthetic release (config section ``synth``).

    Generator (used without annotations_dir):
        num_videos, test_fraction: how many videos, and the share in the test split.
        scale: multiplies the durations (0.05 gives 6-58 s videos for tests).
        min/median/max_duration_seconds: duration distribution (log-normal, clipped).
        median_segments_per_video: segments per video are 1 + Poisson(median - 1).
        median_segment_seconds: segment lengths are log-normal with this median (clipped 1-60 s).
        positive_fraction: share of positive segments.
    Features:
        seed: everything is drawn from it (per video, so limits change nothing else).
        streams: which streams to write (visual -> rgb, audio -> logmfcc, face -> img).
        visual_width, audio_rows_per_snippet, audio_row_width, face_width: array shapes.
        snippet_frames: native frames per snippet.
        visual_strength, audio_strength, face_strength: planted shift in noise std units.
        segment_gain_spread: each segment's strength is scaled by U(1 - spread, 1 + spread).
        ramp_snippets: width of the linear ramp across each boundary (0 = hard edges).
        distractor_rate_per_minute, distractor_strength (x the stream's strength),
            distractor_seconds (max length): class-ambiguous bumps outside segments.
        no_face_fraction, no_face_stretch_snippets: share of snippets without a face, in
            stretches of about this mean length.
        noise_smoothness: AR(1) coefficient of the noise over time, in [0, 1).
        video_offset_std: std of a per-video offset added to every row of a stream.
        row_jitter: each stream's snippet rows differ from T by up to this many.
    With annotations_dir:
        real_points: use the real point_labels.csv (its points need not lie inside a
            segment); False draws one point inside each training segment instead.
        feature_video_limit: write features for only the first N videos (0 = all);
            every annotation file still covers all videos.
    """

    seed: int = 0
    num_videos: int = 300
    test_fraction: float = 1 / 3
    scale: float = 1.0
    min_duration_seconds: float = 120.0
    median_duration_seconds: float = 200.0
    max_duration_seconds: float = 1160.0
    median_segments_per_video: int = 5
    median_segment_seconds: float = 6.6
    positive_fraction: float = 0.58
    streams: tuple[str, ...] = STREAM_NAMES
    visual_width: int = 1024
    audio_rows_per_snippet: int = 32
    audio_row_width: int = 60
    face_width: int = 1024
    snippet_frames: int = 16
    visual_strength: float = 0.6
    audio_strength: float = 0.9
    face_strength: float = 1.8
    segment_gain_spread: float = 0.3
    ramp_snippets: int = 4
    distractor_rate_per_minute: float = 1.0
    distractor_strength: float = 0.8
    distractor_seconds: float = 4.0
    no_face_fraction: float = 0.2
    no_face_stretch_snippets: float = 15.0
    noise_smoothness: float = 0.5
    video_offset_std: float = 0.3
    row_jitter: int = 1
    real_points: bool = True
    feature_video_limit: int = 0

    def __post_init__(self) -> None:
        check_seed("synth.seed", self.seed)
        check_int("synth.num_videos", self.num_videos, 2)
        check_number("synth.test_fraction", self.test_fraction, 0, 1, low_open=True, high_open=True)
        check_number("synth.scale", self.scale, 0, low_open=True)
        for name in ("min_duration_seconds", "median_duration_seconds", "max_duration_seconds"):
            check_number(f"synth.{name}", getattr(self, name), 0, low_open=True)
        require(self.min_duration_seconds <= self.median_duration_seconds <= self.max_duration_seconds,
                "synth.min/median/max_duration_seconds must satisfy 0 < min <= median <= max")
        check_int("synth.median_segments_per_video", self.median_segments_per_video, 1)
        check_number("synth.median_segment_seconds", self.median_segment_seconds, 0, low_open=True)
        check_number("synth.positive_fraction", self.positive_fraction, 0, 1)
        check_names("synth.streams", self.streams, STREAM_NAMES, what="stream")
        for name in ("visual_width", "audio_rows_per_snippet", "audio_row_width", "face_width", "snippet_frames"):
            check_int(f"synth.{name}", getattr(self, name), 1)
        for name in ("visual_strength", "audio_strength", "face_strength", "distractor_strength", "video_offset_std"):
            check_number(f"synth.{name}", getattr(self, name), 0)
        check_number("synth.segment_gain_spread", self.segment_gain_spread, 0, 1, high_open=True)
        check_int("synth.ramp_snippets", self.ramp_snippets, 0)
        check_number("synth.distractor_rate_per_minute", self.distractor_rate_per_minute, 0)
        check_number("synth.distractor_seconds", self.distractor_seconds, 0, low_open=True)
        check_number("synth.no_face_fraction", self.no_face_fraction, 0, 1, high_open=True)
        check_number("synth.no_face_stretch_snippets", self.no_face_stretch_snippets, 1)
        check_number("synth.noise_smoothness", self.noise_smoothness, 0, 1, high_open=True)
        check_int("synth.row_jitter", self.row_jitter, 0)
        check_bool("synth.real_points", self.real_points)
        check_int("synth.feature_video_limit", self.feature_video_limit, 0, note="0: all")

# -- the videos' metadata ---------------------------------------------------------------
@dataclass
class SyntheticSegment:
    """A segment in seconds; ``start_text``/``end_text`` are the strings written to JSON."""

    start_seconds: float
    end_seconds: float
    label: str  # "n" or "p"
    start_text: str
    end_text: str


@dataclass
class SyntheticPoint:
    """One row of point_labels.csv (frames at the video's native fps)."""

    label: str
    class_index: int
    start_frame: int
    stop_frame: int
    frame: int
    row: int = 0  # position in point_labels.csv (file order is kept)


@dataclass
class SyntheticVideo:
    video_id: str
    split: str  # "train" or "test"
    duration_seconds: float
    fps: float
    segments: list[SyntheticSegment] = field(default_factory=list)
    points: list[SyntheticPoint] = field(default_factory=list)

    def snippet_count(self, snippet_frames: int) -> int:
        """T = ceil(duration * fps / snippet_frames), at least 1: snippets covering the video."""
        return max(1, math.ceil(round(self.duration_seconds * self.fps / snippet_frames, 6)))


@dataclass
class SynthSummary:
    """What was written."""

    out: Path
    videos: int
    train_videos: int
    test_videos: int
    segments: int
    points: int
    feature_videos: int
    source: str  # "generator" or the annotations folder
    bytes_written: int


def _seconds_text(value: float) -> str:
    """Seconds as TSL-300 writes them: up to 3 decimals, no trailing zeros ("65.8")."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text else "0"


def _draw_point(segment: SyntheticSegment, fps: float, rng: np.random.Generator) -> SyntheticPoint:
    """A point inside the segment (its middle 80%), as a native-frame row."""
    length = segment.end_seconds - segment.start_seconds
    seconds = segment.start_seconds + length * rng.uniform(0.1, 0.9)
    frame = int(math.floor(seconds * fps))
    class_index = CLASS_LABELS.index(segment.label)
    return SyntheticPoint(
        segment.label,
        class_index,
        max(0, frame - int(rng.integers(0, 4))),
        frame + int(rng.integers(1, 5)),
        frame,
    )


def generate_videos(config: SynthConfig) -> list[SyntheticVideo]:
    """TSL-300-like videos from the seeded generator (no annotation files needed)."""
    rng = np.random.default_rng([config.seed, 1])
    num_test = min(config.num_videos - 1, max(1, round(config.num_videos * config.test_fraction)))
    test_indices = set(rng.permutation(config.num_videos)[:num_test].tolist())
    sigma = max(1e-6, math.log(config.max_duration_seconds / config.median_duration_seconds) / 2.5)
    videos = []
    for index in range(config.num_videos):
        duration = float(
            np.clip(
                config.median_duration_seconds * math.exp(sigma * rng.standard_normal()),
                config.min_duration_seconds,
                config.max_duration_seconds,
            )
        ) * config.scale
        duration = round(duration, 4)
        fps = float(rng.choice(COMMON_FRAME_RATES, p=FRAME_RATE_WEIGHTS))
        count = 1 + int(rng.poisson(config.median_segments_per_video - 1))
        lengths = np.clip(config.median_segment_seconds * np.exp(0.8 * rng.standard_normal(count)), 1.0, 60.0)
        gap = 1.0
        while len(lengths) > 1 and lengths.sum() + gap * (len(lengths) + 1) > 0.7 * duration:
            lengths = lengths[:-1]
        if lengths.sum() + 2 * gap > 0.7 * duration:
            lengths = np.array([max(0.5 * duration - 2 * gap, 0.3 * duration)])
        free = duration - lengths.sum() - gap * (len(lengths) + 1)
        gaps = gap + free * rng.dirichlet(np.ones(len(lengths) + 1))
        segments, cursor = [], 0.0
        for length, before in zip(lengths, gaps[:-1], strict=True):
            start = cursor + before
            end = start + length
            label = "p" if rng.random() < config.positive_fraction else "n"
            start_text, end_text = _seconds_text(start), _seconds_text(end)
            segments.append(SyntheticSegment(float(start_text), float(end_text), label, start_text, end_text))
            cursor = end
        split = "test" if index in test_indices else "train"
        video = SyntheticVideo(f"{index + 1}_synth", split, duration, fps, segments)
        if split == "train":
            video.points = [_draw_point(segment, fps, rng) for segment in segments]
        videos.append(video)
    return videos


def read_annotation_videos(annotations_dir: Path,
                           config: SynthConfig) -> tuple[list[SyntheticVideo], dict[str, list[str]]]:
    """The real videos of a TSL-300 annotation folder: durations (len_duration_dict.json),
    frame rates (fps_dict.json), segments (videosenti_gt.json, strings kept), splits
    (split_*.txt, else the JSON subsets) and points (point_gaussian/point_labels.csv, or
    one drawn per training segment when ``config.real_points`` is False).

    Returns the videos in videosenti_gt.json order and the video orders of the real files
    ("gt": gt.json and the per-video dicts, "train"/"test": the split files), so that the
    files written list videos as the real ones do.
    """
    annotations_dir = Path(annotations_dir)

    def load(name: str):
        path = annotations_dir / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError:
            raise SynthError(f"{path}: missing; --annotations must be a TSL-300 annotation folder") from None
        except ValueError as error:
            raise SynthError(f"{path}: not valid JSON ({error})") from None

    database = load(RELEASE_BOTH_SPLITS_GT).get("database", {})
    frame_rates = load(RELEASE_FRAME_RATES_FILE)
    durations = load(RELEASE_DURATIONS_FILE)
    gt_order = list(load(RELEASE_TEST_GT).get("database", {})) if (annotations_dir / RELEASE_TEST_GT).is_file() else []
    gt_order = [v for v in gt_order if v in database] + [v for v in database if v not in set(gt_order)]
    splits: dict[str, str] = {}
    split_orders: dict[str, list[str]] = {"train": [], "test": []}
    for split in ("train", "test"):
        split_file = annotations_dir / split_file_name(split)
        if split_file.is_file():
            split_orders[split] = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
            splits.update({video_id: split for video_id in split_orders[split]})
    videos: list[SyntheticVideo] = []
    by_id: dict[str, SyntheticVideo] = {}
    for video_id, record in database.items():
        if video_id not in frame_rates or video_id not in durations:
            raise SynthError(f"{annotations_dir}: video {video_id!r} lacks a frame rate or a duration")
        subset = splits.get(video_id, "test" if str(record.get("subset", "")).startswith("test") else "train")
        segments = []
        for entry in record.get("annotations", []):
            start_text, end_text = (str(v) for v in entry["segment"])
            segments.append(
                SyntheticSegment(float(start_text), float(end_text), str(entry["label"]), start_text, end_text)
            )
        video = SyntheticVideo(video_id, subset, float(durations[video_id]), float(frame_rates[video_id]), segments)
        videos.append(video)
        by_id[video_id] = video
    points_path = annotations_dir / RELEASE_POINTS_FILE
    if config.real_points:
        if not points_path.is_file():
            raise SynthError(f"{points_path}: missing; set synth.real_points=false to draw points from the segments")
        with points_path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle)):
                video = by_id.get(row["video_id"])
                if video is None:
                    raise SynthError(f"{points_path}: point of unknown video {row['video_id']!r}")
                video.points.append(
                    SyntheticPoint(
                        row["class"],
                        int(row["class_index"]),
                        int(row["start_frame"]),
                        int(row["stop_frame"]),
                        int(row["point"]),
                        number,
                    )
                )
    else:
        rng = np.random.default_rng([config.seed, 2])
        for video in videos:
            if video.split == "train":
                video.points = [_draw_point(segment, video.fps, rng) for segment in video.segments]
    orders = {"gt": gt_order}
    for split in ("train", "test"):
        listed = [v for v in split_orders[split] if v in by_id and by_id[v].split == split]
        orders[split] = listed + [v.video_id for v in videos if v.split == split and v.video_id not in set(listed)]
    return videos, orders


# -- the planted features ---------------------------------------------------------------
def boundary_ramp(centers: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """Intensity in [0, 1] of one interval [start, end] at ``centers`` (all in snippets):
    0.5 + (signed distance inside the interval) / ramp, clipped; a step when ramp = 0."""
    inside_distance = np.minimum(centers - start, end - centers)
    if ramp <= 0:
        return (inside_distance >= 0).astype(np.float32)
    return np.clip(0.5 + inside_distance / ramp, 0.0, 1.0).astype(np.float32)


@dataclass
class PlantedProfile:
    """Per-snippet truth of one video: class intensities (T, C), distractor bumps (T,),
    face presence (T,) bool."""

    class_intensity: np.ndarray
    distractor: np.ndarray
    face_present: np.ndarray


def planted_profile(video: SyntheticVideo, config: SynthConfig, rng: np.random.Generator) -> PlantedProfile:
    """Class intensities with ramped boundaries, distractor bumps and no-face stretches."""
    num_snippets = video.snippet_count(config.snippet_frames)
    snippet_seconds = config.snippet_frames / video.fps
    centers = np.arange(num_snippets, dtype=np.float64) + 0.5
    intensity = np.zeros((num_snippets, len(CLASS_LABELS)), dtype=np.float32)
    spread = config.segment_gain_spread
    for segment in video.segments:
        start, end = segment.start_seconds / snippet_seconds, segment.end_seconds / snippet_seconds
        gain = rng.uniform(1 - spread, 1 + spread)
        column = CLASS_LABELS.index(segment.label) if segment.label in CLASS_LABELS else 0
        bump = gain * boundary_ramp(centers, start, end, config.ramp_snippets)
        intensity[:, column] = np.maximum(intensity[:, column], bump)

    distractor = np.zeros(num_snippets, dtype=np.float32)
    count = rng.poisson(config.distractor_rate_per_minute * video.duration_seconds / 60.0)
    occupied = intensity.max(axis=1) > 0
    margin = config.ramp_snippets + 1
    for _ in range(count):
        length = rng.uniform(1.0, config.distractor_seconds) / snippet_seconds
        center = rng.uniform(0, num_snippets)
        low, high = int(max(0, center - length / 2 - margin)), int(min(num_snippets, center + length / 2 + margin + 1))
        if occupied[low:high].any():
            continue  # distractors stay outside segments
        distractor = np.maximum(distractor,
                                boundary_ramp(centers, center - length / 2, center + length / 2, config.ramp_snippets))

    face_present = np.ones(num_snippets, dtype=bool)
    if config.no_face_fraction > 0:
        target = config.no_face_fraction * num_snippets
        missing = 0
        while missing < target:
            length = max(1, min(int(rng.exponential(config.no_face_stretch_snippets)), math.ceil(target - missing)))
            start = int(rng.integers(0, num_snippets))
            before = face_present.sum()
            face_present[start : start + length] = False
            missing += before - face_present.sum()
            if face_present.sum() == 0:
                break
    return PlantedProfile(intensity, distractor, face_present)


def _unit_directions(width: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + C, width) float32 unit vectors: the shared sentiment direction, then one per class."""
    directions = rng.standard_normal((1 + len(CLASS_LABELS), width))
    return (directions / np.linalg.norm(directions, axis=1, keepdims=True)).astype(np.float32)


def _stream_rows(
    profile: PlantedProfile,
    directions: np.ndarray,
    strength: float,
    config: SynthConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """(T, width) float32: AR(1) noise + per-video offset + planted sentiment + distractors."""
    num_snippets, width = profile.class_intensity.shape[0], directions.shape[1]
    noise = rng.standard_normal((num_snippets, width), dtype=np.float32)
    rho = np.float32(config.noise_smoothness)
    if rho > 0:
        innovation = np.float32(math.sqrt(1 - rho * rho))
        for t in range(1, num_snippets):
            noise[t] = rho * noise[t - 1] + innovation * noise[t]
    noise += (config.video_offset_std * rng.standard_normal(width)).astype(np.float32)
    sentiment, classes = directions[0], directions[1:]
    summed = sentiment[None, :] + classes
    class_directions = summed / np.linalg.norm(summed, axis=1, keepdims=True)
    ambiguous = sentiment + classes.mean(axis=0)
    ambiguous = ambiguous / np.linalg.norm(ambiguous)
    signal = profile.class_intensity @ class_directions  # (T, width)
    signal += config.distractor_strength * profile.distractor[:, None] * ambiguous[None, :]
    return noise + np.float32(strength) * signal.astype(np.float32)


def _jittered(rows: np.ndarray, change: int, rng: np.random.Generator) -> np.ndarray:
    """Drop ``-change`` trailing rows or append ``change`` noise rows (at least one row stays)."""
    if change < 0:
        return rows[: max(1, rows.shape[0] + change)]
    if change > 0:
        extra = rng.standard_normal((change, rows.shape[1]), dtype=np.float32)
        return np.concatenate([rows, extra], axis=0)
    return rows


def video_feature_arrays(
    video: SyntheticVideo, index: int, config: SynthConfig, directions: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """stream -> the array written for it in the released layout (rows as released)."""
    rng = np.random.default_rng([config.seed, 3, index])
    profile = planted_profile(video, config, rng)
    strengths = {"visual": config.visual_strength, "audio": config.audio_strength, "face": config.face_strength}
    arrays: dict[str, np.ndarray] = {}
    for stream in config.streams:
        rows = _stream_rows(profile, directions[stream], strengths[stream], config, rng)
        change = int(rng.integers(-config.row_jitter, config.row_jitter + 1)) if config.row_jitter else 0
        if stream == "face":
            rows[~profile.face_present] = 0.0
            rows = _jittered(rows, change, rng)
        elif stream == "audio":
            rows = _jittered(rows, change, rng)
            rows = AUDIO_DB_CENTER + AUDIO_DB_PER_UNIT * rows
            rows = rows.reshape(-1, config.audio_row_width)
            partial = int(rng.integers(0, config.audio_rows_per_snippet))
            if partial:
                noise = rng.standard_normal((partial, config.audio_row_width), dtype=np.float32)
                tail = AUDIO_DB_CENTER + AUDIO_DB_PER_UNIT * noise
                rows = np.concatenate([rows, tail], axis=0)
        else:
            rows = _jittered(rows, change, rng)
        arrays[stream] = np.ascontiguousarray(rows, dtype=np.float32)
    return arrays


def stream_directions(config: SynthConfig) -> dict[str, np.ndarray]:
    """stream -> (1 + C, folded width) unit directions, fixed by the seed for the dataset."""
    widths = {
        "visual": config.visual_width,
        "audio": config.audio_rows_per_snippet * config.audio_row_width,
        "face": config.face_width,
    }
    return {stream: _unit_directions(widths[stream], np.random.default_rng([config.seed, 4, n]))
            for n, stream in enumerate(widths)}


# -- writing ----------------------------------------------------------------------------
def _ground_truth(videos: list[SyntheticVideo], order: list[str], test_only: bool) -> dict:
    """ActivityNet-style database as TSL-300 writes it (gt.json: test annotations only)."""
    by_id = {video.video_id: video for video in videos}
    database = {}
    for video_id in order:
        video = by_id[video_id]
        keep = not test_only or video.split == "test"
        database[video_id] = {
            "subset": video.split,
            "annotations": [
                {"segment": [segment.start_text, segment.end_text], "label": segment.label}
                for segment in (video.segments if keep else [])
            ],
        }
    return {"database": database}


def _points_csv(videos: list[SyntheticVideo]) -> str:
    """point_labels.csv text: the real column order, rows in their ``row`` order."""
    rows = sorted(((point, video.video_id) for video in videos for point in video.points), key=lambda item: item[0].row)
    return csv_text(RELEASE_POINT_HEADER, [
        [point.label, point.class_index, point.start_frame, point.stop_frame, video_id, point.frame]
        for point, video_id in rows
    ])


def feature_videos(videos: list[SyntheticVideo], limit: int) -> list[int]:
    """Indices of the videos that get features: all when limit is 0, else the first
    ceil(limit / 2) training and floor(limit / 2) test videos (topped up from the other
    split when one runs short), so a small sample still has both splits."""
    if limit <= 0 or limit >= len(videos):
        return list(range(len(videos)))
    train = [i for i, video in enumerate(videos) if video.split == "train"]
    test = [i for i, video in enumerate(videos) if video.split != "train"]
    chosen = train[: math.ceil(limit / 2)] + test[: limit // 2]
    rest = [i for i in train + test if i not in set(chosen)]
    return sorted(chosen + rest[: limit - len(chosen)])


def _prepare_out(out: Path) -> None:
    """An empty or new folder, or a previous synthetic release (its feature files are
    removed first); anything else is refused."""
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out}: exists and is not a folder; pass a new folder to --out")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER_NAME).is_file():
            raise SynthError(f"{out}: folder is not empty and holds no synthetic release "
                             f"({MARKER_NAME}); pass a new folder")
        for old in (out / "features").rglob("*.npy"):
            old.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_synthetic_release(
    out: Path,
    config: SynthConfig,
    annotations_dir: Path | None = None,
    on_video: Callable[[str], None] | None = None,
) -> SynthSummary:
    """Write a TSL-300-shaped dataset in the released layout under ``out``.

    annotations_dir: a TSL-300 annotation folder (videosenti_gt.json, gt.json, fps_dict.json,
    len_duration_dict.json, split_*.txt, point_gaussian/point_labels.csv) whose videos,
    durations, frame rates, segments, points and splits are used; None uses the seeded
    generator. on_video: called with each video id after its features are written
    (for a progress bar). Every file is written atomically.
    """
    out = Path(out)
    if annotations_dir is not None:
        videos, orders = read_annotation_videos(Path(annotations_dir), config)
        source = str(annotations_dir)
    else:
        videos = generate_videos(config)
        orders = {"gt": [video.video_id for video in videos]}
        for split in ("train", "test"):
            orders[split] = [video.video_id for video in videos if video.split == split]
        source = "generator"
    _prepare_out(out)
    directions = stream_directions(config)
    chosen = feature_videos(videos, config.feature_video_limit)
    bytes_written = 0
    for index in chosen:
        video = videos[index]
        for stream, array in video_feature_arrays(video, index, config, directions).items():
            atomic_save_npy(out / "features" / video.split / RELEASE_FOLDERS[stream] / f"{video.video_id}.npy", array)
            bytes_written += array.nbytes
        if on_video is not None:
            on_video(video.video_id)

    ordered = [video.video_id for video in videos]
    by_id = {video.video_id: video for video in videos}
    gt_videos = [by_id[video_id] for video_id in orders["gt"]]
    atomic_write_text(out / RELEASE_TEST_GT, json.dumps(_ground_truth(videos, orders["gt"], test_only=True)))
    atomic_write_text(out / RELEASE_BOTH_SPLITS_GT, json.dumps(_ground_truth(videos, ordered, test_only=False)))
    for split in ("train", "test"):
        atomic_write_text(out / split_file_name(split), "".join(f"{video_id}\n" for video_id in orders[split]))
    atomic_write_text(out / RELEASE_FRAME_RATES_FILE, json.dumps({v.video_id: v.fps for v in gt_videos}))
    atomic_write_text(out / RELEASE_DURATIONS_FILE, json.dumps({v.video_id: v.duration_seconds for v in gt_videos}))
    atomic_write_text(out / RELEASE_TEST_DURATIONS_FILE,
                      json.dumps({v.video_id: v.duration_seconds for v in gt_videos if v.split == "test"}))
    atomic_write_text(out / RELEASE_POINTS_FILE, _points_csv(videos))
    summary = SynthSummary(
        out=out,
        videos=len(videos),
        train_videos=sum(video.split == "train" for video in videos),
        test_videos=sum(video.split == "test" for video in videos),
        segments=sum(len(video.segments) for video in videos),
        points=sum(len(video.points) for video in videos),
        feature_videos=len(chosen),
        source=source,
        bytes_written=bytes_written,
    )
    marker = {
        "generator": "pipeline/synthetic/release.py write_synthetic_release",
        "source": source,
        "config": {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(config).items()},
        "summary": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(summary).items()},
        "planted": "per stream: strength x intensity (ramped boundaries) along sentiment+class unit directions; "
        "distractors along sentiment + mean class direction; no-face stretches are zero img rows",
    }
    atomic_write_text(out / MARKER_NAME, json.dumps(marker, indent=2) + "\n")
    return summary
