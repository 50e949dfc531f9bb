"""Tests for pipeline/data/annotations/label_studio.py: a JSON export of video tasks as
Label Studio writes it (Export > JSON), frame ranges of <TimelineLabels>, second ranges of
<Labels> on an <Audio> synced to the video, <Choices> as video labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.data.annotations import (
    AnnotationError,
    ClassVocabulary,
    ReadOptions,
    annotation_kind,
    parse_label_aliases,
    read_annotations,
)

VOCABULARY = ClassVocabulary(("negative", "positive"), parse_label_aliases(("n=negative", "p=positive")))
DURATIONS = {"talk": 10.0, "clips/other": 8.0}
FRAME_RATES = {"talk": 25.0, "clips/other": 30.0}


def annotation(result: list, cancelled: bool = False, annotation_id: int = 31) -> dict:
    return {
        "id": annotation_id, "completed_by": 1, "result": result, "was_cancelled": cancelled, "ground_truth": False,
        "created_at": "2024-05-14T10:00:00.000000Z", "updated_at": "2024-05-14T10:02:11.000000Z",
        "draft_created_at": None,
        "lead_time": 131.4, "prediction": {}, "result_count": len(result), "unique_id": "8c0d2e1a", "import_id": None,
        "last_action": None, "task": 12, "project": 1, "updated_by": 1, "parent_prediction": None,
        "parent_annotation": None, "last_created_by": None,
    }


def timeline(region_id: str, start: int, end: int, label: str) -> dict:
    return {"value": {"ranges": [{"start": start, "end": end}], "timelinelabels": [label]}, "id": region_id,
            "from_name": "videoLabels", "to_name": "video", "type": "timelinelabels", "origin": "manual"}


def task(task_id: int, data: dict, annotations: list, predictions: list | None = None) -> dict:
    return {"id": task_id, "annotations": annotations, "file_upload": "4f1c2e9a-talk.mp4", "drafts": [],
            "predictions": predictions or [], "data": data, "meta": {}, "created_at": "2024-05-14T09:58:00.000000Z",
            "updated_at": "2024-05-14T10:02:11.000000Z", "inner_id": task_id, "total_annotations": len(annotations),
            "cancelled_annotations": 0, "total_predictions": 0, "comment_count": 0, "unresolved_comment_count": 0,
            "last_comment_updated_at": None, "project": 1, "updated_by": 1, "comment_authors": []}


EXPORT = [
    task(12, {"video": "/data/upload/1/4f1c2e9a-talk.mp4"}, [annotation([
        timeline("Xa1", 31, 31, "positive"),  # one frame at 25 fps: [1.20, 1.24] s -> a point at 1.22 s
        timeline("Xa2", 76, 150, "Negative"),  # frames 76..150: [3.0, 6.0] s
        timeline("Xa3", 200, 300, "joy"),
    ])]),
    task(13, {"video": "/data/upload/1/9e8d7c6b-talk.mp4"}, [annotation([timeline("c1", 5, 9, "p")], cancelled=True)]),
    task(14, {"video": "/data/local-files/?d=clips/other.mp4", "fps": 10}, [
        annotation([
            {"value": {"start": 1.5, "end": 2.75, "channel": 0, "labels": ["p"]}, "id": "L1", "from_name": "tricks",
             "to_name": "audio", "type": "labels", "origin": "manual"},
            {"value": {"choices": ["negative"]}, "id": "C1", "from_name": "mood", "to_name": "video", "type": "choices",
             "origin": "manual"},
            timeline("F1", 11, 20, "negative"),  # the task's fps (10): [1.0, 2.0] s
            {"value": {"framesCount": 240, "duration": 8.0, "sequence": []}, "id": "R1", "from_name": "box",
             "to_name": "video", "type": "videorectangle", "origin": "manual"},
        ], annotation_id=40),
        annotation([timeline("F9", 1, 5, "positive")], annotation_id=41),
    ]),
    task(15, {"video": "https://media.example.org/ghost.mp4"}, [annotation([timeline("g1", 1, 2, "p")])]),
    task(16, {"video": "/data/upload/1/4f1c2e9a-talk.mp4"}, [], predictions=[{"model_version": "x", "result": []}]),
]


def write_export(tmp_path: Path, tasks=EXPORT) -> Path:
    path = tmp_path / "project-1-at-2024-05-14-10-05-3c1d2b7e.json"
    path.write_text(json.dumps(tasks, indent=2), encoding="utf-8")
    return path


def test_frames_seconds_and_choices_of_an_export(tmp_path):
    path = write_export(tmp_path)
    assert annotation_kind(path) == "label_studio"
    result = read_annotations(path, VOCABULARY, DURATIONS, FRAME_RATES)
    assert result.videos == {"talk", "clips/other"}
    assert [(p.video_id, p.seconds, p.class_index) for p in result.points] == [("talk", pytest.approx(1.22), 1)]
    assert [(s.video_id, s.start_seconds, s.end_seconds, s.class_index) for s in result.segments] == [
        ("talk", 3.0, 6.0, 0), ("clips/other", 1.5, 2.75, 1), ("clips/other", 1.0, 2.0, 0),
    ]
    assert [(v.video_id, v.class_index) for v in result.video_labels] == [("clips/other", 0)]
    assert result.points[0].where == f"{path}: task 12, result 'Xa1'"
    problems = "\n".join(result.problems)
    assert f"{path}: task 12, result 'Xa3': unknown label 'joy'" in problems
    assert f"{path}: task 14: 2 annotations; the first (id 40) is read" in problems
    assert f"{path}: task 15: no video with features matches its data ('/ghost')" in problems
    assert f"{path}: task 16: has predictions but no annotation" in problems
    assert f"{path}: results of type(s) videorectangle carry no sentiment time mark; ignored" in problems
    assert len(result.problems) == 5  # task 13 (cancelled) is simply not labelled


def test_the_frame_rate_comes_from_the_config_then_the_task_then_the_video(tmp_path):
    path = write_export(tmp_path)
    forced = read_annotations(path, VOCABULARY, DURATIONS, FRAME_RATES, options=ReadOptions(label_studio_frame_rate=50))
    assert [(s.start_seconds, s.end_seconds) for s in forced.segments if s.video_id == "talk"] == [(1.5, 3.0)]
    unknown = read_annotations(path, VOCABULARY, DURATIONS, frame_rates=None)
    assert not [s for s in unknown.segments if s.video_id == "talk"]
    assert any("task 12, result 'Xa2': frame ranges need Label Studio's frame rate" in p for p in unknown.problems)


def test_a_broken_export_is_one_line(tmp_path):
    path = tmp_path / "export.json"
    path.write_text('[{"id": 1, "data": {"video": "a.mp4"}, "annotations": [', encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"export.json: not valid JSON .*Label Studio"):
        read_annotations(path, VOCABULARY, DURATIONS, FRAME_RATES)
    path.write_text(json.dumps([{"id": 1}, "junk"]), encoding="utf-8")
    result = read_annotations(path, VOCABULARY, DURATIONS, FRAME_RATES)
    assert [p.split(": ", 1)[1] for p in result.problems] == [
        "task 1: not a Label Studio task (no \"data\" object); skipped",
        "task #1: not a Label Studio task (no \"data\" object); skipped",
    ]


def test_an_export_nested_past_any_reader_is_not_valid_json(tmp_path):
    path = tmp_path / "export.json"
    path.write_text('[{"id": 1, "data": {"video": ' + "[" * 150_000, encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"export.json: not valid JSON \(nested too deeply.*Label Studio"):
        read_annotations(tmp_path, VOCABULARY, DURATIONS, FRAME_RATES)  # in a folder, as in one file
