"""Datasets from a public feature release: TSL-300's layout and the FSENet authors'.

``features/<split>/rgb/<video>.npy`` (I3D), ``logmfcc/`` (audio), ``img/`` (faces, one
row per snippet; all-zero rows mean no face), with ``split_train.txt`` /
``split_test.txt``, ``fps_dict.json``, ``len_duration_dict.json`` / ``time.json``
(optional), ``videosenti_gt.json`` or ``gt.json`` (segments) and
``point_gaussian/point_labels.csv`` (points as native-frame indices: snippet =
point // 16, seconds = point / fps; the FSENet authors' loader reads the same columns
from ``point_label.csv``, used when the first is absent). A snippet of a video lasts 16 / fps seconds, so the
grid differs per video.

How each stream's rows map to snippets is inferred from the row counts, without
settings (pipeline/data/release_layout.py): TSL-300's rgb is one row per snippet and its
logmfcc 32 rows per snippet (folded into one row of 32 x 60, then (x + 50) / 80 as its
authors do); the FSENet release's rgb (1024-d) and logmfcc (768-d) are one row per
native frame, reduced to one row per snippet by the authors' rule (rows 0, 16, 32, ...
plus the last row; ``data.release_frame_rows=mean`` averages the 16 rows instead).

Alignment: stream snippet counts that then differ by at most
``data.alignment_tolerance_rows`` are trimmed to the shortest with a line in
``problems``; a larger difference is a :class:`DatasetError` naming the video. The
validation split is always carved from training videos, never from the test split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cache.identity import ExtractorIdentity
from cache.json_text import parse_json
from model.streams import STREAM_NAMES
from pipeline.data.annotations import (
    AnnotationSet,
    raise_if_strict,
    read_annotations,
    read_release_points_csv,
    read_segments_json,
    require_labels,
)
from pipeline.data.config import DataConfig
from pipeline.data.feature_spec import FeatureSpec
from pipeline.data.release_layout import (
    TSL300_AUDIO_ROWS_PER_SNIPPET,
    RowLayout,
    infer_release_layouts,
    infer_rows_per_snippet,
    layout_from_setting,
    snippet_rows,
)
from pipeline.data.samples import (
    DatasetError,
    SentimentDataset,
    VideoFeatures,
    build_sample,
    carve_validation,
    display_class_names,
    face_mask_from_rows,
    points_outside_segments,
)

RELEASE_SPLIT_FOLDERS: tuple[str, ...] = ("train", "test")
RELEASE_POINTS_FILE = Path("point_gaussian") / "point_labels.csv"
FSENET_POINTS_FILE = Path("point_label.csv")  # where the FSENet authors' loader reads the same columns
RELEASE_SEGMENT_FILES: tuple[str, ...] = ("videosenti_gt.json", "gt.json")  # first present is used
RELEASE_FRAME_RATES_FILE = "fps_dict.json"
RELEASE_TEST_DURATIONS_FILE, RELEASE_DURATIONS_FILE = "time.json", "len_duration_dict.json"
RELEASE_DURATION_FILES: tuple[str, ...] = (RELEASE_TEST_DURATIONS_FILE, RELEASE_DURATIONS_FILE)  # the fuller file wins
RELEASE_BOTH_SPLITS_GT, RELEASE_TEST_GT = RELEASE_SEGMENT_FILES
__all__ = [  # infer_rows_per_snippet and the TSL-300 constant live in release_layout.py; kept importable here
    "FSENET_POINTS_FILE", "RELEASE_BOTH_SPLITS_GT", "RELEASE_DURATIONS_FILE", "RELEASE_FRAME_RATES_FILE",
    "RELEASE_POINTS_FILE", "RELEASE_TEST_DURATIONS_FILE", "RELEASE_TEST_GT", "TSL300_AUDIO_ROWS_PER_SNIPPET",
    "align_release_streams", "align_streams", "infer_rows_per_snippet", "is_release", "load_release_dataset",
    "split_file_name",
]
STREAM_DESCRIPTIONS = {
    "visual": "I3D RGB clip features (released layout), one row per snippet",
    "audio": "log-mel spectrogram rows (released layout), folded per snippet",
    "face": "face embeddings (released layout), one row per snippet; all-zero rows = no face",
}
FRAME_STREAM_DESCRIPTIONS = {
    "visual": "I3D RGB features (FSENet release layout), one row per native frame, reduced to one row per snippet",
    "audio": "audio features (FSENet release layout), one row per native frame, reduced to one row per snippet",
    "face": "face embeddings (released layout), one row per native frame, reduced to one row per snippet",
}
FRAME_ROWS_TAKEN = {
    "sample": "rows 0, {n}, {n2}, ... and the last row when the count is not a multiple of {n} "
              "(the FSENet authors' loader)",
    "mean": "the mean of each snippet's {n} rows (the last snippet: of the rows it has)",
}


def split_file_name(split: str) -> str:
    """The file listing a split's videos ("split_train.txt")."""
    return f"split_{split}.txt"


