"""ActivityNet-style files: ground truth and detection results, read with validation and
written in one way.

Ground truth: {"database": {video: {"subset": str, "annotations": [{"label", "segment":
[start_s, end_s]}]}}} (TSL-300's gt.json / videosenti_gt.json). Results: {"version",
"results": {video: [{"label", "score", "segment"}]}, "external_data"} plus, in files this
tool writes, a few fields saying what produced them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from cache.atomic import atomic_write_json
from cache.json_text import parse_json

RESULTS_VERSION = "fsenet"


class ActivityNetFileError(ValueError):
    """A ground truth or results file that cannot be read as one (missing, not UTF-8, not
    JSON, of another shape, a segment that is not [start, end] seconds, a score that is not
    a finite number): one line naming the file, the entry and what is expected."""


def segment_of(entry: Mapping, where: str) -> tuple[float, float]:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: must be an object with 'label' and 'segment', got "
                         f"{type(entry).__name__} {entry!r:.40}")
    try:
        start, end = (float(value) for value in entry["segment"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: 'segment' must be [start, end] in seconds, got {entry.get('segment')!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise ValueError(f"{where}: segment [{start}, {end}] must be [start, end] in seconds, both finite, "
                         "end >= start")
    return start, end


def label_of(entry: Mapping, where: str) -> str:
    if "label" not in entry:
        raise ValueError(f"{where}: missing 'label'")
    return str(entry["label"])


_SHAPES = {"ground truth": '{"database": {video: {"subset", "annotations": [{"label", "segment"}]}}}',
           "results": '{"results": {video: [{"label", "score", "segment"}]}}'}


def _read_json(path: Path | str, what: str) -> dict:
    """The JSON object in `path`, a `what` file ("ground truth" or "results");
    ActivityNetFileError naming the file and the fix when it cannot be."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = parse_json(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ActivityNetFileError(f"{path}: {what} file not found; check the path") from None
    except OSError as error:
        raise ActivityNetFileError(
            f"{path}: cannot read the {what} file ({error.strerror}); pass a readable file"
        ) from None
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ActivityNetFileError(f"{path}: not UTF-8 (line {line}); save the {what} file as UTF-8") from None
    except json.JSONDecodeError as error:
        raise ActivityNetFileError(f"{path}: not valid JSON ({error.msg}, line {error.lineno}); expected an "
                                   f"ActivityNet-style {what} file {_SHAPES[what]}") from None
    if not isinstance(data, dict):
        raise ActivityNetFileError(f"{path}: holds a JSON {type(data).__name__}; expected an ActivityNet-style {what} "
                                   f"file {_SHAPES[what]}")
    return data


def load_ground_truth(path: Path | str, subset: str | None = None) -> dict[str, list[dict]]:
    """ActivityNet-style ground truth -> {video: [{"label": str, "segment": [start_s, end_s]}]}.

    The file is {"database": {video: {"subset": str, "annotations": [{"label", "segment"}]}}}
    (TSL-300's gt.json / videosenti_gt.json: segment bounds are strings of seconds, labels
    'p'/'n'). `subset` keeps only the videos whose "subset" equals it (e.g. "test");
    videos with no annotations are kept with an empty list. ActivityNetFileError when the
    file is not such a file.
    """
    try:
        return _parse_ground_truth(Path(path), subset)
    except ActivityNetFileError:
        raise
    except ValueError as error:  # segment_of / label_of: the message names the file and the entry
        raise ActivityNetFileError(str(error)) from None


def _parse_ground_truth(path: Path, subset: str | None) -> dict[str, list[dict]]:
    data = _read_json(path, "ground truth")
    database = data.get("database")
    if not isinstance(database, dict):
        raise ValueError(f"{path}: missing the 'database' object of an ActivityNet-style ground truth file")
    ground_truth: dict[str, list[dict]] = {}
    subsets_seen = set()
    for video, record in database.items():
        if not isinstance(record, dict):
            raise ValueError(f"{path}: video {video!r} must map to an object with 'annotations'")
        subsets_seen.add(record.get("subset"))
        if subset is not None and record.get("subset") != subset:
            continue
        annotations = record.get("annotations", [])
        if not isinstance(annotations, list):
            raise ValueError(f"{path}: video {video!r}: 'annotations' must be a list of {{label, segment}} objects, "
                             f"got {type(annotations).__name__} {annotations!r:.40}")
        entries = []
        for n, entry in enumerate(annotations):
            where = f"{path}: video {video!r}, annotation {n}"
            start, end = segment_of(entry, where)
            entries.append({"label": label_of(entry, where), "segment": [start, end]})
        ground_truth[str(video)] = entries
    if subset is not None and not ground_truth:
        known = ", ".join(sorted(str(s) for s in subsets_seen))
        raise ValueError(f"{path}: no video has subset {subset!r}; pass one of the subsets present: {known}")
    return ground_truth


def load_predictions(path: Path | str) -> dict[str, list[dict]]:
    """ActivityNet-style results -> {video: [{"label", "score", "segment": [start_s, end_s]}]}.

    The file is {"results": {video: [{"label", "score", "segment"}]}, ...}; other keys
    ("version", "external_data") are ignored. ActivityNetFileError when the file is not
    such a file (a score must be a finite number, not a boolean; a label a string).
    """
    try:
        return _parse_predictions(Path(path))
    except ActivityNetFileError:
        raise
    except ValueError as error:  # segment_of / label_of: the message names the file and the entry
        raise ActivityNetFileError(str(error)) from None


def _score_of(entry: Mapping, where: str) -> float:
    """A result's finite score; a boolean (`true` reads as 1 to float()) is no score."""
    score = entry.get("score")
    try:
        if isinstance(score, bool):
            raise TypeError
        value = float(score)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: 'score' must be a number, got {score!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: 'score' must be a finite number, got {value}")
    return value


def _result_label(entry: Mapping, where: str) -> str:
    """A result's label: a class name as a string, never a number read as one."""
    label = label_of(entry, where)
    if not isinstance(entry["label"], str):
        raise ValueError(f"{where}: 'label' must be a string (a class name), got "
                         f"{type(entry['label']).__name__} {entry['label']!r:.40}")
    return label


def _parse_predictions(path: Path) -> dict[str, list[dict]]:
    data = _read_json(path, "results")
    results = data.get("results")
    if not isinstance(results, dict):
        raise ValueError(f"{path}: missing the 'results' object of an ActivityNet-style results file")
    predictions: dict[str, list[dict]] = {}
    for video, entries in results.items():
        if not isinstance(entries, list):
            raise ValueError(f"{path}: results of video {video!r} must be a list")
        parsed = []
        for n, entry in enumerate(entries):
            where = f"{path}: video {video!r}, result {n}"
            start, end = segment_of(entry, where)
            parsed.append({"label": _result_label(entry, where), "score": _score_of(entry, where),
                           "segment": [start, end]})
        predictions[str(video)] = parsed
    return predictions


def write_results(path: Path, results: Mapping[str, list[dict]], fields: Mapping | None = None,
                  external_data: Mapping | None = None) -> None:
    """Write ActivityNet results atomically: {"version", **fields, "results",
    "external_data": {"used": false, **external_data}} (entries in the given order)."""
    atomic_write_json(
        Path(path),
        {"version": RESULTS_VERSION, **(fields or {}), "results": dict(results),
         "external_data": {"used": False, **(external_data or {})}},
    )
