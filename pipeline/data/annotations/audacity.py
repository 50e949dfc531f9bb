"""Audacity label tracks (File > Export > Labels): a .txt file, one label per line,
``start<TAB>end<TAB>label`` in seconds.

A label with start == end (Audacity's point label), or lasting at most
``data.point_max_seconds``, is a point; a longer one a segment. The label text is the
class. Lines starting with a backslash (a spectral selection's frequencies, written
under its label) are skipped. The file holds no link to its video: the video is the
file's name without ``.txt`` and a trailing ``.labels`` ("talk.labels.txt" -> "talk"), or
the one video whose name `localize` cut into this file's name to fit the filesystem
(cache.atomic.fitted_name).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from cache.atomic import fitted_name
from pipeline.data.annotations.checks import Checker, finite_float, match_video_id
from pipeline.data.annotations.records import (
    AnnotationSet,
    ClassVocabulary,
    ReadOptions,
    read_utf8_text,
)

AUDACITY_LINE = re.compile(r"^\s*[-+0-9.eE]+\t[-+0-9.eE]+(\t.*)?$")
LABELS_SUFFIX = ".labels"


def _read_lines(path: Path) -> list[str]:
    """The file's lines, split where Audacity ends them (LF, CRLF, CR) and nowhere else: a
    label holding a form feed, U+0085 or U+2028 stays on its line."""
    return [line.rstrip("\n") for line in io.StringIO(read_utf8_text(path), newline=None)]


def audacity_labels_problem(path: Path) -> str | None:
    """None when the first label line of a .txt file reads start<TAB>end[<TAB>label] (a file
    without any line is a label track when it is named *.labels.txt, as localize names
    them); else why it is not a label track, in a few words."""
    try:
        with path.open("r", encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip() and not line.startswith("\\"):
                    if AUDACITY_LINE.match(line.rstrip("\r\n")):
                        return None
                    return f"line {number} reads {line.strip()[:40]!r}, not start<TAB>end<TAB>label"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    return None if path.name.lower().endswith(LABELS_SUFFIX + ".txt") else "no label line"


def audacity_video_name(path: Path) -> PurePosixPath:
    """The file's path without ".txt" and a trailing ".labels"."""
    stem = path.with_suffix("")
    if stem.name.lower().endswith(LABELS_SUFFIX) and len(stem.name) > len(LABELS_SUFFIX):
        stem = stem.with_name(stem.name[: -len(LABELS_SUFFIX)])
    return PurePosixPath(stem.as_posix())


def _video_of_cut_name(path: Path, known: Mapping[str, float] | None) -> str | None:
    """The one known video whose name, cut as `localize` cuts a name that would not fit the
    filesystem with ".labels.txt" after it, gives this file's name; None when not one."""
    suffix = LABELS_SUFFIX + ".txt"
    if known is None or not path.name.lower().endswith(suffix):
        return None
    matches = [video_id for video_id in known if fitted_name(PurePosixPath(video_id).name, suffix) == path.name]
    return matches[0] if len(matches) == 1 else None


def _read_line(line: str, where: str, video_id: str, checker: Checker, result: AnnotationSet) -> None:
    fields = line.split("\t", 2)
    if len(fields) < 2:
        checker.problem(where, "expected start<TAB>end<TAB>label; dropped")
        return
    start, end = finite_float(fields[0]), finite_float(fields[1])
    label = fields[2].strip() if len(fields) == 3 else ""
    if start is None or end is None:
        checker.problem(where, f"start {fields[0]!r} / end {fields[1]!r} must be numbers (seconds); dropped")
        return
    if not label:
        checker.problem(where, f"label at {start:.3f} s has no text (the class); dropped")
        return
    class_index = checker.class_of(label, where)
    if class_index is not None:
        checker.add_mark(video_id, start, end, label, class_index, where, result)


def read_audacity_labels(
    path: Path | str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    options: ReadOptions | None = None,
) -> AnnotationSet:
    """Points and segments of an Audacity label track (see the module docstring)."""
    path = Path(path)
    lines = _read_lines(path)
    checker = Checker(path, vocabulary, durations, options)
    result = AnnotationSet()
    name = audacity_video_name(path)
    video_id = match_video_id([name], durations) or _video_of_cut_name(path, durations)
    if video_id is None:
        checker.problem(str(path), f"no video with features is named {name.name!r}; file skipped "
                        "(name the file after its video: VIDEO.txt or VIDEO.labels.txt)")
    else:
        result.videos.add(video_id)
        for line_number, line in enumerate(lines, start=1):
            if line.strip() and not line.startswith("\\"):
                _read_line(line, f"{path}:{line_number}", video_id, checker, result)
    result.problems = checker.problems
    result.file_read(str(path))
    return result
