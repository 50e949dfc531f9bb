"""Datasets from a feature cache made by `extract`.

Streams are read only through :class:`cache.store.FeatureCache`; every stream already has
exactly T rows on the cache's snippet grid. Annotations come from the file(s) passed as
``annotations`` (pipeline/data/annotations/, any format); splits come from an ActivityNet JSON's
"subset" field when present, else every annotated video is training data and a
validation split is carved out of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cache.identity import ExtractorIdentity, canonical
from cache.store import CacheError, FeatureCache, LoadedStream
from model.streams import STREAM_NAMES
from pipeline.data.annotations import AnnotationSet, raise_if_strict, read_annotations, require_labels
from pipeline.data.config import DataConfig
from pipeline.data.feature_spec import FeatureSpec
from pipeline.data.samples import (
    SPLITS,
    DatasetError,
    FaceEmotions,
    SentimentDataset,
    VideoFeatures,
    VideoSample,
    build_sample,
    carve_validation,
    display_class_names,
    face_mask_from_rows,
    points_outside_segments,
    unannotated_sample,
)


@dataclass
class CachedStreams:
    """Features of several cached videos, read through the cache, and what made them.

    Attributes:
        videos: video id -> its features (grid step and duration from its meta).
        streams: the streams read, in STREAM_NAMES order.
        widths: stream -> D_s (the same for every video).
        identities: stream -> extractor identity of the first video read.
        grids: per video, its snippet grid without num_snippets.
    """

    videos: dict[str, VideoFeatures]
    streams: list[str]
    widths: dict[str, int]
    identities: dict[str, ExtractorIdentity]
    grids: list[dict]

    def feature_spec(self, path: Path) -> FeatureSpec:
        """The dataset-level feature spec."""
        uniform_grid = bool(self.grids) and all(canonical(g) == canonical(self.grids[0]) for g in self.grids)
        return FeatureSpec(
            source="cache",
            path=str(path),
            streams={stream: self.widths[stream] for stream in self.streams},
            snippet_seconds=float(self.grids[0]["snippet_seconds"]) if uniform_grid else None,
            grid=self.grids[0] if uniform_grid else None,
            extractors=dict(self.identities),
        )


def face_emotions_of(loaded: LoadedStream) -> FaceEmotions | None:
    """The emotion extra of a cached face stream with its class names (the identity's
    `emotion_classes`; generic class_0, class_1, ... when the identity names none or a
    wrong number); None when there is no emotion extra or it does not fit the stream."""
    emotion = loaded.extras.get("emotion")
    if emotion is None or emotion.ndim != 2 or emotion.shape[0] != loaded.features.shape[0] or not emotion.shape[1]:
        return None
    names = loaded.record.get("extractor", {}).get("emotion_classes")
    if not isinstance(names, list) or len(names) != emotion.shape[1] or len(set(map(str, names))) != len(names):
        names = [f"class_{index}" for index in range(emotion.shape[1])]
    return FaceEmotions(np.asarray(emotion, dtype=np.float32), tuple(str(name) for name in names))


def _load_stream(
    cache: FeatureCache, video_id: str, stream: str
) -> tuple[np.ndarray, np.ndarray | None, FaceEmotions | None, ExtractorIdentity]:
    """(features (T, D) float32, face mask (T,), face emotions, identity) of one cached
    stream; mask and emotions are None but for the face stream."""
    try:
        loaded = cache.load_stream(video_id, stream)
    except CacheError as error:
        raise DatasetError(str(error)) from None
    array = np.asarray(loaded.features, dtype=np.float32)
    if stream != "face":
        return array, None, None, ExtractorIdentity(loaded.record["extractor"])
    if loaded.mask is not None:
        mask = np.clip(np.asarray(loaded.mask, dtype=np.float32), 0.0, 1.0)
    else:
        mask = face_mask_from_rows(array)
    return array, mask, face_emotions_of(loaded), ExtractorIdentity(loaded.record["extractor"])


def read_cached_streams(
    cache: FeatureCache, metas: dict[str, dict], video_ids: list[str], streams: list[str], problems: list[str]
) -> CachedStreams:
    """Read `streams` of `video_ids` through the cache; widths must agree across videos
    (else DatasetError), another extractor identity than the first video's is a problem line."""
    read = CachedStreams({}, list(streams), {}, {}, [])
    for video_id in video_ids:
        features: dict[str, np.ndarray] = {}
        face_mask, face_emotions = None, None
        for stream in streams:
            array, mask, emotions, identity = _load_stream(cache, video_id, stream)
            if stream not in read.widths:
                read.widths[stream], read.identities[stream] = array.shape[1], identity
            elif array.shape[1] != read.widths[stream]:
                raise DatasetError(
                    f"{cache.entry_dir(video_id)}: stream {stream} is {array.shape[1]} wide, other videos "
                    f"{read.widths[stream]}; run `extract` again with one config for every video"
                )
            elif identity != read.identities[stream]:
                problems.append(
                    f"{cache.entry_dir(video_id)}: stream {stream} was made by another extractor config or weights "
                    "than the first video's; run `extract` again so every video matches"
                )
            features[stream] = array
            if stream == "face":
                face_mask, face_emotions = mask, emotions
        grid, probe = metas[video_id]["grid"], metas[video_id]["probe"]
        native_fps = float(probe["native_fps"]) if probe.get("native_fps") else None
        read.videos[video_id] = VideoFeatures(
            features, face_mask, float(grid["snippet_seconds"]), float(probe["duration_seconds"]), native_fps,
            face_emotions,
        )
        read.grids.append({k: v for k, v in grid.items() if k != "num_snippets"})
    return read


