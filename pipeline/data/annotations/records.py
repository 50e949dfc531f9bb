"""What annotation files become: points, segments and video labels, the class vocabulary
they are checked against, and the options every reader shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from model.setting_checks import check_number

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
POINT_MAX_SECONDS = 0.1  # ELAN / Label Studio / Audacity marks this short (or shorter) are points


class AnnotationError(ValueError):
    """Annotations that cannot be used as asked; the message names the file."""


@dataclass(frozen=True)
class ReadOptions:
    """Settings of the annotation readers (from the `data` config section).

    Attributes:
        point_max_seconds: an ELAN annotation, Label Studio region or Audacity label this
            long or shorter (seconds) is a point at its middle; longer ones are segments.
        label_studio_frame_rate: frames per second of Label Studio's video timeline
            (its <Video frameRate>); 0 = the task's "fps" data field, else the video's
            native frame rate.
    """

    point_max_seconds: float = POINT_MAX_SECONDS
    label_studio_frame_rate: float = 0.0

    def __post_init__(self) -> None:
        check_number("data.point_max_seconds", self.point_max_seconds, 0)
        check_number("data.label_studio_frame_rate", self.label_studio_frame_rate, 0,
                     note="0: from the task or the video")


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
        where: "FILE:LINE" (or the file and element) the point came from.
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
        problems: one line per problem, naming the file and line (or element).
        files: kind ("points", "segments", "video_labels") -> the files read.
        notes: what was done that is no problem, one line each (a folder's README.txt skipped).
    """

    points: list[PointAnnotation] = field(default_factory=list)
    segments: list[SegmentAnnotation] = field(default_factory=list)
    video_labels: list[VideoLabelAnnotation] = field(default_factory=list)
    subsets: dict[str, str] = field(default_factory=dict)
    videos: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def merge(self, other: AnnotationSet) -> None:
        """Add another set's records, subsets, problems and files to this one."""
        self.points += other.points
        self.segments += other.segments
        self.video_labels += other.video_labels
        self.subsets.update(other.subsets)
        self.videos |= other.videos
        self.problems += other.problems
        self.notes += other.notes
        for kind, paths in other.files.items():
            self.files.setdefault(kind, []).extend(paths)

    def has_labels(self) -> bool:
        """Did the files give any usable point, segment or video label?"""
        return bool(self.points or self.segments or self.video_labels)

    def kinds(self) -> set[str]:
        """The kinds of annotation read ("points", "segments", "video_labels")."""
        return set(self.files)

    def file_read(self, path: str) -> None:
        """List `path` under the kinds of record it gave (a tool's file can give several)."""
        for kind, records in (("points", self.points), ("segments", self.segments),
                              ("video_labels", self.video_labels)):
            if records:
                self.files.setdefault(kind, []).append(path)


def raise_if_strict(problems: list[str], strict: bool, what: str) -> None:
    """With strict, any problem is an AnnotationError quoting the first few."""
    if strict and problems:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise AnnotationError(f"{what}: {len(problems)} annotation problem(s), strict mode: {shown}{more}")


def require_labels(path: Path | str, annotations: AnnotationSet, context: str = "") -> None:
    """AnnotationError when the annotations read from `path` (a file or a folder) hold no
    usable label, quoting the first reason rows were dropped and how many problems there
    were; `context` (e.g. "it names none of the 3 videos ...") goes before them."""
    if annotations.has_labels():
        return
    folder = Path(path).is_dir()
    what = f"the annotation files in {path}" if folder else str(path)
    context = f"; {context}" if context else ""
    if annotations.problems:
        why = f"{len(annotations.problems)} problem(s), the first: {annotations.problems[0]}"
    else:
        why = f"{'they hold' if folder else 'it holds'} no point, segment or video label"
    raise AnnotationError(f"{what}: no usable label was found{context}; {why}")


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
