"""Checks every annotation format shares: known videos, known labels, times inside the
video, points versus segments, and which video a tool's file or media link names."""

from __future__ import annotations

import math
import posixpath
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from pipeline.data.annotations.records import (
    TIME_EPSILON_SECONDS,
    AnnotationSet,
    ClassVocabulary,
    PointAnnotation,
    ReadOptions,
    SegmentAnnotation,
)


class Checker:
    """Validates video ids, labels and times of one file, collecting problems."""

    def __init__(self, path: Path, vocabulary: ClassVocabulary, durations: Mapping[str, float] | None,
                 options: ReadOptions | None = None):
        self.path = path
        self.vocabulary = vocabulary
        self.durations = durations
        self.options = options or ReadOptions()
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
            self.problem(where,
                         f"segment [{start:.3f}, {end:.3f}] s of video {video_id!r} lies outside {limit}; dropped")
            return None
        self.problem(
            where,
            f"segment [{start:.3f}, {end:.3f}] s of video {video_id!r} reaches outside {limit}; "
            f"clipped to [{clipped_start:.3f}, {clipped_end:.3f}]",
        )
        return clipped_start, clipped_end

    def add_mark(self, video_id: str, start: float, end: float, label: str, class_index: int, where: str,
                 result: AnnotationSet) -> None:
        """A tool's time mark [start, end] (seconds) as a point at its middle when it lasts
        at most options.point_max_seconds, else as a segment (checked like any other)."""
        if end - start < -TIME_EPSILON_SECONDS:
            self.problem(where, f"ends at {end:.3f} s before it starts at {start:.3f} s; dropped")
            return
        if end - start <= self.options.point_max_seconds + TIME_EPSILON_SECONDS:
            seconds = (start + end) / 2
            if self.point_inside(video_id, seconds, where):
                result.points.append(PointAnnotation(video_id, seconds, label, class_index, where))
            return
        bounds = self.clip_segment(video_id, start, end, where)
        if bounds is not None:
            result.segments.append(SegmentAnnotation(video_id, bounds[0], bounds[1], label, class_index, where))


def finite_float(text) -> float | None:
    """A finite float from a string or number, else None."""
    if isinstance(text, bool):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# -- which video a file names -----------------------------------------------------------
def media_path(reference: str, relative_to: Path | None = None) -> PurePosixPath | None:
    """The path a media reference names, without its extension: a file: URL
    ("file:///videos/a%20b.mp4"), another URL's path ("https://host/x/talk.mp4",
    Label Studio's "/data/local-files/?d=videos/talk.mp4") or a plain path, resolved
    against `relative_to` when relative ("./talk.mp4", "../videos/talk.mp4")."""
    reference = reference.strip()
    if not reference:
        return None
    parsed = urlparse(reference)
    text = reference
    is_url = len(parsed.scheme) > 1  # a one-letter scheme is a Windows drive
    if is_url or parsed.query:
        text = parsed.path
        for key_value in parsed.query.split("&"):
            key, _, value = key_value.partition("=")
            if key == "d" and value:  # Label Studio local files: ?d=<path>
                text = value
    text = unquote(text).replace("\\", "/")
    if relative_to is not None and not text.startswith("/") and not is_url:
        text = posixpath.join(relative_to.as_posix(), text)
    path = PurePosixPath(posixpath.normpath(text))
    if not path.name or path.name in (".", ".."):
        return None
    return path.with_suffix("") if path.suffix else path


def match_video_id(candidates: Sequence[PurePosixPath], known: Collection[str] | None) -> str | None:
    """The video a file names, from candidate paths without extension (the file's own
    path first, then its media links).

    Without known videos (`known` None) the first candidate's name. Otherwise the longest
    known id that a candidate path ends with ("talks/demo 01" for
    ".../talks/demo 01"), else the one known id whose last part is a candidate's name;
    None when nothing (or more than one video, by name only) matches.
    """
    if not candidates:
        return None
    if known is None:
        return candidates[0].name
    for candidate in candidates:
        parts = candidate.parts
        full = [k for k in known if parts[-len(PurePosixPath(k).parts):] == PurePosixPath(k).parts]
        if full:
            return max(full, key=lambda k: (len(PurePosixPath(k).parts), k))
    for candidate in candidates:
        by_name = [k for k in known if PurePosixPath(k).name == candidate.name]
        if len(by_name) == 1:
            return by_name[0]
    return None
