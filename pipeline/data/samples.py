"""Datasets: per-video features on one snippet grid plus their annotations.

Two sources, recognised by the folder's contents (:func:`load_dataset`):

- **a project feature cache** (``cache.json`` present): streams are read only through
  :class:`cache.store.FeatureCache`; every stream already has exactly T rows on the
  cache's snippet grid. Annotations come from the file(s) passed as ``annotations``
  (points / segments / video labels, see :mod:`pipeline.data.annotations`); splits come from
  an ActivityNet JSON's "subset" field when present, else every annotated video is
  training data and a validation split is carved out of it.
- **the TSL-300 / FSENet released layout** (``features/{train,test}/...`` present):
  ``features/<split>/rgb/<video>.npy`` (I3D, one row per 16 native frames),
  ``logmfcc/`` (k rows of a 60-band log-mel spectrogram per snippet: folded into one row
  of width k * 60, k inferred from the row ratio to the other streams), ``img/`` (faces,
  one row per snippet; all-zero rows mean no face), with ``split_train.txt`` /
  ``split_test.txt``, ``fps_dict.json``, ``len_duration_dict.json`` (optional),
  ``videosenti_gt.json`` or ``gt.json`` (segments) and ``point_gaussian/point_labels.csv``
  (points as native-frame indices: snippet = point // 16, seconds = point / fps).
  A snippet of a video lasts 16 / fps seconds, so the grid differs per video.

Alignment of the released streams: after folding, stream row counts that differ by at
most ``data.alignment_tolerance_rows`` snippets are trimmed to the shortest with a line in
``problems``; a larger difference is a :class:`DatasetError` naming the video.
The validation split is always carved from training videos, never from the test split.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cache.store import CacheError, FeatureCache, canonical
from model.config import KNOWN_STREAMS
from pipeline.data.annotations import (
    AnnotationError,
    AnnotationSet,
    ClassVocabulary,
    parse_label_aliases,
    raise_if_strict,
    read_annotations,
    read_release_points_csv,
    read_segments_json,
)

SPLITS: tuple[str, ...] = ("train", "validation", "test")
RELEASE_SPLIT_FOLDERS: tuple[str, ...] = ("train", "test")
RELEASE_POINTS_FILE = Path("point_gaussian") / "point_labels.csv"
RELEASE_SEGMENT_FILES: tuple[str, ...] = ("videosenti_gt.json", "gt.json")  # first present is used
TSL300_AUDIO_ROWS_PER_SNIPPET = 32  # logmfcc rows per 16-frame snippet in TSL-300's release (method.md)


class DatasetError(Exception):
    """A dataset that cannot be built; one line naming the file or video and the fix."""


@dataclass(frozen=True)
class DataConfig:
    """How features and annotations become a dataset (config section ``data``).

    Attributes:
        class_names: sentiment classes in index order (index 0..C-1).
        label_aliases: "ALIAS=CLASS" spellings annotations may use (TSL-300: n, p).
        streams: streams to use (visual, audio, face); empty = every stream available.
        validation_fraction: share of the training videos held out for model selection.
        split_seed: seed of the validation carve.
        release_visual_folder / release_audio_folder / release_face_folder: the released
            layout's folder of each stream under features/<split>/.
        release_snippet_frames: native frames per snippet in the released layout.
        release_audio_rows_per_snippet: rows of the audio folder per snippet; 0 = infer:
            32 (TSL-300's) when it fits every video, else from the row ratio to the
            other streams (see infer_rows_per_snippet).
        release_audio_offset / release_audio_scale: released audio rows become
            (x + offset) / scale (the TSL-300 authors' normalisation of log-mel dB values).
        alignment_tolerance_rows: released streams whose snippet counts differ by at most
            this many rows are trimmed to the shortest (with a warning); more is an error.
        strict: annotation problems and videos left out are errors instead of warnings.
    """

    class_names: tuple[str, ...] = ("negative", "positive")
    label_aliases: tuple[str, ...] = ("n=negative", "p=positive")
    streams: tuple[str, ...] = ()
    validation_fraction: float = 0.1
    split_seed: int = 0
    release_visual_folder: str = "rgb"
    release_audio_folder: str = "logmfcc"
    release_face_folder: str = "img"
    release_snippet_frames: int = 16
    release_audio_rows_per_snippet: int = 0
    release_audio_offset: float = 50.0
    release_audio_scale: float = 80.0
    alignment_tolerance_rows: int = 3
    strict: bool = False

    def __post_init__(self) -> None:
        if not self.class_names or any(not name.strip() for name in self.class_names):
            raise ValueError(f"data.class_names must list non-empty class names, got {list(self.class_names)}")
        try:
            ClassVocabulary(self.class_names, parse_label_aliases(self.label_aliases))
        except ValueError as error:
            raise ValueError(f"data.label_aliases: {error}") from None
        unknown = [s for s in self.streams if s not in KNOWN_STREAMS]
        if unknown:
            raise ValueError(f"data.streams: unknown stream {unknown[0]!r}; choose from {', '.join(KNOWN_STREAMS)}")
        if len(set(self.streams)) != len(self.streams):
            raise ValueError(f"data.streams lists a stream twice: {list(self.streams)}")
        if not (0.0 <= self.validation_fraction < 1.0):
            raise ValueError(f"data.validation_fraction must be in [0, 1), got {self.validation_fraction}")
        folders = [self.release_visual_folder, self.release_audio_folder, self.release_face_folder]
        if any(not f or "/" in f or "\\" in f for f in folders) or len(set(folders)) != 3:
            raise ValueError(f"data.release_*_folder must be three different plain folder names, got {folders}")
        if self.release_snippet_frames < 1:
            raise ValueError(f"data.release_snippet_frames must be >= 1, got {self.release_snippet_frames}")
        if self.release_audio_rows_per_snippet < 0:
            raise ValueError(
                f"data.release_audio_rows_per_snippet must be >= 0 (0 = infer), got {self.release_audio_rows_per_snippet}"
            )
        if not (math.isfinite(self.release_audio_offset) and math.isfinite(self.release_audio_scale)):
            raise ValueError("data.release_audio_offset and data.release_audio_scale must be finite numbers")
        if self.release_audio_scale == 0:
            raise ValueError("data.release_audio_scale must not be 0")
        if self.alignment_tolerance_rows < 0:
            raise ValueError(f"data.alignment_tolerance_rows must be >= 0, got {self.alignment_tolerance_rows}")

    def vocabulary(self) -> ClassVocabulary:
        return ClassVocabulary(self.class_names, parse_label_aliases(self.label_aliases))

    def release_stream_folders(self) -> dict[str, str]:
        """stream name -> its folder in the released layout."""
        return {"visual": self.release_visual_folder, "audio": self.release_audio_folder, "face": self.release_face_folder}


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
        feature_spec: {"streams": {name: width}, "snippet_seconds": float | None (None when
            per video), "extractors": {name: identity or release-layout description},
            "random_weights": bool, "source": "cache" | "release", "grid": {...},
            "path": str}.
        problems: every annotation / alignment problem found, one line each.
        annotation_files: kind ("points", "segments", "video_labels") -> files read.
        vocabulary: the configured classes and accepted spellings (label -> index).
    """

    class_names: tuple[str, ...]
    samples: dict[str, VideoSample]
    splits: dict[str, list[str]]
    feature_spec: dict
    problems: list[str]
    annotation_files: dict[str, list[str]] = field(default_factory=dict)
    vocabulary: ClassVocabulary | None = None

    def split_samples(self, split: str) -> list[VideoSample]:
        """The samples of one split, in the split's order."""
        if split not in self.splits:
            raise KeyError(f"unknown split {split!r}; choose from {', '.join(self.splits)}")
        return [self.samples[video_id] for video_id in self.splits[split]]

    def summary(self) -> str:
        """One line: videos per split, streams and widths, labels, problems."""
        streams = ", ".join(f"{name} {width}" for name, width in self.feature_spec["streams"].items())
        points = sum(len(s.points) for s in self.samples.values())
        segments = sum(len(s.segments) for s in self.samples.values())
        split_counts = ", ".join(f"{name} {len(ids)}" for name, ids in self.splits.items())
        return (
            f"{len(self.samples)} videos ({split_counts}); streams: {streams}; "
            f"classes {list(self.class_names)}; {points} points, {segments} segments; {len(self.problems)} problem(s)"
        )


# -- entry point ------------------------------------------------------------------------
def detect_source(path: Path) -> str:
    """"cache" or "release" from the folder's contents, else DatasetError."""
    path = Path(path)
    if (path / "cache.json").is_file():
        return "cache"
    if any((path / "features" / split).is_dir() for split in RELEASE_SPLIT_FOLDERS):
        return "release"
    raise DatasetError(
        f"{path}: neither a feature cache (no cache.json) nor a folder in the TSL-300 released layout "
        "(no features/train or features/test); pass the folder given to `extract --cache` or the release folder"
    )


def load_dataset(path: Path, data: DataConfig, annotations: Path | None = None) -> SentimentDataset:
    """A dataset from a feature cache or a released-layout folder (recognised by contents).

    annotations: a file or a folder of files (points CSV, segments CSV/JSON, video-label
    CSV). Required for a feature cache; for the released layout, the kinds it provides
    replace the release's own (point_labels.csv, videosenti_gt.json / gt.json).
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: features folder not found; pass a feature cache or a released-layout folder")
    source = detect_source(path)
    try:
        if source == "cache":
            return _load_cache_dataset(path, data, annotations)
        return _load_release_dataset(path, data, annotations)
    except AnnotationError as error:
        raise DatasetError(str(error)) from None


# -- shared steps -----------------------------------------------------------------------
def carve_validation(train_ids: list[str], fraction: float, seed: int, preferred: set[str] | None = None) -> tuple[list[str], list[str]]:
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


def _build_sample(
    video_id: str,
    features: dict[str, np.ndarray],
    face_mask: np.ndarray | None,
    snippet_seconds: float,
    duration_seconds: float,
    annotations: AnnotationSet,
    num_classes: int,
    snippet_frames: int | None,
    tolerance: int,
    problems: list[str],
) -> VideoSample:
    num_snippets = next(iter(features.values())).shape[0]
    points, point_seconds = _place_points(
        video_id, annotations, num_snippets, snippet_seconds, snippet_frames, tolerance, problems
    )
    segments = np.asarray(
        [(s.start_seconds, s.end_seconds, s.class_index) for s in annotations.segments if s.video_id == video_id],
        dtype=np.float64,
    ).reshape(-1, 3)
    video_labels = np.zeros(num_classes, dtype=np.float32)
    if len(points):
        video_labels[np.unique(points[:, 1])] = 1.0
    elif len(segments):
        video_labels[np.unique(segments[:, 2].astype(np.int64))] = 1.0
    else:
        for label in annotations.video_labels:
            if label.video_id == video_id:
                video_labels[label.class_index] = 1.0
    return VideoSample(
        video_id=video_id,
        features=features,
        face_mask=face_mask,
        snippet_seconds=float(snippet_seconds),
        duration_seconds=float(duration_seconds),
        points=points,
        point_seconds=point_seconds,
        segments=segments,
        video_labels=video_labels,
    )


def _display_class_names(vocabulary: ClassVocabulary, annotations: AnnotationSet) -> tuple[str, ...]:
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


def _face_mask_from_rows(face: np.ndarray) -> np.ndarray:
    """(T,) float32: 1 where the face row is not all zero (a face was seen), else 0."""
    return np.any(face != 0, axis=1).astype(np.float32)


# -- feature cache ----------------------------------------------------------------------
@dataclass
class CachedStreams:
    """Features of several cached videos, read through the cache, and what made them.

    Attributes:
        videos: video id -> (stream name -> (T, D_s) float32 features, face mask (T,)
            float32 in [0, 1] or None without a face stream).
        streams: the streams read, in KNOWN_STREAMS order.
        widths: stream -> D_s (the same for every video).
        identities: stream -> extractor identity of the first video read.
        random_streams: streams some video had extracted with random weights.
        grids: per video, its snippet grid without num_snippets.
    """

    videos: dict[str, tuple[dict[str, np.ndarray], np.ndarray | None]]
    streams: list[str]
    widths: dict[str, int]
    identities: dict[str, dict]
    random_streams: set[str]
    grids: list[dict]

    def feature_spec(self, path: Path) -> dict:
        """The dataset-level feature spec (see SentimentDataset.feature_spec)."""
        uniform_grid = bool(self.grids) and all(canonical(g) == canonical(self.grids[0]) for g in self.grids)
        return {
            "source": "cache",
            "path": str(path),
            "streams": {stream: self.widths[stream] for stream in self.streams},
            "snippet_seconds": float(self.grids[0]["snippet_seconds"]) if uniform_grid else None,
            "grid": self.grids[0] if uniform_grid else None,
            "extractors": self.identities,
            "random_weights": bool(self.random_streams),
        }


def _read_cached_streams(
    cache: FeatureCache, metas: dict[str, dict], video_ids: list[str], streams: list[str], problems: list[str]
) -> CachedStreams:
    """Read `streams` of `video_ids` through the cache; widths must agree across videos
    (else DatasetError), another extractor identity than the first video's is a problem line."""
    read = CachedStreams({}, list(streams), {}, {}, set(), [])
    for video_id in video_ids:
        features: dict[str, np.ndarray] = {}
        face_mask = None
        for stream in streams:
            try:
                loaded = cache.load_stream(video_id, stream)
            except CacheError as error:
                raise DatasetError(str(error)) from None
            array = np.asarray(loaded.features, dtype=np.float32)
            identity = loaded.record["extractor"]
            if stream not in read.widths:
                read.widths[stream], read.identities[stream] = array.shape[1], identity
            elif array.shape[1] != read.widths[stream]:
                raise DatasetError(
                    f"{cache.entry_dir(video_id)}: stream {stream} is {array.shape[1]} wide, other videos "
                    f"{read.widths[stream]}; run `extract` again with one config for every video"
                )
            elif canonical(identity) != canonical(read.identities[stream]):
                problems.append(
                    f"{cache.entry_dir(video_id)}: stream {stream} was made by another extractor config or weights "
                    "than the first video's; run `extract` again so every video matches"
                )
            weights = identity.get("weights")
            if isinstance(weights, dict) and weights.get("random"):
                read.random_streams.add(stream)
            features[stream] = array
            if stream == "face":
                face_mask = (
                    np.clip(np.asarray(loaded.mask, dtype=np.float32), 0.0, 1.0)
                    if loaded.mask is not None
                    else _face_mask_from_rows(array)
                )
        read.videos[video_id] = (features, face_mask)
        read.grids.append({k: v for k, v in metas[video_id]["grid"].items() if k != "num_snippets"})
    return read


def samples_from_cache(
    cache_dir: Path, video_ids: list[str], streams: list[str] | tuple[str, ...], num_classes: int = 2
) -> tuple[dict[str, VideoSample], dict]:
    """Samples without annotations (for localizing new videos) and their feature spec.

    cache_dir: a feature cache made by `extract`; every video in `video_ids` must have
    every stream in `streams` (else DatasetError naming the entry and the fix).
    num_classes: C, the length of the (all-zero) video_labels.
    Returns (video id -> VideoSample with empty points and segments, feature spec as in
    SentimentDataset.feature_spec: streams and widths, grid, extractor identities,
    random_weights).
    """
    cache = FeatureCache(cache_dir)
    if not cache.is_cache():
        raise DatasetError(f"{cache_dir}: not a feature cache (no cache.json); run `extract` first")
    streams = [s for s in KNOWN_STREAMS if s in streams]
    metas: dict[str, dict] = {}
    for video_id in video_ids:
        meta = cache.read_meta(video_id)
        if meta is None:
            raise DatasetError(f"{cache.entry_dir(video_id)}: no valid cache entry; run `extract` first")
        metas[video_id] = meta
    problems: list[str] = []
    read = _read_cached_streams(cache, metas, list(video_ids), streams, problems)
    if problems:
        raise DatasetError(problems[0])
    samples = {
        video_id: VideoSample(
            video_id=video_id,
            features=read.videos[video_id][0],
            face_mask=read.videos[video_id][1],
            snippet_seconds=float(metas[video_id]["grid"]["snippet_seconds"]),
            duration_seconds=float(metas[video_id]["probe"]["duration_seconds"]),
            points=np.zeros((0, 2), dtype=np.int64),
            point_seconds=np.zeros(0, dtype=np.float64),
            segments=np.zeros((0, 3), dtype=np.float64),
            video_labels=np.zeros(num_classes, dtype=np.float32),
        )
        for video_id in video_ids
    }
    return samples, read.feature_spec(Path(cache_dir))


def _load_cache_dataset(path: Path, data: DataConfig, annotations: Path | None) -> SentimentDataset:
    cache = FeatureCache(path)
    if annotations is None:
        raise DatasetError(
            f"{path}: a feature cache has no labels; pass --annotations FILE (points CSV video_id,time_s,label, "
            "segments CSV/JSON or video labels CSV video_id,label)"
        )
    vocabulary = data.vocabulary()
    metas = {video_id: cache.read_meta(video_id) for video_id in cache.video_ids()}
    metas = {video_id: meta for video_id, meta in metas.items() if meta is not None and meta.get("streams")}
    if not metas:
        raise DatasetError(f"{path}: the feature cache holds no complete video; run `extract` first")
    durations = {video_id: float(meta["probe"]["duration_seconds"]) for video_id, meta in metas.items()}
    frame_rates = {
        video_id: float(meta["probe"]["native_fps"])
        for video_id, meta in metas.items()
        if meta["probe"].get("native_fps")
    }
    annotation_set = read_annotations(annotations, vocabulary, durations, frame_rates)
    annotation_problems = list(annotation_set.problems)
    problems: list[str] = []

    video_ids = sorted(annotation_set.videos & set(metas))
    unannotated = sorted(set(metas) - annotation_set.videos)
    if unannotated:
        shown = ", ".join(unannotated[:5]) + (" ..." if len(unannotated) > 5 else "")
        problems.append(f"{path}: {len(unannotated)} cached video(s) have no annotation and are left out: {shown}")
    if not video_ids:
        raise DatasetError(f"{annotations}: names none of the {len(metas)} videos in the feature cache {path}")

    # Streams: the configured ones (every video must have them), else those every video has.
    available = {video_id: set(metas[video_id]["streams"]) for video_id in video_ids}
    if data.streams:
        streams = [s for s in KNOWN_STREAMS if s in data.streams]
        lacking = [v for v in video_ids if not set(streams) <= available[v]]
        for video_id in lacking:
            missing = sorted(set(streams) - available[video_id])
            annotation_problems.append(
                f"{cache.entry_dir(video_id)}: stream(s) {', '.join(missing)} not cached; video left out "
                f"(run `extract --streams {','.join(streams)}`)"
            )
        video_ids = [v for v in video_ids if v not in lacking]
        if not video_ids:
            raise DatasetError(f"{path}: no annotated video has all of data.streams = {streams}; run `extract` for them")
    else:
        common = set.intersection(*available.values())
        union = set.union(*available.values())
        for stream in sorted(union - common):
            count = sum(stream in s for s in available.values())
            problems.append(
                f"{path}: stream {stream!r} is cached for {count} of {len(video_ids)} annotated videos; not used "
                f"(extract it for every video, or set data.streams)"
            )
        streams = [s for s in KNOWN_STREAMS if s in common]
        if not streams:
            raise DatasetError(f"{path}: the annotated videos share no cached stream; run `extract` for all of them")

    streams_read = _read_cached_streams(cache, metas, video_ids, streams, problems)
    samples: dict[str, VideoSample] = {}
    for video_id in video_ids:
        features, face_mask = streams_read.videos[video_id]
        samples[video_id] = _build_sample(
            video_id,
            features,
            face_mask,
            float(metas[video_id]["grid"]["snippet_seconds"]),
            float(metas[video_id]["probe"]["duration_seconds"]),
            annotation_set,
            len(vocabulary.class_names),
            None,
            data.alignment_tolerance_rows,
            annotation_problems,
        )
    for stream in sorted(streams_read.random_streams):
        problems.append(
            f"{path}: stream {stream!r} was extracted with random weights (--random-weights); "
            "its features carry no learned meaning"
        )
    disagreement = points_outside_segments(samples)
    if disagreement:
        problems.append(disagreement)
    raise_if_strict(annotation_problems, data.strict, str(annotations))

    splits = _splits_from_subsets(list(samples), annotation_set, data, problems)
    feature_spec = streams_read.feature_spec(path)
    return SentimentDataset(
        class_names=_display_class_names(vocabulary, annotation_set),
        samples=samples,
        splits=splits,
        feature_spec=feature_spec,
        problems=annotation_problems + problems,
        annotation_files=annotation_set.files,
        vocabulary=vocabulary,
    )


def _splits_from_subsets(
    video_ids: list[str], annotation_set: AnnotationSet, data: DataConfig, problems: list[str]
) -> dict[str, list[str]]:
    """Splits from the annotations' subsets; videos without one are training videos;
    validation is carved from training when no video is in a "validation" subset."""
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    for video_id in sorted(video_ids):
        subset = annotation_set.subsets.get(video_id, "train")
        if subset in splits:
            splits[subset].append(video_id)
    if not splits["validation"]:
        with_segments = {v for v in splits["train"] if any(s.video_id == v for s in annotation_set.segments)}
        splits["train"], splits["validation"] = carve_validation(
            splits["train"], data.validation_fraction, data.split_seed, with_segments
        )
    if not splits["train"]:
        problems.append("no training video: every annotated video is in the validation or test subset")
    return splits


# -- released layout --------------------------------------------------------------------
def _read_json_object(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DatasetError(f"{path}: cannot read ({error.strerror})") from None
    except ValueError as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise DatasetError(f"{path}: expected a JSON object of video -> number")
    return value


def _read_split_file(path: Path) -> list[str]:
    """Video ids of a split_*.txt, one per line (blank lines ignored)."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _load_release_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: unreadable feature file ({type(error).__name__}: {error})") from None
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise DatasetError(f"{path}: expected a (rows, width) array, got shape {list(array.shape)}")
    array = np.asarray(array, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise DatasetError(f"{path}: holds NaN or infinite values")
    return array


@dataclass
class _ReleaseVideo:
    """One released video's aligned streams; ``audio_remainder_rows`` rows past the last
    whole audio snippet were dropped."""

    features: dict[str, np.ndarray]
    audio_remainder_rows: int = 0


def infer_rows_per_snippet(
    audio_rows: list[int],
    reference_snippets: list[float],
    tolerance: int,
    documented: int = TSL300_AUDIO_ROWS_PER_SNIPPET,
) -> int:
    """k, the audio rows per snippet, from every video at once.

    audio_rows: per video, rows of the audio file; reference_snippets: per video, the
    snippet count of the other streams (their mean) or of the duration.
    The documented k (TSL-300: 32) is kept when it fits every video within ``tolerance``
    snippets. Otherwise k is the integer near the overall row ratio minimising
    sum |floor(audio_rows / k) - reference|: rows past the last whole snippet cost nothing
    and a few rows' jitter little, while a wrong k costs about T / k snippets per video,
    so long videos decide. (On short videos, T below ~50 snippets, a few rows' jitter can
    make k and k + 1 fit about equally: hence the documented value first; set
    data.release_audio_rows_per_snippet to be explicit.)
    """
    rows = np.asarray(audio_rows, dtype=np.float64)
    reference = np.asarray(reference_snippets, dtype=np.float64)

    def mismatch(k: int) -> np.ndarray:
        return np.abs(np.floor(rows / k) - reference)

    if documented >= 1 and np.all(mismatch(documented) <= tolerance + 0.5):
        return documented
    ratio = rows.sum() / max(reference.sum(), 1.0)
    candidates = range(max(1, math.floor(ratio) - 2), math.ceil(ratio) + 3)
    return min(candidates, key=lambda k: (mismatch(k).sum(), k))


def align_release_streams(
    video_id: str,
    arrays: dict[str, np.ndarray],
    audio_stream: str | None,
    audio_rows_per_snippet: int,
    tolerance: int,
    problems: list[str],
) -> _ReleaseVideo:
    """Fold the audio stream and trim every stream to the shortest.

    arrays: stream -> raw (rows, width) array. The audio stream (``audio_rows_per_snippet``
    = k rows per snippet) becomes (rows // k, k * width); rows past the last whole
    snippet are dropped. Streams whose snippet counts then differ by <= ``tolerance``
    are trimmed to the shortest with a line in ``problems``; more raises DatasetError
    naming the video.
    """
    aligned: dict[str, np.ndarray] = {}
    remainder = 0
    for name, array in arrays.items():
        if name != audio_stream:
            aligned[name] = array
            continue
        k = audio_rows_per_snippet
        snippets = array.shape[0] // k
        if snippets < 1:
            raise DatasetError(f"video {video_id}: audio has {array.shape[0]} rows, fewer than one snippet of {k}")
        remainder = array.shape[0] - snippets * k
        aligned[name] = array[: snippets * k].reshape(snippets, k * array.shape[1])
    counts = {name: a.shape[0] for name, a in aligned.items()}
    shortest, longest = min(counts.values()), max(counts.values())
    described = ", ".join(f"{name} {count}" for name, count in counts.items())
    if longest - shortest > tolerance:
        raise DatasetError(
            f"video {video_id}: streams disagree by {longest - shortest} snippets ({described}), more than "
            f"data.alignment_tolerance_rows = {tolerance}; the feature files do not belong together"
        )
    if longest != shortest:
        problems.append(f"video {video_id}: stream snippet counts differ ({described}); trimmed to {shortest}")
        aligned = {name: a[:shortest] for name, a in aligned.items()}
    return _ReleaseVideo(aligned, remainder)


def _load_release_dataset(path: Path, data: DataConfig, annotations: Path | None) -> SentimentDataset:
    vocabulary = data.vocabulary()
    problems: list[str] = []
    annotation_problems: list[str] = []
    folders = data.release_stream_folders()
    features_root = path / "features"

    # Which streams: those whose folder exists under some split folder.
    present = [s for s in KNOWN_STREAMS if any((features_root / sp / folders[s]).is_dir() for sp in RELEASE_SPLIT_FOLDERS)]
    if data.streams:
        missing = [s for s in data.streams if s not in present]
        if missing:
            raise DatasetError(
                f"{features_root}: data.streams asks for {', '.join(missing)} but no "
                f"features/<split>/{folders[missing[0]]}/ folder exists"
            )
        streams = [s for s in KNOWN_STREAMS if s in data.streams]
    else:
        streams = present
    if not streams:
        raise DatasetError(
            f"{features_root}: no stream folder ({', '.join(folders.values())}) under features/train or features/test"
        )

    # Splits: the split files, else the folders the features are in.
    split_ids: dict[str, list[str]] = {}
    for split in RELEASE_SPLIT_FOLDERS:
        split_file = path / f"split_{split}.txt"
        if split_file.is_file():
            split_ids[split] = _read_split_file(split_file)
        else:
            found = set()
            for stream in streams:
                folder = features_root / split / folders[stream]
                if folder.is_dir():
                    found |= {p.stem for p in folder.glob("*.npy")}
            split_ids[split] = sorted(found)
            if found:
                problems.append(f"{split_file}: missing; the {split} split is the {len(found)} videos in features/{split}/")
    both = set(split_ids["train"]) & set(split_ids["test"])
    if both:
        raise DatasetError(f"{path}: video(s) {', '.join(sorted(both)[:3])} listed in both split_train.txt and split_test.txt")

    fps_path = path / "fps_dict.json"
    if not fps_path.is_file():
        raise DatasetError(f"{fps_path}: missing; the released layout needs each video's native frame rate")
    frame_rates = {str(k): float(v) for k, v in _read_json_object(fps_path).items()}
    durations_known: dict[str, float] = {}
    for name in ("time.json", "len_duration_dict.json"):  # the fuller file wins
        if (path / name).is_file():
            durations_known.update({str(k): float(v) for k, v in _read_json_object(path / name).items()})

    # Raw arrays of every video that has all stream files.
    raw: dict[str, tuple[str, dict[str, np.ndarray], float, float | None]] = {}
    for split in RELEASE_SPLIT_FOLDERS:
        other = "test" if split == "train" else "train"
        for video_id in split_ids[split]:
            fps = frame_rates.get(video_id)
            if fps is None or not fps > 0:
                annotation_problems.append(f"{fps_path}: no frame rate for video {video_id!r}; video left out")
                continue
            arrays: dict[str, np.ndarray] = {}
            absent: list[str] = []
            for stream in streams:
                candidates = [features_root / s / folders[stream] / f"{video_id}.npy" for s in (split, other)]
                file = next((c for c in candidates if c.is_file()), None)
                if file is None:
                    absent.append(str(candidates[0]))
                else:
                    arrays[stream] = _load_release_array(file)
            if absent:
                annotation_problems.append(f"{absent[0]}: missing ({len(absent)} stream file(s)); video {video_id} left out")
                continue
            raw[video_id] = (split, arrays, data.release_snippet_frames / fps, durations_known.get(video_id))
    if not raw:
        raise DatasetError(f"{features_root}: no video has every stream file ({', '.join(streams)})")

    # Audio rows per snippet: configured, else inferred over all videos at once.
    audio_stream = "audio" if "audio" in streams else None
    audio_rows_per_snippet = 1
    if audio_stream is not None:
        row_widths = {arrays[audio_stream].shape[1] for _, arrays, _, _ in raw.values()}
        if len(row_widths) != 1:
            raise DatasetError(f"{features_root}: audio rows have different widths across videos: {sorted(row_widths)}")
        audio_rows_per_snippet = data.release_audio_rows_per_snippet
        if audio_rows_per_snippet == 0:
            rows, reference = [], []
            for video_id, (_split, arrays, snippet_seconds, duration) in raw.items():
                others = [a.shape[0] for name, a in arrays.items() if name != audio_stream]
                if others:
                    reference.append(float(np.mean(others)))
                elif duration:
                    reference.append(float(math.ceil(round(duration / snippet_seconds, 6))))
                else:
                    raise DatasetError(
                        f"video {video_id}: cannot infer the audio rows per snippet (no other stream, no duration); "
                        "set data.release_audio_rows_per_snippet"
                    )
                rows.append(arrays[audio_stream].shape[0])
            audio_rows_per_snippet = infer_rows_per_snippet(rows, reference, data.alignment_tolerance_rows)

    loaded: dict[str, tuple[str, dict[str, np.ndarray], float, float]] = {}
    widths: dict[str, int] = {}
    remainder_videos = 0
    for video_id in list(raw):
        split, arrays, snippet_seconds, duration = raw.pop(video_id)
        video = align_release_streams(
            video_id, arrays, audio_stream, audio_rows_per_snippet, data.alignment_tolerance_rows, problems
        )
        if audio_stream is not None:
            remainder_videos += video.audio_remainder_rows > 0
            video.features[audio_stream] = (
                video.features[audio_stream] + np.float32(data.release_audio_offset)
            ) / np.float32(data.release_audio_scale)
        for stream, array in video.features.items():
            if widths.setdefault(stream, array.shape[1]) != array.shape[1]:
                raise DatasetError(f"video {video_id}: stream {stream} is {array.shape[1]} wide, other videos {widths[stream]}")
        num_snippets = next(iter(video.features.values())).shape[0]
        loaded[video_id] = (split, video.features, snippet_seconds, duration or num_snippets * snippet_seconds)
    if remainder_videos:
        problems.append(
            f"{features_root}: audio of {remainder_videos} video(s) ends with rows that do not fill a whole snippet "
            f"of {audio_rows_per_snippet} rows; those rows were dropped"
        )

    # Annotations: the release's own files, replaced kind by kind by `annotations`.
    durations = {video_id: entry[3] for video_id, entry in loaded.items()}
    annotation_set = AnnotationSet()
    extra = read_annotations(annotations, vocabulary, durations, frame_rates) if annotations is not None else None
    extra_kinds = extra.kinds() if extra is not None else set()
    if "points" not in extra_kinds and (path / RELEASE_POINTS_FILE).is_file():
        annotation_set.merge(read_release_points_csv(path / RELEASE_POINTS_FILE, vocabulary, frame_rates, durations))
    if "segments" not in extra_kinds:
        segment_file = next((path / n for n in RELEASE_SEGMENT_FILES if (path / n).is_file()), None)
        if segment_file is not None:
            annotation_set.merge(read_segments_json(segment_file, vocabulary, durations))
    if extra is not None:
        annotation_set.merge(extra)
    annotation_problems += annotation_set.problems
    for video_id, (split, *_rest) in loaded.items():
        subset = annotation_set.subsets.get(video_id)
        if subset is not None and subset != split:
            problems.append(f"video {video_id}: in split_{split}.txt but its annotations say subset {subset!r}; using the split file")

    samples: dict[str, VideoSample] = {}
    for video_id, (_split, features, snippet_seconds, duration) in loaded.items():
        face_mask = _face_mask_from_rows(features["face"]) if "face" in features else None
        samples[video_id] = _build_sample(
            video_id,
            features,
            face_mask,
            snippet_seconds,
            duration,
            annotation_set,
            len(vocabulary.class_names),
            data.release_snippet_frames,
            data.alignment_tolerance_rows,
            annotation_problems,
        )
    disagreement = points_outside_segments(samples)
    if disagreement:
        problems.append(disagreement)
    raise_if_strict(annotation_problems, data.strict, str(path))

    train_ids = sorted(v for v, entry in loaded.items() if entry[0] == "train")
    with_segments = {s.video_id for s in annotation_set.segments}
    train, validation = carve_validation(train_ids, data.validation_fraction, data.split_seed, with_segments)
    splits = {"train": train, "validation": validation, "test": sorted(v for v, e in loaded.items() if e[0] == "test")}

    snippet_lengths = {round(entry[2], 9) for entry in loaded.values()}
    descriptions = {
        "visual": "I3D RGB clip features (released layout), one row per snippet",
        "audio": "log-mel spectrogram rows (released layout), folded per snippet",
        "face": "face embeddings (released layout), one row per snippet; all-zero rows = no face",
    }
    extractors = {}
    for stream in streams:
        entry = {
            "source": "release",
            "folder": folders[stream],
            "description": descriptions[stream],
            "rows_per_snippet": 1,
            "row_width": widths[stream],
        }
        if stream == "audio":
            entry.update(
                rows_per_snippet=audio_rows_per_snippet,
                row_width=widths[stream] // audio_rows_per_snippet,
                transform=f"(x + {data.release_audio_offset}) / {data.release_audio_scale}",
            )
        if stream == "face":
            entry["face_mask"] = "1 where the row is not all zero"
        extractors[stream] = entry
    feature_spec = {
        "source": "release",
        "path": str(path),
        "streams": {stream: widths[stream] for stream in streams},
        "snippet_seconds": next(iter(snippet_lengths)) if len(snippet_lengths) == 1 else None,
        "grid": {"snippet_frames": data.release_snippet_frames, "frame_rate": "native (fps_dict.json)"},
        "extractors": extractors,
        "random_weights": False,
    }
    return SentimentDataset(
        class_names=_display_class_names(vocabulary, annotation_set),
        samples=samples,
        splits=splits,
        feature_spec=feature_spec,
        problems=annotation_problems + problems,
        annotation_files=annotation_set.files,
        vocabulary=vocabulary,
    )