def is_release(path: Path) -> bool:
    """Does the folder hold a release (features/train or features/test)?"""
    return any((Path(path) / "features" / split).is_dir() for split in RELEASE_SPLIT_FOLDERS)


def _read_json_object(path: Path) -> dict:
    try:
        value = parse_json(path.read_text(encoding="utf-8"))
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
class _AlignedVideo:
    """One released video's streams on one snippet grid; ``audio_remainder_rows`` rows
    past the last whole folded audio snippet were dropped."""

    features: dict[str, np.ndarray]
    audio_remainder_rows: int = 0


def align_streams(
    video_id: str,
    arrays: dict[str, np.ndarray],
    layouts: dict[str, RowLayout],
    frame_rows: str,
    tolerance: int,
    problems: list[str],
) -> _AlignedVideo:
    """Every stream to one row per snippet (by its layout; see release_layout.snippet_rows),
    then all trimmed to the shortest.

    arrays: stream -> raw (rows, width) array; a stream without a layout is one row per
    snippet. Streams whose snippet counts then differ by <= ``tolerance`` are trimmed to
    the shortest with a line in ``problems``; more raises DatasetError naming the video.
    """
    aligned: dict[str, np.ndarray] = {}
    remainder = 0
    for name, array in arrays.items():
        layout = layouts.get(name, RowLayout("snippet"))
        aligned[name], dropped = snippet_rows(array, layout, frame_rows)
        if aligned[name].shape[0] < 1:
            raise DatasetError(f"video {video_id}: {name} has {array.shape[0]} rows, fewer than one snippet of "
                               f"{layout.rows_per_snippet}")
        remainder += dropped if name == "audio" else 0
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
    return _AlignedVideo(aligned, remainder)


def align_release_streams(
    video_id: str,
    arrays: dict[str, np.ndarray],
    audio_stream: str | None,
    audio_rows_per_snippet: int,
    tolerance: int,
    problems: list[str],
) -> _AlignedVideo:
    """TSL-300's layout: the audio stream folded (``audio_rows_per_snippet`` = k rows per
    snippet -> (rows // k, k * width), rows past the last whole snippet dropped), the
    others one row per snippet; then trimmed as align_streams does."""
    layouts = {audio_stream: RowLayout("folded", audio_rows_per_snippet)} if audio_stream else {}
    return align_streams(video_id, arrays, layouts, "sample", tolerance, problems)


@dataclass
class _RawVideo:
    """One released video's arrays as read (stream -> (rows, width) float32).

    other_rows: rows of the stream folders the dataset does not read (they still tell
    how many snippets the video has)."""

    split: str
    arrays: dict[str, np.ndarray]
    frame_rate: float  # native frames per second (fps_dict.json)
    snippet_seconds: float  # 16 native frames / fps
    duration_seconds: float | None  # from the duration files, when they name it
    other_rows: dict[str, int] = field(default_factory=dict)

    def row_counts(self) -> dict[str, int]:
        return {**{stream: array.shape[0] for stream, array in self.arrays.items()}, **self.other_rows}


@dataclass
class _ReleaseFiles:
    """What the release folder says besides the features."""

    features_root: Path
    streams: list[str]  # the streams read
    present: list[str]  # every stream with a folder
    folders: dict[str, str]  # stream -> folder under features/<split>/
    split_ids: dict[str, list[str]]
    frame_rates: dict[str, float]
    durations: dict[str, float]
    problems: list[str] = field(default_factory=list)

    def stream_file(self, video_id: str, split: str, stream: str) -> tuple[Path | None, Path]:
        """(the video's file of `stream` under either split folder or None, where it was looked for first)."""
        other = "test" if split == "train" else "train"
        candidates = [self.features_root / s / self.folders[stream] / f"{video_id}.npy" for s in (split, other)]
        return next((c for c in candidates if c.is_file()), None), candidates[0]