def _cached_metas(cache: FeatureCache, video_ids: list[str]) -> dict[str, dict]:
    metas: dict[str, dict] = {}
    for video_id in video_ids:
        meta, problem = cache.read_meta_checked(video_id)
        if meta is None:
            fix = "run `extract` first" if not cache.entry_dir(video_id).is_dir() else "rerun `extract` to repair it"
            raise DatasetError(f"{cache.entry_dir(video_id)}: no valid cache entry ({problem}); {fix}")
        metas[video_id] = meta
    return metas


def samples_from_cache(
    cache_dir: Path, video_ids: list[str], streams: list[str] | tuple[str, ...], num_classes: int = 2
) -> tuple[dict[str, VideoSample], FeatureSpec]:
    """Samples without annotations (for localizing new videos) and their feature spec.

    cache_dir: a feature cache made by `extract`; every video in `video_ids` must have
    every stream in `streams` (else DatasetError naming the entry and the fix).
    num_classes: C, the length of the (all-zero) video_labels.
    """
    cache = FeatureCache(cache_dir)
    if not cache.is_cache():
        raise DatasetError(f"{cache_dir}: not a feature cache (no cache.json); run `extract` first")
    streams = [s for s in STREAM_NAMES if s in streams]
    metas = _cached_metas(cache, list(video_ids))
    problems: list[str] = []
    read = read_cached_streams(cache, metas, list(video_ids), streams, problems)
    if problems:
        raise DatasetError(problems[0])
    samples = {video_id: unannotated_sample(video_id, read.videos[video_id], num_classes) for video_id in video_ids}
    return samples, read.feature_spec(Path(cache_dir))


def _choose_streams(
    path: Path, cache: FeatureCache, metas: dict[str, dict], video_ids: list[str], data: DataConfig,
    problems: list[str], annotation_problems: list[str],
) -> tuple[list[str], list[str]]:
    """(streams, video ids): the configured streams and the videos that have them all, else
    the streams every annotated video has (the others named in `problems`)."""
    available = {video_id: set(metas[video_id]["streams"]) for video_id in video_ids}
    if data.streams:
        streams = [s for s in STREAM_NAMES if s in data.streams]
        lacking = [v for v in video_ids if not set(streams) <= available[v]]
        for video_id in lacking:
            missing = sorted(set(streams) - available[video_id])
            annotation_problems.append(
                f"{cache.entry_dir(video_id)}: stream(s) {', '.join(missing)} not cached; video left out "
                f"(run `extract --streams {','.join(streams)}`)"
            )
        video_ids = [v for v in video_ids if v not in lacking]
        if not video_ids:
            raise DatasetError(f"{path}: no annotated video has all of data.streams = {streams}; "
                               "run `extract` for them")
        return streams, video_ids
    common, union = set.intersection(*available.values()), set.union(*available.values())
    for stream in sorted(union - common):
        count = sum(stream in s for s in available.values())
        problems.append(
            f"{path}: stream {stream!r} is cached for {count} of {len(video_ids)} annotated videos; not used "
            f"(extract it for every video, or set data.streams)"
        )
    streams = [s for s in STREAM_NAMES if s in common]
    if not streams:
        raise DatasetError(f"{path}: the annotated videos share no cached stream; run `extract` for all of them")
    return streams, video_ids


