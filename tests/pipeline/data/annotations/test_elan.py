"""Tests for pipeline/data/annotations/elan.py and safe_xml.py: .eaf files written here as
ELAN 6 saves them (EAF 3.0), points and segments, class from value or tier, the video
from the stem or the media descriptor, and hostile or broken XML refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.data.annotations import (
    AnnotationError,
    ClassVocabulary,
    ReadOptions,
    parse_label_aliases,
    read_annotations,
)
from pipeline.data.annotations.elan import read_elan

VOCABULARY = ClassVocabulary(("negative", "positive"), parse_label_aliases(("n=negative", "p=positive")))
DURATIONS = {"talk one": 10.0, "other": 5.0, "talks/demo 01": 9.0}

EAF = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2024-05-14T10:21:07+01:00" FORMAT="3.0" VERSION="3.0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">
    <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
        <MEDIA_DESCRIPTOR MEDIA_URL="file:///home/ana/videos/talk%20one.mp4" MIME_TYPE="video/mp4"
            RELATIVE_MEDIA_URL="../videos/talk%20one.mp4"/>
        <MEDIA_DESCRIPTOR EXTRACTED_FROM="file:///home/ana/videos/talk%20one.mp4"
            MEDIA_URL="file:///home/ana/videos/talk%20one.wav" MIME_TYPE="audio/x-wav"
            RELATIVE_MEDIA_URL="../videos/talk%20one.wav"/>
        <PROPERTY NAME="URN">urn:nl-mpi-tools-elan-eaf:4b1f0a52-1d2c-4f0e-9a53-5f6a1c0d9e21</PROPERTY>
        <PROPERTY NAME="lastUsedAnnotationId">9</PROPERTY>
    </HEADER>
    <TIME_ORDER>
        <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="1200"/>
        <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="1200"/>
        <TIME_SLOT TIME_SLOT_ID="ts3" TIME_VALUE="2500"/>
        <TIME_SLOT TIME_SLOT_ID="ts4" TIME_VALUE="2540"/>
        <TIME_SLOT TIME_SLOT_ID="ts5" TIME_VALUE="3000"/>
        <TIME_SLOT TIME_SLOT_ID="ts6" TIME_VALUE="6500"/>
        <TIME_SLOT TIME_SLOT_ID="ts7"/>
        <TIME_SLOT TIME_SLOT_ID="ts8" TIME_VALUE="7000"/>
        <TIME_SLOT TIME_SLOT_ID="ts9" TIME_VALUE="7500"/>
        <TIME_SLOT TIME_SLOT_ID="ts10" TIME_VALUE="8750"/>
        <TIME_SLOT TIME_SLOT_ID="ts11" TIME_VALUE="9000"/>
        <TIME_SLOT TIME_SLOT_ID="ts12" TIME_VALUE="12500"/>
    </TIME_ORDER>
    <TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="sentiment">
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2">
                <ANNOTATION_VALUE>positive</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts3" TIME_SLOT_REF2="ts4">
                <ANNOTATION_VALUE>N</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a3" TIME_SLOT_REF1="ts5" TIME_SLOT_REF2="ts6">
                <ANNOTATION_VALUE>negative</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a4" TIME_SLOT_REF1="ts7" TIME_SLOT_REF2="ts8">
                <ANNOTATION_VALUE>p</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a5" TIME_SLOT_REF1="ts8" TIME_SLOT_REF2="ts9">
                <ANNOTATION_VALUE>joy</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a9" TIME_SLOT_REF1="ts11" TIME_SLOT_REF2="ts12">
                <ANNOTATION_VALUE>positive</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
    </TIER>
    <TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="Positive">
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a6" TIME_SLOT_REF1="ts9" TIME_SLOT_REF2="ts10">
                <ANNOTATION_VALUE></ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
    </TIER>
    <TIER LINGUISTIC_TYPE_REF="default-lt" PARTICIPANT="Ana" TIER_ID="transcript">
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a7" TIME_SLOT_REF1="ts5" TIME_SLOT_REF2="ts6">
                <ANNOTATION_VALUE>well, that went badly</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
    </TIER>
    <TIER LINGUISTIC_TYPE_REF="tone-lt" PARENT_REF="transcript" TIER_ID="tone">
        <ANNOTATION>
            <REF_ANNOTATION ANNOTATION_ID="a8" ANNOTATION_REF="a7">
                <ANNOTATION_VALUE>negative</ANNOTATION_VALUE>
            </REF_ANNOTATION>
        </ANNOTATION>
    </TIER>
    <LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="default-lt" TIME_ALIGNABLE="true"/>
    <LINGUISTIC_TYPE CONSTRAINTS="Symbolic_Association" GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="tone-lt"
        TIME_ALIGNABLE="false"/>
    <CONSTRAINT DESCRIPTION="1-1 association with a parent annotation" STEREOTYPE="Symbolic_Association"/>
</ANNOTATION_DOCUMENT>
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_points_segments_classes_and_the_video_from_the_media_descriptor(tmp_path):
    path = write(tmp_path / "labels" / "session 3.eaf", EAF)  # the stem names no video; the media does
    result = read_elan(path, VOCABULARY, DURATIONS)
    assert result.videos == {"talk one"}
    assert [(p.seconds, p.class_index, p.label) for p in result.points] == [
        (1.2, 1, "positive"),  # zero length
        (pytest.approx(2.52), 0, "N"),  # 40 ms: a point at its middle
    ]
    assert [(s.start_seconds, s.end_seconds, s.class_index, s.label) for s in result.segments] == [
        (3.0, 6.5, 0, "negative"),
        (9.0, 10.0, 1, "positive"),  # 9.0-12.5 s clipped to the 10 s video
        (7.5, 8.75, 1, "Positive"),  # empty value on a tier named after a class
        (3.0, 6.5, 0, "negative"),  # a REF_ANNOTATION takes its parent's times
    ]
    assert result.points[0].where == f"{path}: annotation 'a1' (tier 'sentiment')"
    problems = "\n".join(result.problems)
    assert f"{path}: annotation 'a4' (tier 'sentiment'): is not aligned to time" in problems
    assert f"{path}: annotation 'a5' (tier 'sentiment'): value 'joy' names no class" in problems
    assert f"{path}: annotation 'a9' (tier 'sentiment'): segment [9.000, 12.500]" in problems and "clipped" in problems
    assert f"{path}: tier 'transcript': neither its name nor any of its 1 annotation values names a class" in problems
    assert len(result.problems) == 4
    assert result.kinds() == {"points", "segments"}


def test_point_threshold_is_a_setting(tmp_path):
    path = write(tmp_path / "talk one.eaf", EAF)
    strict_points = read_elan(path, VOCABULARY, DURATIONS, ReadOptions(point_max_seconds=0.0))
    assert [p.seconds for p in strict_points.points] == [1.2]  # only the zero-length one
    assert (2.5, 2.54) in [(s.start_seconds, s.end_seconds) for s in strict_points.segments]


def test_the_video_is_the_stem_else_the_linked_file_else_the_file_is_skipped(tmp_path):
    bare = EAF.replace('<MEDIA_DESCRIPTOR MEDIA_URL="file:///home/ana/videos/talk%20one.mp4"',
                       '<MEDIA_DESCRIPTOR MEDIA_URL="x.mp4"')
    bare = bare.replace("talk%20one", "unrelated")
    assert read_elan(write(tmp_path / "other.eaf", bare), VOCABULARY, DURATIONS).videos == {"other"}
    nested = bare.replace('RELATIVE_MEDIA_URL="../videos/unrelated.mp4"',
                          'RELATIVE_MEDIA_URL="../../new%20videos/talks/demo%2001.mp4"')
    found = read_elan(write(tmp_path / "out" / "demo 01" / "demo 01.eaf", nested), VOCABULARY, DURATIONS)
    assert found.videos == {"talks/demo 01"}  # the id with its folder, from the relative media path
    lost = read_elan(write(tmp_path / "nobody.eaf", bare), VOCABULARY, DURATIONS)
    assert not lost.points and not lost.segments and not lost.videos
    assert len(lost.problems) == 1 and "no video with features is named 'nobody'" in lost.problems[0]
    assert read_elan(tmp_path / "nobody.eaf", VOCABULARY, None).videos == {"nobody"}  # no known videos: the stem


def test_hostile_or_broken_xml_is_refused_in_one_line(tmp_path):
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
            '<ANNOTATION_DOCUMENT><TIER TIER_ID="&lol2;"/></ANNOTATION_DOCUMENT>\n')
    external = ('<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                '<ANNOTATION_DOCUMENT>&x;</ANNOTATION_DOCUMENT>\n')
    for name, text, words in (
        ("bomb.eaf", bomb, "line 2: declares a document type or entities"),
        ("external.eaf", external, "line 2: declares a document type or entities"),
        ("cut.eaf", EAF[:900], "not well-formed XML"),
        ("praat.eaf", '<?xml version="1.0"?>\n<TextGrid/>\n', "root element <TextGrid> is not ELAN's"),
        ("frames.eaf", EAF.replace('TIME_UNITS="milliseconds"', 'TIME_UNITS="PAL-frames"'), "only milliseconds"),
    ):
        with pytest.raises(AnnotationError) as caught:
            read_annotations(write(tmp_path / name, text), VOCABULARY, DURATIONS)
        assert str(caught.value).startswith(f"{tmp_path / name}: ") and words in str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_folder_mixes_elan_with_the_csv_formats(tmp_path):
    folder = tmp_path / "labels"
    write(folder / "talk one.eaf", EAF)
    write(folder / "points.csv", "video_id,time_s,label\nother,1.0,p\n")
    write(folder / "README.txt", "exported from ELAN 6.7\n")  # not a label track: skipped
    combined = read_annotations(folder, VOCABULARY, DURATIONS)
    assert sorted((p.video_id, p.seconds) for p in combined.points) == [("other", 1.0), ("talk one", 1.2),
                                                                         ("talk one", pytest.approx(2.52))]
    assert combined.files["points"] == [str(folder / "points.csv"), str(folder / "talk one.eaf")]
    assert combined.files["segments"] == [str(folder / "talk one.eaf")]
