"""Tests for pipeline/data/annotations/audacity.py: label tracks as Audacity exports them
(File > Export > Export Labels): start<TAB>end<TAB>label, point labels with start == end,
a spectral selection's frequency line under its label."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.data.annotations import (
    AnnotationError,
    ClassVocabulary,
    annotation_kind,
    parse_label_aliases,
    read_annotations,
)

VOCABULARY = ClassVocabulary(("negative", "positive"), parse_label_aliases(("n=negative", "p=positive")))
DURATIONS = {"talk": 10.0, "talks/demo 01": 9.0}

TRACK = (
    "1.200000\t1.200000\tpositive\n"  # 1: a point label
    "3.000000\t6.500000\tn\n"  # 2: a region
    "\\\t100.000000\t2000.000000\n"  # 3: the region's spectral selection (frequencies)
    "7.500000\tabc\tpositive\n"  # 4: not a number
    "8.000000\t8.500000\t\n"  # 5: no text
    "9.000000\t9.050000\tjoy\n"  # 6: unknown class
    "9.500000\t11.000000\tp\n"  # 7: past the 10 s video: clipped
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_points_regions_and_every_bad_line_named(tmp_path):
    path = write(tmp_path / "talk.txt", TRACK)
    assert annotation_kind(path) == "audacity"
    result = read_annotations(path, VOCABULARY, DURATIONS)
    assert result.videos == {"talk"}
    assert [(p.seconds, p.class_index) for p in result.points] == [(1.2, 1)]
    assert [(s.start_seconds, s.end_seconds, s.class_index) for s in result.segments] == [(3.0, 6.5, 0), (9.5, 10.0, 1)]
    lines = {int(problem.split(":")[1]): problem for problem in result.problems}
    assert sorted(lines) == [4, 5, 6, 7]
    assert "start '7.500000' / end 'abc' must be numbers" in lines[4]
    assert "has no text" in lines[5] and "unknown label 'joy'" in lines[6] and "clipped" in lines[7]


def test_the_video_is_the_file_name_without_labels(tmp_path):
    named = read_annotations(write(tmp_path / "out" / "demo 01" / "demo 01.labels.txt", TRACK[:60]),
                             VOCABULARY, DURATIONS)
    assert named.videos == {"talks/demo 01"} and len(named.points) == 1
    empty = read_annotations(write(tmp_path / "talk.labels.txt", ""), VOCABULARY, DURATIONS)  # a video without segments
    assert empty.videos == {"talk"} and not empty.points and not empty.problems
    unknown = read_annotations(write(tmp_path / "Labels.txt", TRACK[:60]), VOCABULARY, DURATIONS)
    assert not unknown.points and "no video with features is named 'Labels'" in unknown.problems[0]


def test_a_text_file_that_is_no_label_track_is_an_error_when_named(tmp_path):
    with pytest.raises(AnnotationError, match="not an Audacity label track"):
        read_annotations(write(tmp_path / "notes.txt", "positive at 1.2 s\n"), VOCABULARY, DURATIONS)


def test_a_label_holding_a_unicode_line_separator_stays_on_its_line(tmp_path):
    path = write(tmp_path / "talk.labels.txt", "1.000000\t2.000000\tpositive\u2028note\x85\n4.000000\t4.000000\tn\n")
    result = read_annotations(path, VOCABULARY, DURATIONS)
    assert [(p.seconds, p.label) for p in result.points] == [(4.0, "n")] and result.segments == []
    assert len(result.problems) == 1 and result.problems[0].startswith(f"{path}:1: ")  # one label, one line


def test_a_folders_text_files_that_are_no_label_tracks_are_named_with_why(tmp_path):
    folder = tmp_path / "labels"
    write(folder / "talk.labels.txt", "start\tend\tlabel\n1.0\t1.0\tpositive\n")  # a header line Audacity never writes
    write(folder / "README.txt", "Exported from Audacity on Monday.\n")
    write(folder / "talks" / "ignored.txt", "")  # below the folder: not read at all
    result = read_annotations(folder, VOCABULARY, DURATIONS)
    assert not result.points
    assert result.problems == [f"{folder / 'talk.labels.txt'}: not an Audacity label track (line 1 reads "
                               "'start\\tend\\tlabel', not start<TAB>end<TAB>label); skipped"]
    assert result.notes == [f"{folder / 'README.txt'}: skipped, not an Audacity label track (line 1 reads "
                            "'Exported from Audacity on Monday.', not start<TAB>end<TAB>label)"]
    with pytest.raises(AnnotationError,
                       match=r"labels: 1 annotation problem\(s\), strict mode: .*talk.labels.txt: not an"):
        read_annotations(folder, VOCABULARY, DURATIONS, strict=True)  # named as a label track: meant to be read
    write(folder / "talk.labels.txt", "1.0\t1.0\tpositive\n")
    assert len(read_annotations(folder, VOCABULARY, DURATIONS, strict=True).points) == 1  # a README alone is no error