def _present_streams(features_root: Path, data: DataConfig) -> list[str]:
    folders = data.release_stream_folders()
    return [s for s in STREAM_NAMES if any((features_root / sp / folders[s]).is_dir() for sp in RELEASE_SPLIT_FOLDERS)]


def _release_streams(features_root: Path, data: DataConfig) -> list[str]:
    """The streams to read: data.streams (each folder must exist), else every stream with a folder."""
    folders = data.release_stream_folders()
    present = _present_streams(features_root, data)
    if data.streams:
        missing = [s for s in data.streams if s not in present]
        if missing:
            raise DatasetError(
                f"{features_root}: data.streams asks for {', '.join(missing)} but no "
                f"features/<split>/{folders[missing[0]]}/ folder exists"
            )
        return [s for s in STREAM_NAMES if s in data.streams]
    if not present:
        raise DatasetError(
            f"{features_root}: no stream folder ({', '.join(folders.values())}) under features/train or features/test"
        )
    return present


def _release_split_ids(path: Path, features_root: Path, streams: list[str], folders: dict[str, str],
                       problems: list[str]) -> dict[str, list[str]]:
    """Split -> video ids: the split files, else the videos found in the split's folders."""
    split_ids: dict[str, list[str]] = {}
    for split in RELEASE_SPLIT_FOLDERS:
        split_file = path / split_file_name(split)
        if split_file.is_file():
            split_ids[split] = _read_split_file(split_file)
            continue
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
        raise DatasetError(f"{path}: video(s) {', '.join(sorted(both)[:3])} listed in both "
                           "split_train.txt and split_test.txt")
    return split_ids


def _release_files(path: Path, data: DataConfig) -> _ReleaseFiles:
    features_root = path / "features"
    streams = _release_streams(features_root, data)
    present = _present_streams(features_root, data)
    folders = data.release_stream_folders()
    problems: list[str] = []
    split_ids = _release_split_ids(path, features_root, streams, folders, problems)
    fps_path = path / RELEASE_FRAME_RATES_FILE
    if not fps_path.is_file():
        raise DatasetError(f"{fps_path}: missing; the released layout needs each video's native frame rate")
    frame_rates = {str(k): float(v) for k, v in _read_json_object(fps_path).items()}
    durations: dict[str, float] = {}
    for name in RELEASE_DURATION_FILES:
        if (path / name).is_file():
            durations.update({str(k): float(v) for k, v in _read_json_object(path / name).items()})
    return _ReleaseFiles(features_root, streams, present, folders, split_ids, frame_rates, durations, problems)


def _rows_in_file(path: Path) -> int | None:
    """Rows of a .npy file, read from its header only (None when it is not a 2-D array)."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    return int(array.shape[0]) if array.ndim == 2 else None


def _read_raw_videos(files: _ReleaseFiles, data: DataConfig, annotation_problems: list[str]) -> dict[str, _RawVideo]:
    """Every video that has a frame rate and a file for every stream (the others are named in
    `annotation_problems` and left out); a video's files may lie under either split folder."""
    raw: dict[str, _RawVideo] = {}
    for split in RELEASE_SPLIT_FOLDERS:
        for video_id in files.split_ids[split]:
            fps = files.frame_rates.get(video_id)
            if fps is None or not fps > 0:
                annotation_problems.append(f"{files.features_root.parent / RELEASE_FRAME_RATES_FILE}: no frame rate "
                                           f"for video {video_id!r}; video left out")
                continue
            arrays: dict[str, np.ndarray] = {}
            absent: list[str] = []
            for stream in files.streams:
                file, first_place = files.stream_file(video_id, split, stream)
                if file is None:
                    absent.append(str(first_place))
                else:
                    arrays[stream] = _load_release_array(file)
            if absent:
                annotation_problems.append(f"{absent[0]}: missing ({len(absent)} stream "
                                           f"file(s)); video {video_id} left out")
                continue
            other_rows = {}
            for stream in (s for s in files.present if s not in files.streams):
                file, _ = files.stream_file(video_id, split, stream)
                rows = _rows_in_file(file) if file is not None else None
                if rows:
                    other_rows[stream] = rows
            raw[video_id] = _RawVideo(split, arrays, fps, data.release_snippet_frames / fps,
                                      files.durations.get(video_id), other_rows)
    if not raw:
        raise DatasetError(f"{files.features_root}: no video has every stream file ({', '.join(files.streams)})")
    return raw


