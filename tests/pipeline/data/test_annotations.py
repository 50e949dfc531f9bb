"""Tests for pipeline/data/annotations.py: points / segments / video-label files, validated."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline.data.annotations import (
    AnnotationError,
    ClassVocabulary,
    annotation_kind,
    parse_label_aliases,
    read_annotations,
    read_points_csv,
    read_release_points_csv,
    read_segments_csv,
    read_segments_json,
    read_video_labels_csv,
)
from tests.conftest import SHARED

TSL300 = SHARED / "tsl300"
VOCABULARY = ClassVocabulary(("negative", "positive"), parse_label_aliases(("n=negative", "p=positive")))
DURATIONS = {"a": 10.0, "b b": 20.0}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_points_csv_keeps_good_rows_and_reports_every_problem_with_file_and_line(tmp_path):
    path = write(
        tmp_path / "points.csv",
        "video_id,time_s,label\n"
        "a,1.5,positive\n"  # 2 ok
        "b b,19.0,N\n"  # 3 ok: alias, any case
        "ghost,1.0,p\n"  # 4 unknown video
        "a,12.0,p\n"  # 5 past the duration
        "a,-0.5,p\n"  # 6 negative time
        "a,2.0,joy\n"  # 7 unknown label
        "a,abc,p\n"  # 8 not a number
        "a,3.0\n"  # 9 too few fields
        "\n"  # blank lines are skipped
        "a,10.0,negative\n",  # 11 exactly at the end is inside
    )
    result = read_points_csv(path, VOCABULARY, DURATIONS)
    assert [(p.video_id, p.seconds, p.class_index) for p in result.points] == [
        ("a", 1.5, 1),
        ("b b", 19.0, 0),
        ("a", 10.0, 0),
    ]
    assert result.points[0].where == f"{path}:2"
    lines = {int(problem.split(":")[1]): problem for problem in result.problems}
    assert sorted(lines) == [4, 5, 6, 7, 8, 9]
    assert "unknown video 'ghost'" in lines[4]
    assert "outside [0, 10.000] s" in lines[5] and "dropped" in lines[5]
    assert "outside" in lines[6]
    assert "unknown label 'joy'" in lines[7] and "'negative'" in lines[7]
    assert "not a number" in lines[8]
    assert "2 fields" in lines[9]
    assert all(problem.startswith(str(path)) and "\n" not in problem for problem in result.problems)

    with pytest.raises(AnnotationError, match="6 annotation problem"):
        read_points_csv(path, VOCABULARY, DURATIONS, strict=True)


def test_points_without_known_durations_check_labels_only(tmp_path):
    path = write(tmp_path / "p.csv", "video_id,time_s,label\nanything,5000,p\nx,-1,p\n")
    result = read_points_csv(path, VOCABULARY, None)
    assert [p.video_id for p in result.points] == ["anything"]
    assert len(result.problems) == 1 and "-1.000 s" in result.problems[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,1.0,p\n", "lacks column"),  # a data row where the header should be
        ("", "empty file"),
        ("video,time,label\na,1,p\n", "lacks column"),
    ],
)
def test_a_file_without_the_header_is_an_error_naming_it(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(AnnotationError, match=message) as caught:
        read_points_csv(path, VOCABULARY, DURATIONS)
    assert str(path) in str(caught.value)


def test_segments_csv_drops_empty_segments_and_clips_overhangs(tmp_path):
    path = write(
        tmp_path / "segments.csv",
        "video_id,start_s,end_s,label\n"
        "a,1.0,2.5,p\n"  # 2 ok
        "a,3.0,3.0,p\n"  # 3 start == end
        "a,5.0,4.0,n\n"  # 4 start > end
        "a,8.0,11.0,n\n"  # 5 clipped to the duration
        "a,10.5,12.0,n\n"  # 6 entirely past the end
        "b b,0,20,sad\n",  # 7 unknown label
    )
    result = read_segments_csv(path, VOCABULARY, DURATIONS)
    assert [(s.video_id, s.start_seconds, s.end_seconds, s.class_index) for s in result.segments] == [
        ("a", 1.0, 2.5, 1),
        ("a", 8.0, 10.0, 0),
    ]
    text = "\n".join(result.problems)
    assert f"{path}:3" in text and f"{path}:4" in text and "start >= end" in text
    assert f"{path}:5" in text and "clipped to [8.000, 10.000]" in text
    assert f"{path}:6" in text and "lies outside" in text
    assert f"{path}:7" in text and "unknown label 'sad'" in text
    assert len(result.problems) == 5


def test_activitynet_json_gives_segments_and_subsets(tmp_path):
    database = {
        "a": {"subset": "training", "annotations": [{"label": "p", "segment": ["1.5", "3.25"]}]},
        "b b": {"subset": "testing", "annotations": [{"label": "negative", "segment": [2, 30]}]},
        "c": {"subset": "validation", "annotations": []},
        "d": {"subset": "holdout", "annotations": []},
        "ghost": {"subset": "test", "annotations": [{"label": "p", "segment": [0, 1]}]},
    }
    path = write(tmp_path / "gt.json", json.dumps({"database": database}))
    durations = {**DURATIONS, "c": 5.0, "d": 5.0}
    result = read_segments_json(path, VOCABULARY, durations)
    assert [(s.video_id, s.start_seconds, s.end_seconds, s.label) for s in result.segments] == [
        ("a", 1.5, 3.25, "p"),
        ("b b", 2.0, 20.0, "negative"),
    ]
    assert result.subsets == {"a": "train", "b b": "test", "c": "validation", "d": "unknown"}
    assert result.videos == {"a", "b b", "c", "d"}
    text = "\n".join(result.problems)
    assert "video 'b b', annotation 0" in text and "clipped" in text
    assert "video 'd'" in text and "subset 'holdout'" in text
    assert "unknown video 'ghost'" in text

    broken = write(tmp_path / "broken.json",
                   json.dumps({"database": {"a": {"annotations": [{"label": "p", "segment": [3, 1]}]}}}))
    with pytest.raises(AnnotationError, match="broken.json"):
        read_segments_json(broken, VOCABULARY, DURATIONS)


def test_video_labels_and_folders_of_mixed_files(tmp_path):
    folder = tmp_path / "annotations"
    folder.mkdir()
    write(folder / "labels.csv", "video_id,label\na,positive\na,n\nb b,neutral\n")
    write(folder / "points.csv", "video_id,time_s,label\na,1,p\n")
    write(folder / "segs.csv", "video_id,start_s,end_s,label\nb b,1,2,n\n")
    write(folder / "notes.txt", "ignored: not .csv/.json")
    assert annotation_kind(folder / "labels.csv") == "video_labels"
    assert annotation_kind(folder / "points.csv") == "points"
    assert annotation_kind(folder / "segs.csv") == "segments"

    labels = read_video_labels_csv(folder / "labels.csv", VOCABULARY, DURATIONS)
    assert sorted(label.class_index for label in labels.video_labels) == [0, 1]
    assert len(labels.problems) == 1 and "labels.csv:4" in labels.problems[0]

    combined = read_annotations(folder, VOCABULARY, DURATIONS)
    assert combined.kinds() == {"points", "segments", "video_labels"}
    assert (len(combined.points), len(combined.segments), len(combined.video_labels)) == (1, 1, 2)
    assert len(combined.problems) == 1
    with pytest.raises(AnnotationError, match="1 annotation problem"):
        read_annotations(folder, VOCABULARY, DURATIONS, strict=True)

    write(tmp_path / "what.csv", "id,score\n")
    with pytest.raises(AnnotationError, match="not a recognised annotation file"):
        read_annotations(tmp_path / "what.csv", VOCABULARY, DURATIONS)
    with pytest.raises(AnnotationError, match="not found"):
        read_annotations(tmp_path / "missing.csv", VOCABULARY, DURATIONS)


def test_release_points_are_native_frames(tmp_path):
    path = write(
        tmp_path / "point_labels.csv",
        "class,class_index,start_frame,stop_frame,video_id,point\n"
        "n,0,40,50,a,45\n"
        "p,0,10,12,a,11\n"  # class_index disagrees with the label
        "p,1,0,2,nofps,1\n"
        "p,1,x,2,a,1\n"
        "p,1,290,310,a,300\n",  # 300 / 25 = 12 s > 10 s
    )
    result = read_release_points_csv(path, VOCABULARY, {"a": 25.0}, DURATIONS)
    assert [(p.frame, p.seconds, p.class_index) for p in result.points] == [(45, 45 / 25, 0), (11, 11 / 25, 1)]
    text = "\n".join(result.problems)
    assert f"{path}:3" in text and "class_index '0'" in text
    assert "unknown video 'nofps'" in text
    assert f"{path}:5" in text and "integer" in text
    assert f"{path}:6" in text and "outside" in text


def test_class_vocabulary_rejects_aliases_to_nothing():
    with pytest.raises(ValueError, match="alias 'x'"):
        ClassVocabulary(("negative", "positive"), {"x": "neutral"})
    with pytest.raises(ValueError, match="ALIAS=CLASS"):
        parse_label_aliases(("p:positive",))


@pytest.mark.skipif(not TSL300.is_dir(), reason="../shared/tsl300 not present")
def test_real_tsl300_annotations_read_with_their_known_flaws():
    durations = json.loads((TSL300 / "len_duration_dict.json").read_text())
    frame_rates = json.loads((TSL300 / "fps_dict.json").read_text())
    segments = read_segments_json(TSL300 / "videosenti_gt.json", VOCABULARY, durations)
    clipped = [p for p in segments.problems if "clipped" in p]
    assert len(segments.segments) == 1642 and len(clipped) == len(segments.problems) > 0
    assert all(s.end_seconds <= durations[s.video_id] for s in segments.segments)
    assert sum(s.label == "p" for s in segments.segments) / 1642 == pytest.approx(0.58, abs=0.01)
    assert set(segments.subsets.values()) == {"train", "test"}

    points = read_release_points_csv(TSL300 / "point_gaussian" / "point_labels.csv", VOCABULARY, frame_rates, durations)
    assert len(points.points) == 1227 and points.problems == []
    assert all(0 <= p.seconds <= durations[p.video_id] and math.isclose(p.seconds, p.frame / frame_rates[p.video_id])
               for p in points.points)


@pytest.mark.parametrize("annotations, words", [
    ('"positive from 1 to 2"', "'annotations' must be a list"),
    ('{"label": "p", "segment": [1, 2]}', "'annotations' must be a list"),
    ('["p 1 2"]', "annotation 0: must be an object with 'label' and 'segment'"),
    ('[{"label": "p", "segment": [1, 2]}, 7]', "annotation 1: must be an object"),
    ('[{"label": "p", "segment": "1-2"}]', "annotation 0: 'segment' must be [start, end]"),
])
def test_a_json_of_the_wrong_shape_is_one_line_naming_the_video(tmp_path, annotations, words):
    path = write(tmp_path / "gt.json",
                 '{"database": {"b b": {"subset": "training", "annotations": ' + annotations + "}}}")
    with pytest.raises(AnnotationError) as caught:
        read_annotations(path, VOCABULARY, DURATIONS)
    message = str(caught.value)
    assert message.startswith(f"{path}: video 'b b'") and words in message and "\n" not in message


@pytest.mark.parametrize("kind, text", [
    ("points", "video_id,time_s,label\na,1.0,positive\nb b,2.0,n\u00e9gative\n"),
    ("segments", "video_id,start_s,end_s,label\na,1.0,2.0,positive\nb b,2.0,3.0,n\u00e9gative\n"),
])
def test_a_csv_with_one_byte_that_is_not_utf8_names_its_line(tmp_path, kind, text):
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(text.encode("utf-8").replace("\u00e9".encode("utf-8"), b"\xe9"))  # latin-1 'é' on line 3
    for target in (path, tmp_path):  # the file, or the folder holding it
        with pytest.raises(AnnotationError, match=r"not UTF-8 \(line 3: byte 0xe9\); save the file as UTF-8"):
            read_annotations(target, VOCABULARY, DURATIONS)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # UTF-8 with a byte-order mark reads
    assert len(read_annotations(path, VOCABULARY, DURATIONS).problems) == 1  # the misspelt label, line 3


def test_a_json_with_a_byte_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "gt.json"
    path.write_bytes(b'{"database": {\n"a": {"subset": "training",\n '
                     b'"annotations": [{"label": "p\xe9", "segment": [1, 2]}]}}}')
    with pytest.raises(AnnotationError, match=r"not UTF-8 \(line 3\)"):
        read_annotations(path, VOCABULARY, DURATIONS)


def test_csv_rows_split_only_where_csv_ends_a_record(tmp_path):
    names = {"day 1\r\nintro": 5.0, "clip\x1dthree": 5.0, "clip\u2029four": 5.0, "tab\x0cfive": 5.0}
    path = tmp_path / "points.csv"
    path.write_bytes(
        'video_id,time_s,label\r\n"day 1\r\nintro",1.5,positive\r\n'  # a quoted name holding a line break
        "clip\x1dthree,2.0,n\nclip\u2029four,2.5,p\ntab\x0cfive,3.0,negative\n"  # separators str.splitlines splits at
        "clip\x1dthree,oops,n\n".encode()
    )
    result = read_points_csv(path, VOCABULARY, names)
    assert [(p.video_id, p.seconds, p.label) for p in result.points] == [
        ("day 1\r\nintro", 1.5, "positive"), ("clip\x1dthree", 2.0, "n"), ("clip\u2029four", 2.5, "p"),
        ("tab\x0cfive", 3.0, "negative")]
    assert result.problems == [f"{path}:7: time_s 'oops' is not a number; dropped"]  # its physical line
    assert read_annotations(path, VOCABULARY, names).points == result.points  # recognised by the same header
