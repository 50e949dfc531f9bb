"""Datasets: per-video features on one snippet grid plus their annotations.

A :class:`SentimentDataset` holds one :class:`VideoSample` per video, its splits and its
:class:`~pipeline.data.feature_spec.FeatureSpec`. Two sources build one
(pipeline/data/sources.py): a feature cache made by `extract` (pipeline/data/cached.py)
and a public feature release (pipeline/data/release.py); this module holds what both
share: placing points and segments on a video's grid, the video labels, the validation
carve (always from training videos, never from the test split) and the class names shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.data.annotations import AnnotationSet, ClassVocabulary
from pipeline.data.feature_spec import FeatureSpec

SPLITS: tuple[str, ...] = ("train", "validation", "test")


class DatasetError(Exception):
    """A dataset that cannot be built; one line naming the file or video and the fix."""


@dataclass(frozen=True)
class FaceEmotions:
    """The face stream's per-snippet emotion probabilities (ResEmoteNet's, cached as the
    face stream's `emotion` extra) and the names of their classes.

    Attributes:
        probabilities: (T, E) float32: per snippet, the mean emotion probabilities over its
            sampled frames with a face (each row sums to 1 where a face was seen, zeros where none).
        names: the E class names, in column order (the checkpoint's, as face.emotion_labels
            names them; recorded as `emotion_classes` in the face stream's extractor identity).
    """

    probabilities: np.ndarray
    names: tuple[str, ...]


@dataclass
class VideoFeatures:
    """One video's features before annotations.

    Attributes:
        features: stream name -> (T, D_s) float32, all with the same T.
        face_mask: (T,) float32 in [0, 1] (how much face each snippet had), None without a
            face stream.
        snippet_seconds: length of one snippet in seconds.
        duration_seconds: the video's duration in seconds.
        native_fps: the video's own frame rate (frames per second), None when unknown.
        face_emotions: the face stream's emotion probabilities, None without a face stream
            or without its emotion extra (public feature releases).
    """

    features: dict[str, np.ndarray]
    face_mask: np.ndarray | None
    snippet_seconds: float
    duration_seconds: float
    native_fps: float | None = None
    face_emotions: FaceEmotions | None = None

    @property
    def num_snippets(self) -> int:
        return next(iter(self.features.values())).shape[0]


@dataclass
class VideoSample:
    """One video: features on its snippet grid and its annotations.

    Attributes:
        video_id: the video.
        features: stream name -> (T, D_s) float32, all with the same T.
        face_mask: (T,) float32 in [0, 1] (how much face each snippet had), None without a
            face stream.
        snippet_seconds: length of one snippet in seconds (released layout: 16 / native fps).
        duration_seconds: the video's duration in seconds.
        points: (P, 2) int64: snippet index, class index.
        point_seconds: (P,) float64 time of each point in seconds.
        segments: (S, 3) float64: start s, end s, class index (empty when unknown).
        video_labels: (C,) float32 0/1: classes present (from points, else segments, else
            the video-label file).
        native_fps: the video's own frame rate (frames per second), None when unknown.
        face_emotions: the face stream's emotion probabilities (FaceEmotions), None without
            a face stream or its emotion extra.
    """

    video_id: str
    features: dict[str, np.ndarray]
    face_mask: np.ndarray | None
    snippet_seconds: float
    duration_seconds: float
    points: np.ndarray
    point_seconds: np.ndarray
    segments: np.ndarray
    video_labels: np.ndarray
    native_fps: float | None = None
    face_emotions: FaceEmotions | None = None

    @property
    def num_snippets(self) -> int:
        """T, the number of snippets (rows of every stream)."""
        return next(iter(self.features.values())).shape[0]


@dataclass
class SentimentDataset:
    """Samples by video id, their splits, and what the features are.

    Attributes:
        class_names: class names in index order, spelled as the annotations spell them
            (("n", "p") for TSL-300's files; the configured names when spellings mix).
        samples: video id -> VideoSample.
        splits: "train", "validation", "test" -> sorted video ids (validation carved from
            train, never from test).
        feature_spec: what the features are (streams and widths, grid, extractor identities).
        problems: every annotation / alignment problem found, one line each.
        annotation_files: kind ("points", "segments", "video_labels") -> files read.
        vocabulary: the configured classes and accepted spellings (label -> index).
        notes: what the loader decided that is worth saying (not problems), one line each.
    """

    class_names: tuple[str, ...]
    samples: dict[str, VideoSample]
    splits: dict[str, list[str]]
    feature_spec: FeatureSpec
    problems: list[str]
    annotation_files: dict[str, list[str]] = field(default_factory=dict)
    vocabulary: ClassVocabulary | None = None
    notes: list[str] = field(default_factory=list)


def carve_validation(train_ids: list[str], fraction: float, seed: int,
                     preferred: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Split training videos into (train, validation), seeded and order-independent.

    round(fraction * n) videos (at least 1 when fraction > 0 and n >= 2, never all) are
    drawn; when ``preferred`` (e.g. the videos that have segments, so validation can be
    scored) holds enough of them, they are drawn from those. Returns sorted id lists.
    """
    ids = sorted(train_ids)
    count = round(fraction * len(ids))
    if fraction > 0 and len(ids) >= 2:
        count = min(max(count, 1), len(ids) - 1)
    else:
        count = 0
    pool = sorted(v for v in ids if preferred is not None and v in preferred)
    if len(pool) < count or count == 0:
        pool = ids
    rng = np.random.default_rng(seed)
    chosen = set(pool[i] for i in rng.permutation(len(pool))[:count])
    return [v for v in ids if v not in chosen], sorted(chosen)


def _snippet_of_seconds(seconds: float, snippet_seconds: float) -> int:
    """Index of the snippet containing `seconds` (floor, robust to float error)."""
    return math.floor(round(seconds / snippet_seconds, 6))


def _place_points(
    video_id: str,
    annotations: AnnotationSet,
    num_snippets: int,
    snippet_seconds: float,
    snippet_frames: int | None,
    tolerance: int,
    problems: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """(P, 2) int64 [snippet, class] and (P,) float64 seconds of a video's points.

    A point past the last snippet (features a few rows shorter than the video) is moved to
    the last snippet when it is within ``tolerance`` snippets of it (with a problem line;
    silently when it lies inside the last snippet's time span), else dropped with one.
    """
    rows, seconds = [], []
    for point in annotations.points:
        if point.video_id != video_id:
            continue
        if point.frame is not None and snippet_frames is not None:
            index = point.frame // snippet_frames
        else:
            index = _snippet_of_seconds(point.seconds, snippet_seconds)
        if index >= num_snippets:
            beyond = index - (num_snippets - 1)
            if point.seconds <= num_snippets * snippet_seconds + 1e-6:
                pass  # the end of the last snippet (e.g. a point exactly at the duration)
            elif beyond <= tolerance:
                problems.append(
                    f"{point.where}: point at {point.seconds:.3f} s is in snippet {index}, past the features' "
                    f"{num_snippets} snippets; moved to the last snippet"
                )
            else:
                problems.append(
                    f"{point.where}: point at {point.seconds:.3f} s is in snippet {index}, past the features' "
                    f"{num_snippets} snippets; dropped"
                )
                continue
            index = num_snippets - 1
        rows.append((index, point.class_index))
        seconds.append(point.seconds)
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2), np.asarray(seconds, dtype=np.float64)


def _video_labels(points: np.ndarray, segments: np.ndarray, annotations: AnnotationSet, video_id: str,
                  num_classes: int) -> np.ndarray:
    """(C,) float32 0/1: the classes of the points, else of the segments, else the video-label file's."""
    video_labels = np.zeros(num_classes, dtype=np.float32)
    if len(points):
        video_labels[np.unique(points[:, 1])] = 1.0
    elif len(segments):
        video_labels[np.unique(segments[:, 2].astype(np.int64))] = 1.0
    else:
        for label in annotations.video_labels:
            if label.video_id == video_id:
                video_labels[label.class_index] = 1.0
    return video_labels


def build_sample(
    video_id: str,
    video: VideoFeatures,
    annotations: AnnotationSet,
    num_classes: int,
    problems: list[str],
    snippet_frames: int | None = None,
    tolerance: int = 0,
) -> VideoSample:
    """A video's sample: its features with its points (placed on its grid; see
    _place_points for `snippet_frames` and `tolerance`), segments and video labels.
    Problems found are appended to `problems`."""
    points, point_seconds = _place_points(
        video_id, annotations, video.num_snippets, video.snippet_seconds, snippet_frames, tolerance, problems
    )
    segments = np.asarray(
        [(s.start_seconds, s.end_seconds, s.class_index) for s in annotations.segments if s.video_id == video_id],
        dtype=np.float64,
    ).reshape(-1, 3)
    return VideoSample(
        video_id=video_id,
        features=video.features,
        face_mask=video.face_mask,
        snippet_seconds=float(video.snippet_seconds),
        duration_seconds=float(video.duration_seconds),
        points=points,
        point_seconds=point_seconds,
        segments=segments,
        video_labels=_video_labels(points, segments, annotations, video_id, num_classes),
        native_fps=video.native_fps,
        face_emotions=video.face_emotions,
    )


def unannotated_sample(video_id: str, video: VideoFeatures, num_classes: int) -> VideoSample:
    """A sample without points, segments or labels (a new video to localize)."""
    return build_sample(video_id, video, AnnotationSet(), num_classes, [])


def display_class_names(vocabulary: ClassVocabulary, annotations: AnnotationSet) -> tuple[str, ...]:
    """Each class as the annotations spell it when they use one spelling, else its configured name."""
    spellings: list[set[str]] = [set() for _ in vocabulary.class_names]
    for record in [*annotations.points, *annotations.segments, *annotations.video_labels]:
        spellings[record.class_index].add(record.label.strip())
    names = tuple(
        next(iter(seen)) if len(seen) == 1 else configured
        for seen, configured in zip(spellings, vocabulary.class_names, strict=True)
    )
    return names if len({n.lower() for n in names}) == len(names) else vocabulary.class_names


def points_outside_segments(samples: dict[str, VideoSample]) -> str | None:
    """One line counting the points that lie outside every segment of their class in
    videos that have segments (points and segments disagree), or None when none do."""
    outside = total = 0
    for sample in samples.values():
        if not len(sample.segments):
            continue
        for (_, class_index), seconds in zip(sample.points, sample.point_seconds, strict=True):
            same_class = sample.segments[sample.segments[:, 2] == class_index]
            total += 1
            outside += not np.any((same_class[:, 0] <= seconds) & (seconds <= same_class[:, 1]))
    if not outside:
        return None
    return (
        f"{outside} of {total} points in videos with segments lie outside every segment of their class "
        "(the point and segment annotations disagree there; kept as given)"
    )


def face_mask_from_rows(face: np.ndarray) -> np.ndarray:
    """(T,) float32: 1 where the face row is not all zero (a face was seen), else 0."""
    return np.any(face != 0, axis=1).astype(np.float32)