def _annotated_entries(
    path: Path, cache: FeatureCache, data: DataConfig, annotations: Path, problems: list[str]
) -> tuple[dict[str, dict], AnnotationSet, list[str]]:
    """(meta of every complete entry, the annotations read against them, the annotated ids).
    A damaged entry (meta.json missing, not JSON or of the wrong shape) is a DatasetError:
    its video would otherwise be silently "unknown" to the annotations."""
    metas = {}
    for video_id in cache.entry_ids():
        meta, problem = cache.read_meta_checked(video_id)
        if meta is None:
            raise DatasetError(f"{cache.entry_dir(video_id)}: damaged cache entry ({problem}); rerun `extract` to "
                               "repair it (or delete that folder if its video is gone)")
        if meta["streams"]:
            metas[video_id] = meta
    if not metas:
        raise DatasetError(f"{path}: the feature cache holds no complete video; run `extract` first")
    durations = {video_id: float(meta["probe"]["duration_seconds"]) for video_id, meta in metas.items()}
    frame_rates = {v: float(meta["probe"]["native_fps"]) for v, meta in metas.items()
                   if meta["probe"].get("native_fps")}
    annotation_set = read_annotations(annotations, data.vocabulary(), durations, frame_rates,
                                      options=data.annotation_options())
    video_ids = sorted(annotation_set.videos & set(metas))
    names_none = f"names none of the {len(metas)} videos in the feature cache {path}"
    require_labels(annotations, annotation_set, "" if video_ids else f"it {names_none}")
    unannotated = sorted(set(metas) - annotation_set.videos)
    if unannotated:
        shown = ", ".join(unannotated[:5]) + (" ..." if len(unannotated) > 5 else "")
        problems.append(f"{path}: {len(unannotated)} cached video(s) have no annotation and are left out: {shown}")
    if not video_ids:  # labels only for videos without features cannot be read, but say why if it happens
        raise DatasetError(f"{annotations}: {names_none}")
    return metas, annotation_set, video_ids


def load_cache_dataset(path: Path, data: DataConfig, annotations: Path | None) -> SentimentDataset:
    """The annotated videos of the feature cache at `path` (see the module docstring)."""
    cache = FeatureCache(path)
    if annotations is None:
        raise DatasetError(
            f"{path}: a feature cache has no labels; pass --annotations FILE_OR_FOLDER "
            "(points CSV video_id,time_s,label, "
            "segments CSV/JSON, video labels CSV video_id,label, ELAN .eaf, Label Studio JSON, Audacity labels .txt)"
        )
    problems: list[str] = []
    metas, annotation_set, video_ids = _annotated_entries(path, cache, data, annotations, problems)
    annotation_problems = list(annotation_set.problems)
    streams, video_ids = _choose_streams(path, cache, metas, video_ids, data, problems, annotation_problems)
    read = read_cached_streams(cache, metas, video_ids, streams, problems)
    num_classes = len(data.class_names)
    samples = {
        video_id: build_sample(video_id, read.videos[video_id], annotation_set, num_classes, annotation_problems,
                               tolerance=data.alignment_tolerance_rows)
        for video_id in video_ids
    }
    feature_spec = read.feature_spec(path)  # random weights: there, said by each stage (random_weights_warning)
    disagreement = points_outside_segments(samples)
    if disagreement:
        problems.append(disagreement)
    raise_if_strict(annotation_problems, data.strict, str(annotations))
    return SentimentDataset(
        class_names=display_class_names(data.vocabulary(), annotation_set),
        samples=samples,
        splits=_splits_from_subsets(list(samples), annotation_set, data, problems),
        feature_spec=feature_spec,
        problems=annotation_problems + problems,
        annotation_files=annotation_set.files,
        vocabulary=data.vocabulary(),
        notes=list(annotation_set.notes),
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
