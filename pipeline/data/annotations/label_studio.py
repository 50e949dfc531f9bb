"""Label Studio JSON exports of video tasks (Export > JSON): a list of tasks
``{"id", "data": {"video": URL, ...}, "annotations": [{"result": [...], "was_cancelled"}]}``.

Results read from the first annotation of a task that was not cancelled:

- ``"type": "timelinelabels"`` (the ``<TimelineLabels>`` tag on a ``<Video>``):
  ``{"ranges": [{"start": F1, "end": F2}], "timelinelabels": [LABEL]}`` where F1..F2 are
  video frames counted from 1 on Label Studio's timeline (frame n covers
  [(n - 1) / fps, n / fps)), so the mark is [(F1 - 1) / fps, F2 / fps] seconds. The frame
  rate: ``data.label_studio_frame_rate``, else the task's ``"fps"`` data field (what a
  ``<Video frameRate="$fps">`` uses), else the video's native frame rate.
- ``"type": "labels"`` (``<Labels>`` on an ``<Audio>`` synced to the video, Label Studio's
  "video timeline segmentation" template): ``{"start": S1, "end": S2, "labels": [LABEL]}``
  in seconds.
- ``"type": "choices"`` on the whole video: ``{"choices": [LABEL]}`` -> video labels.

A mark lasting at most ``data.point_max_seconds`` (a single frame at 25 fps lasts 0.04 s)
is a point at its middle; longer ones are segments. The video: the task's
``data.video_id`` when it names a video with features, else the file its media URL names
(``/data/upload/3/1a2b3c4d-talk.mp4`` -> "talk", ``/data/local-files/?d=videos/talk.mp4``
-> "videos/talk"). Tasks with only predictions (never reviewed) are skipped with one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from pipeline.data.annotations.checks import Checker, finite_float, match_video_id, media_path
from pipeline.data.annotations.records import AnnotationSet, ClassVocabulary, ReadOptions, VideoLabelAnnotation

UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")  # Label Studio prefixes uploaded file names
MEDIA_KEYS = ("video", "video_url", "url")  # data fields tried first for the video's URL
FRAME_RATE_KEYS = ("fps", "frame_rate", "frameRate")


def _media_candidates(data: dict) -> list[PurePosixPath]:
    """Paths (without extension) the task's string data fields name, media fields first;
    an uploaded file's name also without Label Studio's 8-hex-digit prefix (tried first)."""
    keys = [k for k in MEDIA_KEYS if k in data] + [k for k in data if k not in MEDIA_KEYS]
    found: list[PurePosixPath] = []
    for key in keys:
        value = data[key]
        path = media_path(value) if isinstance(value, str) and key != "video_id" else None
        if path is None:
            continue
        upload = UPLOAD_PREFIX.match(path.name)
        if upload and "upload" in path.parts:
            found.append(path.with_name(upload.group(1)))
        found.append(path)
    return found


def _task_video(data: dict, durations: Mapping[str, float] | None) -> str | None:
    named = data.get("video_id")
    if isinstance(named, str) and named.strip() and (durations is None or named.strip() in durations):
        return named.strip()
    return match_video_id(_media_candidates(data), durations)


def _frame_rate(data: dict, video_id: str, frame_rates: Mapping[str, float] | None,
                options: ReadOptions) -> float | None:
    if options.label_studio_frame_rate > 0:
        return options.label_studio_frame_rate
    for key in FRAME_RATE_KEYS:
        value = finite_float(data.get(key))
        if value is not None and value > 0:
            return value
    native = (frame_rates or {}).get(video_id)
    return float(native) if native and native > 0 else None


def _marks(kind: str, value: dict, fps: float | None, where: str, checker: Checker) -> list[tuple[float, float]]:
    """(start s, end s) of a timelinelabels / labels result's ranges; problems for bad ones."""
    if kind == "labels":
        start, end = finite_float(value.get("start")), finite_float(value.get("end"))
        if start is None or end is None:
            checker.problem(where, "start / end must be numbers (seconds); dropped")
            return []
        return [(start, end)]
    if fps is None:
        checker.problem(where, "frame ranges need Label Studio's frame rate: set data.label_studio_frame_rate "
                        "(its <Video frameRate>, 24 unless set) or give the task an \"fps\" field; dropped")
        return []
    marks = []
    for number, frames in enumerate(value.get("ranges") or []):
        start = finite_float(frames.get("start")) if isinstance(frames, dict) else None
        end = finite_float(frames.get("end")) if isinstance(frames, dict) else None
        if start is None or end is None:
            checker.problem(f"{where}, range {number}", "start / end must be frame numbers; dropped")
            continue
        marks.append((max(start - 1.0, 0.0) / fps, end / fps))
    return marks


