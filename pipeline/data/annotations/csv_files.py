"""CSV annotation files: one skeleton (a header row, then rows checked one by one) and
one row reader per format.

- points ``video_id,time_s,label`` (seconds);
- segments ``video_id,start_s,end_s,label`` (seconds);
- video labels ``video_id,label`` (one row per class present in the video);
- TSL-300's released ``point_gaussian/point_labels.csv``
  (``class,class_index,start_frame,stop_frame,video_id,point``; ``point`` is a frame index
  at the video's native frame rate).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from pipeline.data.annotations.checks import Checker, finite_float
from pipeline.data.annotations.records import (
    AnnotationError,
    AnnotationSet,
    ClassVocabulary,
    PointAnnotation,
    SegmentAnnotation,
    VideoLabelAnnotation,
    raise_if_strict,
    read_utf8_text,
)

POINT_COLUMNS: tuple[str, ...] = ("video_id", "time_s", "label")
SEGMENT_COLUMNS: tuple[str, ...] = ("video_id", "start_s", "end_s", "label")
VIDEO_LABEL_COLUMNS: tuple[str, ...] = ("video_id", "label")
RELEASE_POINT_COLUMNS: tuple[str, ...] = ("class", "class_index", "start_frame", "stop_frame", "video_id", "point")


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, its fields) of every record of a UTF-8 CSV file, parsed by
    the csv module on the text as the file holds it (newline=''): a quoted field keeps its
    line breaks, and only CR / LF end a record (never form feeds, U+0085, U+2028 or the
    other characters str.splitlines also splits at). AnnotationError when the file cannot be
    read or is not UTF-8."""
    reader = csv.reader(io.StringIO(read_utf8_text(path), newline=""))
    start = 1
    for fields in reader:
        yield start, fields
        start = reader.line_num + 1


def _read_csv_rows(path: Path, required: tuple[str, ...]) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """(line number, row by lower-case column) for every non-blank data row, and the
    problems of rows with the wrong number of fields. Raises AnnotationError when the file
    cannot be read or its header lacks a required column."""
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[str] = []
    for line_number, fields in _csv_records(path):
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
    for _, fields in _csv_records(path):
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
    read_row: Callable[[dict[str, str], str, Checker, AnnotationSet], None],
) -> AnnotationSet:
    """The loop every CSV reader shares: rows under a header with `columns`, each handed to
    `read_row(row, where, checker, result)` ("FILE:LINE" in `where`), problems collected."""
    path = Path(path)
    rows, row_problems = _read_csv_rows(path, columns)
    checker = Checker(path, vocabulary, durations)
    checker.problems += row_problems
    result = AnnotationSet(files={kind: [str(path)]})
    for line_number, row in rows:
        read_row(row, f"{path}:{line_number}", checker, result)
    result.problems = checker.problems
    raise_if_strict(result.problems, strict, str(path))
    return result


# -- readers ----------------------------------------------------------------------------
def _point_row(row: dict[str, str], where: str, checker: Checker, result: AnnotationSet) -> None:
    video_id = row["video_id"]
    seconds = finite_float(row["time_s"])
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


def _segment_row(row: dict[str, str], where: str, checker: Checker, result: AnnotationSet) -> None:
    video_id = row["video_id"]
    start, end = finite_float(row["start_s"]), finite_float(row["end_s"])
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


def _video_label_row(row: dict[str, str], where: str, checker: Checker, result: AnnotationSet) -> None:
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
    return _read_csv_annotations(path, VIDEO_LABEL_COLUMNS, "video_labels", vocabulary, durations, strict,
                                 _video_label_row)


def _release_point_row(frame_rates: Mapping[str, float], vocabulary: ClassVocabulary):
    """The row reader of TSL-300's point_labels.csv (needs each video's frame rate)."""

    def read_row(row: dict[str, str], where: str, checker: Checker, result: AnnotationSet) -> None:
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