def _stream_layouts(raw: dict[str, _RawVideo], files: _ReleaseFiles, data: DataConfig) -> dict[str, RowLayout]:
    """Each read stream's layout: the config's, else inferred (release_layout.infer_release_layouts)."""
    fixed = {stream: layout_from_setting(value, data.release_snippet_frames)
             for stream, value in data.release_layouts().items()}
    frame_counts = {
        video_id: video.duration_seconds * video.frame_rate if video.duration_seconds else None
        for video_id, video in raw.items()
    }
    row_counts = {video_id: video.row_counts() for video_id, video in raw.items()}
    return infer_release_layouts(row_counts, frame_counts, fixed, files.streams, data.release_snippet_frames,
                                 data.alignment_tolerance_rows, files.folders)


def _aligned_videos(
    raw: dict[str, _RawVideo], files: _ReleaseFiles, data: DataConfig, problems: list[str]
) -> tuple[dict[str, VideoFeatures], dict[str, int], dict[str, RowLayout]]:
    """(video id -> its aligned features, stream -> width, stream -> its layout).

    Consumes `raw` (each video's arrays are released once aligned). Folded audio (log-mel
    rows, TSL-300) becomes (x + offset) / scale; other layouts are used as released."""
    layouts = _stream_layouts(raw, files, data)
    folded_audio = "audio" in layouts and layouts["audio"].kind == "folded"
    videos: dict[str, VideoFeatures] = {}
    widths: dict[str, int] = {}
    remainder_videos = 0
    for video_id in list(raw):
        video = raw.pop(video_id)
        aligned = align_streams(video_id, video.arrays, layouts, data.release_frame_rows,
                                data.alignment_tolerance_rows, problems)
        remainder_videos += aligned.audio_remainder_rows > 0
        if folded_audio:
            offset, scale = np.float32(data.release_audio_offset), np.float32(data.release_audio_scale)
            aligned.features["audio"] = (aligned.features["audio"] + offset) / scale
        for stream, array in aligned.features.items():
            if widths.setdefault(stream, array.shape[1]) != array.shape[1]:
                raise DatasetError(f"video {video_id}: stream {stream} is {array.shape[1]} wide, "
                                   f"other videos {widths[stream]}")
        num_snippets = next(iter(aligned.features.values())).shape[0]
        face_mask = face_mask_from_rows(aligned.features["face"]) if "face" in aligned.features else None
        duration = video.duration_seconds or num_snippets * video.snippet_seconds
        videos[video_id] = VideoFeatures(aligned.features, face_mask, video.snippet_seconds, duration, video.frame_rate)
    if remainder_videos:
        problems.append(
            f"{files.features_root}: audio of {remainder_videos} video(s) ends with rows "
            "that do not fill a whole snippet "
            f"of {layouts['audio'].rows_per_snippet} rows; those rows were dropped"
        )
    return videos, widths, layouts


def _release_annotations(
    path: Path, videos: dict[str, VideoFeatures], files: _ReleaseFiles, data: DataConfig, annotations: Path | None
) -> AnnotationSet:
    """The release's own points and segments, replaced kind by kind by the files in `annotations`."""
    vocabulary = data.vocabulary()
    durations = {video_id: video.duration_seconds for video_id, video in videos.items()}
    annotation_set = AnnotationSet()
    extra = (read_annotations(annotations, vocabulary, durations, files.frame_rates, options=data.annotation_options())
             if annotations is not None else None)
    if extra is not None:
        require_labels(annotations, extra)  # they would replace the release's labels with none
    extra_kinds = extra.kinds() if extra is not None else set()
    points_file = next((path / n for n in (RELEASE_POINTS_FILE, FSENET_POINTS_FILE) if (path / n).is_file()), None)
    if "points" not in extra_kinds and points_file is not None:
        annotation_set.merge(read_release_points_csv(points_file, vocabulary, files.frame_rates, durations))
    if "segments" not in extra_kinds:
        segment_file = next((path / n for n in RELEASE_SEGMENT_FILES if (path / n).is_file()), None)
        if segment_file is not None:
            annotation_set.merge(read_segments_json(segment_file, vocabulary, durations))
    if extra is not None:
        annotation_set.merge(extra)
    return annotation_set