def _read_result(item, where: str, video_id: str, fps: float | None, checker: Checker,
                 result: AnnotationSet) -> str | None:
    """One result of an annotation; returns its type when it is one this reader ignores."""
    kind = item.get("type") if isinstance(item, dict) else None
    value = item.get("value") if isinstance(item, dict) else None
    if kind not in ("timelinelabels", "labels", "choices"):
        return str(kind)
    if not isinstance(value, dict):
        checker.problem(where, "has no \"value\" object; dropped")
        return None
    labels = value.get({"timelinelabels": "timelinelabels", "labels": "labels", "choices": "choices"}[kind])
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        checker.problem(where, f"has no label list in value.{kind}; dropped")
        return None
    marks = [] if kind == "choices" else _marks(kind, value, fps, where, checker)
    for label in labels:
        class_index = checker.class_of(label, where)
        if class_index is None:
            continue
        if kind == "choices":
            result.video_labels.append(VideoLabelAnnotation(video_id, label, class_index, where))
        for start, end in marks:
            checker.add_mark(video_id, start, end, label, class_index, where, result)
    return None


def _read_task(task, index: int, frame_rates: Mapping[str, float] | None, checker: Checker, result: AnnotationSet,
               ignored: set[str]) -> None:
    where_task = (f"{checker.path}: task {task.get('id', f'#{index}')!r}" if isinstance(task, dict)
                  else f"{checker.path}: task #{index}")
    data = task.get("data") if isinstance(task, dict) else None
    if not isinstance(data, dict):
        checker.problem(where_task, "not a Label Studio task (no \"data\" object); skipped")
        return
    video_id = _task_video(data, checker.durations)
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not annotations:
        if task.get("predictions"):
            checker.problem(where_task, "has predictions but no annotation (not reviewed in Label Studio); skipped")
        return
    if video_id is None:
        shown = ", ".join(repr(m.as_posix()) for m in _media_candidates(data)[:2]) or "no media URL"
        checker.problem(where_task, f"no video with features matches its data ({shown}); skipped")
        return
    if len(annotations) > 1:
        checker.problem(where_task,
                        f"{len(annotations)} annotations; the first (id {annotations[0].get('id')!r}) is read")
    result.videos.add(video_id)
    fps = _frame_rate(data, video_id, frame_rates, checker.options)
    for number, item in enumerate(annotations[0].get("result") or []):
        item_id = item.get("id", number) if isinstance(item, dict) else number
        kind = _read_result(item, f"{where_task}, result {item_id!r}", video_id, fps, checker, result)
        if kind is not None:
            ignored.add(kind)


def read_label_studio(
    path: Path | str,
    tasks: list,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    frame_rates: Mapping[str, float] | None = None,
    options: ReadOptions | None = None,
) -> AnnotationSet:
    """Points, segments and video labels of a Label Studio JSON export (`tasks`, the
    parsed file at `path`; see the module docstring)."""
    path = Path(path)
    checker = Checker(path, vocabulary, durations, options)
    result = AnnotationSet()
    ignored: set[str] = set()
    for index, task in enumerate(tasks):
        _read_task(task, index, frame_rates, checker, result, ignored)
    if ignored:
        checker.problem(str(path),
                        f"results of type(s) {', '.join(sorted(ignored))} carry no sentiment time mark; ignored")
    result.problems = checker.problems
    result.file_read(str(path))
    return result
