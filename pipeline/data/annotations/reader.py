"""One annotation file or a folder of them, each recognised by its extension and content
(see docs/formats.md for every format)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cache.json_text import parse_json
from pipeline.data.annotations.audacity import audacity_labels_problem, read_audacity_labels
from pipeline.data.annotations.csv_files import (
    POINT_COLUMNS,
    RELEASE_POINT_COLUMNS,
    SEGMENT_COLUMNS,
    VIDEO_LABEL_COLUMNS,
    csv_header,
    read_points_csv,
    read_release_points_csv,
    read_segments_csv,
    read_video_labels_csv,
)
from pipeline.data.annotations.elan import read_elan
from pipeline.data.annotations.label_studio import read_label_studio
from pipeline.data.annotations.records import (
    AnnotationError,
    AnnotationSet,
    ClassVocabulary,
    ReadOptions,
    raise_if_strict,
)
from pipeline.data.annotations.segments_json import read_segments_json

ANNOTATION_SUFFIXES: tuple[str, ...] = (".csv", ".json", ".eaf", ".txt")
EXPECTED_FORMATS = (
    f"a CSV with header {','.join(POINT_COLUMNS)} (points), {','.join(SEGMENT_COLUMNS)} (segments) or "
    f"{','.join(VIDEO_LABEL_COLUMNS)} (video labels), an ActivityNet-style or Label Studio .json, "
    "an ELAN .eaf or an Audacity label track (.txt)"
)


def _json_kind(path: Path) -> str:
    """"label_studio" for a JSON list (of tasks), "segments" otherwise (ActivityNet's
    {"database": ...}, whose reader explains what is wrong with anything else)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as error:
        raise AnnotationError(f"{path}: cannot read annotation file ({error.strerror})") from None
    return "label_studio" if head.startswith(b"[") else "segments"


def annotation_kind(path: Path) -> str:
    """What one file holds: "points", "segments", "video_labels", "release_points" (CSV,
    by header), "segments" or "label_studio" (.json), "elan" (.eaf) or "audacity" (.txt
    whose first line reads start<TAB>end<TAB>label); AnnotationError when none fits."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _json_kind(path)
    if suffix == ".eaf":
        return "elan"
    if suffix == ".txt":
        why = audacity_labels_problem(path)
        if why is None:
            return "audacity"
        raise AnnotationError(f"{path}: not an Audacity label track ({why}); expected {EXPECTED_FORMATS}")
    header = set(csv_header(path))
    if set(RELEASE_POINT_COLUMNS) <= header:
        return "release_points"
    if set(SEGMENT_COLUMNS) <= header:
        return "segments"
    if set(POINT_COLUMNS) <= header:
        return "points"
    if set(VIDEO_LABEL_COLUMNS) <= header:
        return "video_labels"
    raise AnnotationError(f"{path}: not a recognised annotation file; expected {EXPECTED_FORMATS}")


def _read_label_studio_file(path: Path, vocabulary, durations, frame_rates, options) -> AnnotationSet:
    try:
        tasks = parse_json(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise AnnotationError(f"{path}: cannot read annotation file ({error.strerror})") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise AnnotationError(f"{path}: not valid JSON ({error}); expected a Label Studio JSON export") from None
    return read_label_studio(path, tasks, vocabulary, durations, frame_rates, options)


def read_annotation_file(
    file: Path,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    frame_rates: Mapping[str, float] | None = None,
    options: ReadOptions | None = None,
) -> AnnotationSet:
    """One file of any format (recognised by :func:`annotation_kind`)."""
    kind = annotation_kind(file)
    if kind == "release_points":
        if frame_rates is None:
            raise AnnotationError(
                f"{file}: TSL-300 point_labels.csv gives points in native frames; it needs the videos' "
                "frame rates (fps_dict.json), which only the released layout provides"
            )
        return read_release_points_csv(file, vocabulary, frame_rates, durations)
    if kind == "elan":
        return read_elan(file, vocabulary, durations, options)
    if kind == "audacity":
        return read_audacity_labels(file, vocabulary, durations, options)
    if kind == "label_studio":
        return _read_label_studio_file(file, vocabulary, durations, frame_rates, options)
    if kind == "points":
        return read_points_csv(file, vocabulary, durations)
    if kind == "video_labels":
        return read_video_labels_csv(file, vocabulary, durations)
    if file.suffix.lower() == ".json":
        return read_segments_json(file, vocabulary, durations)
    return read_segments_csv(file, vocabulary, durations)


def _say_skipped(file: Path, why: str, combined: AnnotationSet) -> None:
    """A folder's .txt file that is not a label track: a problem when it is named like one
    (*.labels.txt: meant to be read), else a note (notes, a README)."""
    if file.name.lower().endswith(".labels.txt"):
        combined.problems.append(f"{file}: not an Audacity label track ({why}); skipped")
    else:
        combined.notes.append(f"{file}: skipped, not an Audacity label track ({why})")


def read_annotations(
    path: Path | str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    frame_rates: Mapping[str, float] | None = None,
    strict: bool = False,
    options: ReadOptions | None = None,
) -> AnnotationSet:
    """Read one annotation file, or every .csv/.json/.eaf/.txt file directly inside a
    folder (formats may mix), into one AnnotationSet.

    frame_rates (video -> native fps): for TSL-300's point_labels.csv, and for Label
    Studio frame ranges when neither the config nor the task gives Label Studio's rate.
    In a folder, a .txt file that is not an Audacity label track is skipped, and said so: a
    note for notes or a README, a problem (an error with strict) for one named *.labels.txt,
    which was meant to be one.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in ANNOTATION_SUFFIXES)
        if not files:
            raise AnnotationError(f"{path}: folder holds no annotation files ({', '.join(ANNOTATION_SUFFIXES)})")
    elif path.is_file():
        files = [path]
    else:
        raise AnnotationError(f"{path}: annotation file not found")
    combined = AnnotationSet()
    for file in files:
        why = audacity_labels_problem(file) if path.is_dir() and file.suffix.lower() == ".txt" else None
        if why is not None:  # a folder's .txt files are read only when they are label tracks
            _say_skipped(file, why, combined)
            continue
        combined.merge(read_annotation_file(file, vocabulary, durations, frame_rates, options))
    raise_if_strict(combined.problems, strict, str(path))
    return combined
