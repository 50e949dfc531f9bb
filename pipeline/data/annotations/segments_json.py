"""ActivityNet-style JSON ground truth (TSL-300's gt.json / videosenti_gt.json):
``{"database": {video: {"subset": ..., "annotations": [{"label", "segment": [s, e]}]}}}``,
parsed by :func:`pipeline.data.activitynet.load_ground_truth`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cache.json_text import parse_json
from pipeline.data.activitynet import load_ground_truth
from pipeline.data.annotations.checks import Checker
from pipeline.data.annotations.records import (
    SUBSET_SPLITS,
    AnnotationError,
    AnnotationSet,
    ClassVocabulary,
    SegmentAnnotation,
    raise_if_strict,
)


def read_subsets(path: Path | str) -> dict[str, str | None]:
    """video -> its raw "subset" value in an ActivityNet-style JSON (None when absent)."""
    path = Path(path)
    try:
        database = parse_json(path.read_text(encoding="utf-8")).get("database", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(database, dict):
        return {}
    return {str(video): (record.get("subset") if isinstance(record, dict) else None)
            for video, record in database.items()}


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
    checker = Checker(path, vocabulary, durations)
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
            result.segments.append(
                SegmentAnnotation(video_id, bounds[0], bounds[1], entry["label"], class_index, where)
            )
    result.problems = checker.problems
    raise_if_strict(result.problems, strict, str(path))
    return result