def _stream_identity(stream: str, folder: str, width: int, layout: RowLayout, data: DataConfig) -> ExtractorIdentity:
    """A released stream's identity: where its rows came from and how they became snippets.
    (TSL-300's layouts are recorded exactly as before the FSENet layout existed.)"""
    entry: dict = {"source": "release", "folder": folder, "description": STREAM_DESCRIPTIONS[stream],
                   "rows_per_snippet": 1, "row_width": width}
    if layout.kind == "folded":
        entry.update(rows_per_snippet=layout.rows_per_snippet, row_width=width // layout.rows_per_snippet)
        if stream == "audio":
            entry["transform"] = f"(x + {data.release_audio_offset}) / {data.release_audio_scale}"
    elif layout.kind == "frame":
        step = layout.rows_per_snippet
        entry.update(description=FRAME_STREAM_DESCRIPTIONS[stream], layout="frame", rows_per_snippet=step,
                     rows_taken=FRAME_ROWS_TAKEN[data.release_frame_rows].format(n=step, n2=2 * step))
    if stream == "face":
        entry["face_mask"] = "1 where the row is not all zero"
    return ExtractorIdentity(entry)


def _release_feature_spec(path: Path, files: _ReleaseFiles, widths: dict[str, int], layouts: dict[str, RowLayout],
                          snippet_lengths: set[float], data: DataConfig) -> FeatureSpec:
    return FeatureSpec(
        source="release",
        path=str(path),
        streams={stream: widths[stream] for stream in files.streams},
        snippet_seconds=next(iter(snippet_lengths)) if len(snippet_lengths) == 1 else None,
        grid={"snippet_frames": data.release_snippet_frames, "frame_rate": "native (fps_dict.json)"},
        extractors={stream: _stream_identity(stream, files.folders[stream], widths[stream], layouts[stream], data)
                    for stream in files.streams},
    )


def _layout_note(files: _ReleaseFiles, layouts: dict[str, RowLayout], data: DataConfig) -> str:
    """One line saying how each folder's rows were read."""
    parts = []
    for stream in files.streams:
        layout = layouts[stream]
        words = layout.words()
        if layout.kind == "frame":
            step = layout.rows_per_snippet
            sampled = data.release_frame_rows == "sample"
            words += f", every {step}th row plus the last" if sampled else f", mean of each {step}"
        parts.append(f"{files.folders[stream]} {words}")
    return f"released layout read as: {'; '.join(parts)}"


def load_release_dataset(path: Path, data: DataConfig, annotations: Path | None) -> SentimentDataset:
    """Every video of the release at `path` with its annotations (see the module docstring)."""
    files = _release_files(path, data)
    problems = files.problems
    annotation_problems: list[str] = []
    raw = _read_raw_videos(files, data, annotation_problems)
    split_of = {video_id: video.split for video_id, video in raw.items()}
    videos, widths, layouts = _aligned_videos(raw, files, data, problems)
    annotation_set = _release_annotations(path, videos, files, data, annotations)
    annotation_problems += annotation_set.problems
    for video_id, split in split_of.items():
        subset = annotation_set.subsets.get(video_id)
        if subset is not None and subset != split:
            problems.append(f"video {video_id}: in split_{split}.txt but its annotations say subset "
                            f"{subset!r}; using the split file")
    num_classes = len(data.class_names)
    samples = {
        video_id: build_sample(video_id, video, annotation_set, num_classes, annotation_problems,
                               data.release_snippet_frames, data.alignment_tolerance_rows)
        for video_id, video in videos.items()
    }
    disagreement = points_outside_segments(samples)
    if disagreement:
        problems.append(disagreement)
    raise_if_strict(annotation_problems, data.strict, str(path))
    train_ids = sorted(v for v, split in split_of.items() if split == "train")
    with_segments = {s.video_id for s in annotation_set.segments}
    train, validation = carve_validation(train_ids, data.validation_fraction, data.split_seed, with_segments)
    snippet_lengths = {round(video.snippet_seconds, 9) for video in videos.values()}
    return SentimentDataset(
        class_names=display_class_names(data.vocabulary(), annotation_set),
        samples=samples,
        splits={"train": train, "validation": validation,
                "test": sorted(v for v, s in split_of.items() if s == "test")},
        feature_spec=_release_feature_spec(path, files, widths, layouts, snippet_lengths, data),
        problems=annotation_problems + problems,
        annotation_files=annotation_set.files,
        vocabulary=data.vocabulary(),
        notes=[_layout_note(files, layouts, data), *annotation_set.notes],
    )
