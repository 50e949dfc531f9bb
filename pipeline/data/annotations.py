"""Annotation files: points, segments and video labels, read with validation.

Formats (times in seconds; a header row is required in every CSV):

- points CSV ``video_id,time_s,label``: one point-level label per row;
- segments CSV ``video_id,start_s,end_s,label`` or an ActivityNet-style JSON
  ``{"database": {video: {"subset": ..., "annotations": [{"label", "segment": [s, e]}]}}}``
  (TSL-300's gt.json / videosenti_gt.json; parsed by :func:`pipeline.data.activitynet.load_ground_truth`);
- video labels CSV ``video_id,label``: one row per class present in the video;
- TSL-300's released ``point_gaussian/point_labels.csv``
  (``class,class_index,start_frame,stop_frame,video_id,point``; ``point`` is a frame index
  at the video's native frame rate), read by :func:`read_release_points_csv`.

Problems are collected, never silently dropped: each is one line naming the file and
line (or, for JSON, the video and annotation index) and what was done about it. Unknown
videos, unknown labels, malformed rows and points outside [0, duration] are dropped;
segments reaching outside [0, duration] are clipped when some of them lies inside, else
dropped; segments with start >= end are dropped. ``strict=True`` turns any problem into
an :class:`AnnotationError` instead.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.data.activitynet import load_ground_truth

POINT_COLUMNS: tuple[str, ...] = ("video_id", "time_s", "label")
SEGMENT_COLUMNS: tuple[str, ...] = ("video_id", "start_s", "end_s", "label")
VIDEO_LABEL_COLUMNS: tuple[str, ...] = ("video_id", "label")
RELEASE_POINT_COLUMNS: tuple[str, ...] = ("class", "class_index", "start_frame", "stop_frame", "video_id", "point")

# ActivityNet / TSL-300 "subset" values -> the split they mean.
SUBSET_SPLITS: dict[str, str] = {
    "training": "train",
    "train": "train",
    "validation": "validation",
    "val": "validation",
    "testing": "test",
    "test": "test",
}

TIME_EPSILON_SECONDS = 1e-6  # slack when comparing a time to the video's duration


class AnnotationError(ValueError):
    """Annotations that cannot be used as asked; the message names the file."""


# -- labels -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassVocabulary:
    """The configured sentiment classes and the spellings annotations may use for them.

    Attributes:
        class_names: the classes in index order, e.g. ("negative", "positive").
        aliases: other spelling -> class name, e.g. {"n": "negative", "p": "positive"}.
    Matching is case-insensitive and ignores surrounding spaces.
    """

    class_names: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.class_names:
            raise ValueError("at least one class name is needed")
        lowered = [name.strip().lower() for name in self.class_names]
        if len(set(lowered)) != len(lowered):
            raise ValueError(f"class names repeat (case-insensitively): {list(self.class_names)}")
        for alias, target in self.aliases.items():
            if target.strip().lower() not in lowered:
                raise ValueError(f"alias {alias!r} points to {target!r}, not one of {list(self.class_names)}")

    def index_of(self, label: str) -> int | None:
        """Class index of a label as written in a file, or None when it names no class."""
        key = label.strip().lower()
        lowered = [name.strip().lower() for name in self.class_names]
        if key in lowered:
            return lowered.index(key)
        for alias, target in self.aliases.items():
            if alias.strip().lower() == key:
                return lowered.index(target.strip().lower())
        return None

    def accepted_labels(self) -> str:
        """The spellings that are accepted, for messages."""
        names = list(self.class_names) + [alias for alias in self.aliases if alias not in self.class_names]
        return ", ".join(repr(name) for name in names)


def parse_label_aliases(entries: Iterable[str]) -> dict[str, str]:
    """("n=negative", "p=positive") -> {"n": "negative", "p": "positive"}."""
    aliases = {}
    for entry in entries:
        alias, sep, target = entry.partition("=")
        if not sep or not alias.strip() or not target.strip():
            raise ValueError(f"label alias {entry!r} must read ALIAS=CLASS, e.g. n=negative")
        aliases[alias.strip()] = target.strip()
    return aliases


# -- records ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PointAnnotation:
    """One point-level label.

    Attributes:
        video_id: the video.
        seconds: time of the point in seconds from the start of the video.
        label: the label as written in the file.
        class_index: index into the vocabulary's class names.
        where: "FILE:LINE" the point came from.
        frame: native-frame index when the file gave frames (TSL-300's point_labels.csv),
            else None; then snippet = frame // snippet_frames exactly.
    """

    video_id: str
    seconds: float
    label: str
    class_index: int
    where: str
    frame: int | None = None


@dataclass(frozen=True)
class SegmentAnnotation:
    """One labelled segment [start_seconds, end_seconds] (seconds, start < end)."""

    video_id: str
    start_seconds: float
    end_seconds: float
    label: str
    class_index: int
    where: str


@dataclass(frozen=True)
class VideoLabelAnnotation:
    """One class present in a video (video-level supervision)."""

    video_id: str
    label: str
    class_index: int
    where: str


@dataclass
class AnnotationSet:
    """Everything read from one or more annotation files.

    Attributes:
        points, segments, video_labels: the valid records, in file order.
        subsets: video -> split ("train", "validation" or "test") from an ActivityNet
            JSON "subset" field (videos without a usable subset are absent).
        videos: every video the files mention with a valid id (including videos listed
            in a JSON database with no annotations).
        problems: one line per problem, naming the file and line.
        files: kind ("points", "segments", "video_labels") -> the files read.
    """

    points: list[PointAnnotation] = field(default_factory=list)
    segments: list[SegmentAnnotation] = field(default_factory=list)
    video_labels: list[VideoLabelAnnotation] = field(default_factory=list)
    subsets: dict[str, str] = field(default_factory=dict)
    videos: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)

    def merge(self, other: AnnotationSet) -> None:
        """Add another set's records, subsets, problems and files to this one."""
        self.points += other.points
        self.segments += other.segments
        self.video_labels += other.video_labels
        self.subsets.update(other.subsets)
        self.videos |= other.videos
        self.problems += other.problems
        for kind, paths in other.files.items():
            self.files.setdefault(kind, []).extend(paths)

    def kinds(self) -> set[str]:
        """The kinds of annotation read ("points", "segments", "video_labels")."""
        return set(self.files)


def raise_if_strict(problems: list[str], strict: bool, what: str) -> None:
    """With strict, any problem is an AnnotationError quoting the first few."""
    if strict and problems:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise AnnotationError(f"{what}: {len(problems)} annotation problem(s), strict mode: {shown}{more}")


# -- checks shared by every format ------------------------------------------------------
class _Checker:
    """Validates video ids, labels and times of one file, collecting problems."""

    def __init__(self, path: Path, vocabulary: ClassVocabulary, durations: Mapping[str, float] | None):
        self.path = path
        self.vocabulary = vocabulary
        self.durations = durations
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def video_known(self, video_id: str, where: str) -> bool:
        if not video_id:
            self.problem(where, "empty video_id; row dropped")
            return False
        if self.durations is not None and video_id not in self.durations:
            self.problem(where, f"unknown video {video_id!r} (no features for it); dropped")
            return False
        return True

    def class_of(self, label: str, where: str) -> int | None:
        index = self.vocabulary.index_of(label)
        if index is None:
            self.problem(where, f"unknown label {label!r} (known: {self.vocabulary.accepted_labels()}); dropped")
        return index

    def duration(self, video_id: str) -> float | None:
        return None if self.durations is None else self.durations.get(video_id)

    def point_inside(self, video_id: str, seconds: float, where: str) -> bool:
        duration = self.duration(video_id)
        if seconds < -TIME_EPSILON_SECONDS or (duration is not None and seconds > duration + TIME_EPSILON_SECONDS):
            limit = f"[0, {duration:.3f}] s" if duration is not None else "[0, inf) s"
            self.problem(where, f"time {seconds:.3f} s of video {video_id!r} is outside {limit}; dropped")
            return False
        return True

    def clip_segment(self, video_id: str, start: float, end: float, where: str) -> tuple[float, float] | None:
        if not start < end:
            self.problem(where, f"segment [{start:.3f}, {end:.3f}] s of video {video_id!r} has start >= end; dropped")
            return None
        duration = self.duration(video_id)
        upper = math.inf if duration is None else duration
        if start >= -TIME_EPSILON_SECONDS and end <= upper + TIME_EPSILON_SECONDS:
            return start, end
        limit = f"[0, {upper:.3f}] s"
        clipped_start, clipped_end = max(start, 0.0), min(end, upper)
        if clipped_start >= clipped_end:
            self.problem(where, f"segment [{start:.3f}, {end:.3f}] s of video {video_id!r} lies outside {limit}; dropped")
            return None
        self.problem(
            where,
            f"segment [{start:.3f}, {end:.3f}] s of video {video_id!r} reaches outside {limit}; "
            f"clipped to [{clipped_start:.3f}, {clipped_end:.3f}]",
        )
        return clipped_start, clipped_end


def _finite_float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def read_utf8_text(path: Path) -> str:
    """The text of a UTF-8 file (a leading BOM dropped); AnnotationError naming the line of
    the first byte that is not UTF-8, or why the file cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise AnnotationError(f"{path}: cannot read annotation file ({error.strerror})") from None
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise AnnotationError(
            f"{path}: not UTF-8 (line {line}: byte 0x{data[error.start]:02x}); save the file as UTF-8 text"
        ) from None


def _read_csv_rows(path: Path, required: tuple[str, ...]) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """(line number, row by lower-case column) for every non-blank data row, and the
    problems of rows with the wrong number of fields. Raises AnnotationError when the file
    cannot be read or its header lacks a required column."""
    text = read_utf8_text(path)
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[str] = []
    for line_number, fields in enumerate(reader, start=1):
        if not fields or all(not value.strip() for value in fields):
            continue
        if header is None:
            header = [value.strip().lower() for value in fields]
            missing = [column for column in required if column not in header]
            if missing:
                raise AnnotationError(
                    f"{path}: line {line_number}: header {','.join(header)!r} lacks column(s) {', '.join(missing)}; "
                    f"expected a header row {','.join(required)}"
                )
            continue
        if len(fields) != len(header):
            problems.append(f"{path}:{line_number}: {len(fields)} fields, the header has {len(header)}; row dropped")
            continue
        rows.append((line_number, {name: value.strip() for name, value in zip(header, fields, strict=True)}))
    if header is None:
        raise AnnotationError(f"{path}: empty file; expected a header row {','.join(required)}")
    return rows, problems


def csv_header(path: Path) -> list[str]:
    """The lower-cased header of a CSV file (first non-blank row), [] when there is none;
    AnnotationError when the file is not UTF-8 (naming the line) or cannot be read."""
    for fields in csv.reader(read_utf8_text(path).splitlines()):
        if fields and any(value.strip() for value in fields):
            return [value.strip().lower() for value in fields]
    return []


def _read_csv_annotations(
    path: Path | str,
    columns: tuple[str, ...],
    kind: str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None,
    strict: bool,
    read_row: Callable[[dict[str, str], str, _Checker, AnnotationSet], None],
) -> AnnotationSet:
    """The loop every CSV reader shares: rows under a header with `columns`, each handed to
    `read_row(row, where, checker, result)` ("FILE:LINE" in `where`), problems collected."""
    path = Path(path)
    rows, row_problems = _read_csv_rows(path, columns)
    checker = _Checker(path, vocabulary, durations)
    checker.problems += row_problems
    result = AnnotationSet(files={kind: [str(path)]})
    for line_number, row in rows:
        read_row(row, f"{path}:{line_number}", checker, result)
    result.problems = checker.problems
    raise_if_strict(result.problems, strict, str(path))
    return result


# -- readers ----------------------------------------------------------------------------
def _point_row(row: dict[str, str], where: str, checker: _Checker, result: AnnotationSet) -> None:
    video_id = row["video_id"]
    seconds = _finite_float(row["time_s"])
    if seconds is None:
        checker.problem(where, f"time_s {row['time_s']!r} is not a number; dropped")
        return
    if not checker.video_known(video_id, where):
        return
    result.videos.add(video_id)
    class_index = checker.class_of(row["label"], where)
    if class_index is None or not checker.point_inside(video_id, seconds, where):
        return
    result.points.append(PointAnnotation(video_id, seconds, row["label"], class_index, where))


def read_points_csv(
    path: Path | str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    strict: bool = False,
) -> AnnotationSet:
    """Points from a CSV with header ``video_id,time_s,label`` (time in seconds).

    durations: video -> duration in seconds of the videos that have features; None skips
    the unknown-video and time-range checks (times must still be >= 0).
    """
    return _read_csv_annotations(path, POINT_COLUMNS, "points", vocabulary, durations, strict, _point_row)


def _segment_row(row: dict[str, str], where: str, checker: _Checker, result: AnnotationSet) -> None:
    video_id = row["video_id"]
    start, end = _finite_float(row["start_s"]), _finite_float(row["end_s"])
    if start is None or end is None:
        checker.problem(where, f"start_s {row['start_s']!r} / end_s {row['end_s']!r} must be numbers; dropped")
        return
    if not checker.video_known(video_id, where):
        return
    result.videos.add(video_id)
    class_index = checker.class_of(row["label"], where)
    bounds = checker.clip_segment(video_id, start, end, where) if class_index is not None else None
    if class_index is None or bounds is None:
        return
    result.segments.append(SegmentAnnotation(video_id, bounds[0], bounds[1], row["label"], class_index, where))


def read_segments_csv(
    path: Path | str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    strict: bool = False,
) -> AnnotationSet:
    """Segments from a CSV with header ``video_id,start_s,end_s,label`` (seconds)."""
    return _read_csv_annotations(path, SEGMENT_COLUMNS, "segments", vocabulary, durations, strict, _segment_row)


def read_subsets(path: Path | str) -> dict[str, str | None]:
    """video -> its raw "subset" value in an ActivityNet-style JSON (None when absent)."""
    path = Path(path)
    try:
        database = json.loads(path.read_text(encoding="utf-8")).get("database", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(database, dict):
        return {}
    return {str(video): (record.get("subset") if isinstance(record, dict) else None) for video, record in database.items()}


def read_segments_json(
    path: Path | str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    strict: bool = False,
) -> AnnotationSet:
    """Segments and subsets from an ActivityNet-style JSON ground truth.

    Parsed by :func:`pipeline.data.activitynet.load_ground_truth`; a structurally broken file
    (not JSON, no "database", a segment that is not two numbers) is an AnnotationError.
    The "subset" of each video ("training"/"validation"/"testing" or "train"/"test")
    fills ``subsets``; an unrecognised subset is a problem and the video gets none.
    """
    path = Path(path)
    try:
        ground_truth = load_ground_truth(path)
    except ValueError as error:
        raise AnnotationError(str(error)) from None
    checker = _Checker(path, vocabulary, durations)
    result = AnnotationSet(files={"segments": [str(path)]})
    subsets = read_subsets(path)
    for video_id, entries in ground_truth.items():
        where_video = f"{path}: video {video_id!r}"
        if not checker.video_known(video_id, where_video):
            continue
        result.videos.add(video_id)
        raw_subset = subsets.get(video_id)
        if raw_subset is not None:
            split = SUBSET_SPLITS.get(str(raw_subset).strip().lower())
            if split is None:
                checker.problem(
                    where_video,
                    f"subset {raw_subset!r} is not one of {', '.join(SUBSET_SPLITS)}; the video is in no split",
                )
                result.subsets[video_id] = "unknown"
            else:
                result.subsets[video_id] = split
        for n, entry in enumerate(entries):
            where = f"{where_video}, annotation {n}"
            class_index = checker.class_of(entry["label"], where)
            if class_index is None:
                continue
            bounds = checker.clip_segment(video_id, entry["segment"][0], entry["segment"][1], where)
            if bounds is None:
                continue
            result.segments.append(SegmentAnnotation(video_id, bounds[0], bounds[1], entry["label"], class_index, where))
    result.problems = checker.problems
    raise_if_strict(result.problems, strict, str(path))
    return result


def _video_label_row(row: dict[str, str], where: str, checker: _Checker, result: AnnotationSet) -> None:
    video_id = row["video_id"]
    if not checker.video_known(video_id, where):
        return
    result.videos.add(video_id)
    class_index = checker.class_of(row["label"], where)
    if class_index is not None:
        result.video_labels.append(VideoLabelAnnotation(video_id, row["label"], class_index, where))


def read_video_labels_csv(
    path: Path | str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    strict: bool = False,
) -> AnnotationSet:
    """Video-level labels from a CSV with header ``video_id,label`` (one row per class present)."""
    return _read_csv_annotations(path, VIDEO_LABEL_COLUMNS, "video_labels", vocabulary, durations, strict, _video_label_row)


def _release_point_row(frame_rates: Mapping[str, float], vocabulary: ClassVocabulary):
    """The row reader of TSL-300's point_labels.csv (needs each video's frame rate)."""

    def read_row(row: dict[str, str], where: str, checker: _Checker, result: AnnotationSet) -> None:
        video_id = row["video_id"]
        try:
            frame = int(row["point"])
            int(row["start_frame"]), int(row["stop_frame"])
        except ValueError:
            checker.problem(where, "point/start_frame/stop_frame must be integer frame indices; dropped")
            return
        if not checker.video_known(video_id, where):
            return
        fps = frame_rates.get(video_id)
        if fps is None or not fps > 0:
            checker.problem(where, f"video {video_id!r} has no frame rate in fps_dict.json; dropped")
            return
        result.videos.add(video_id)
        class_index = checker.class_of(row["class"], where)
        if class_index is None:
            return
        if row["class_index"] != str(class_index):
            checker.problem(
                where,
                f"class {row['class']!r} has class_index {row['class_index']!r} but is class {class_index} "
                f"({vocabulary.class_names[class_index]!r}) here; using the label",
            )
        if frame < 0:
            checker.problem(where, f"negative frame index {frame}; dropped")
            return
        if checker.point_inside(video_id, frame / fps, where):
            result.points.append(PointAnnotation(video_id, frame / fps, row["class"], class_index, where, frame=frame))

    return read_row


def read_release_points_csv(
    path: Path | str,
    vocabulary: ClassVocabulary,
    frame_rates: Mapping[str, float],
    durations: Mapping[str, float] | None = None,
    strict: bool = False,
) -> AnnotationSet:
    """Points from TSL-300's ``point_gaussian/point_labels.csv``.

    Columns ``class,class_index,start_frame,stop_frame,video_id,point``: ``point`` is a
    frame index at the video's native frame rate (``frame_rates``, fps_dict.json), so the
    point lies at point / fps seconds; ``class_index`` must agree with the class the
    label names in the vocabulary's order. start/stop_frame (a small window around the
    point, not the segment) are checked to be integers and otherwise unused.
    """
    read_row = _release_point_row(frame_rates, vocabulary)
    return _read_csv_annotations(path, RELEASE_POINT_COLUMNS, "points", vocabulary, durations, strict, read_row)


# -- any file or folder -----------------------------------------------------------------
def annotation_kind(path: Path) -> str:
    """"points", "segments", "video_labels" or "release_points" for one file, recognised by
    its extension (.json = segments) and CSV header; AnnotationError when none fits."""
    if path.suffix.lower() == ".json":
        return "segments"
    header = set(csv_header(path))
    if set(RELEASE_POINT_COLUMNS) <= header:
        return "release_points"
    if set(SEGMENT_COLUMNS) <= header:
        return "segments"
    if set(POINT_COLUMNS) <= header:
        return "points"
    if set(VIDEO_LABEL_COLUMNS) <= header:
        return "video_labels"
    raise AnnotationError(
        f"{path}: not a recognised annotation file; expected a CSV with header "
        f"{','.join(POINT_COLUMNS)} (points), {','.join(SEGMENT_COLUMNS)} (segments) or "
        f"{','.join(VIDEO_LABEL_COLUMNS)} (video labels), or an ActivityNet-style .json"
    )


def read_annotations(
    path: Path | str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    frame_rates: Mapping[str, float] | None = None,
    strict: bool = False,
) -> AnnotationSet:
    """Read one annotation file, or every .csv/.json file directly inside a folder,
    each recognised by :func:`annotation_kind`, into one AnnotationSet.

    frame_rates (video -> native fps) is needed only for TSL-300's point_labels.csv.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".json"))
        if not files:
            raise AnnotationError(f"{path}: folder holds no .csv or .json annotation files")
    elif path.is_file():
        files = [path]
    else:
        raise AnnotationError(f"{path}: annotation file not found")
    combined = AnnotationSet()
    for file in files:
        kind = annotation_kind(file)
        if kind == "points":
            combined.merge(read_points_csv(file, vocabulary, durations))
        elif kind == "video_labels":
            combined.merge(read_video_labels_csv(file, vocabulary, durations))
        elif kind == "release_points":
            if frame_rates is None:
                raise AnnotationError(
                    f"{file}: TSL-300 point_labels.csv gives points in native frames; it needs the videos' "
                    "frame rates (fps_dict.json), which only the released layout provides"
                )
            combined.merge(read_release_points_csv(file, vocabulary, frame_rates, durations))
        elif file.suffix.lower() == ".json":
            combined.merge(read_segments_json(file, vocabulary, durations))
        else:
            combined.merge(read_segments_csv(file, vocabulary, durations))
    raise_if_strict(combined.problems, strict, str(path))
    return combined
