"""Tests for pipeline/localize/tool_formats.py on a hand-made LocalizedVideo: hostile file
names stay well-formed and findable, frames cover the seconds, empty results are valid."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from pipeline.data.annotations import ClassVocabulary, read_annotations
from pipeline.localize.tool_formats import audacity_text, eaf_text, label_studio_frames, label_studio_task
from pipeline.localize.video import LocalizedVideo


def video(tmp_path: Path, name: str, shown: list[dict]) -> LocalizedVideo:
    source = tmp_path / "in" / f"{name}.mp4"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"")
    return LocalizedVideo(name, source, 12.0, 0.64, np.zeros((19, 3)), None, shown, shown,
                          tmp_path / "out" / name, 29.97)


def test_hostile_names_make_well_formed_files_that_read_back(tmp_path):
    name = 'a&b <"c"> #1 %20 été'
    shown = [{"label": "positive", "score": 0.9, "segment": [1.0, 2.5]},
             {"label": "negative", "score": 0.4, "segment": [4.0, 7.04]}]
    localized = video(tmp_path, name, shown)
    eaf = localized.output_dir / f"{name}.eaf"
    eaf.parent.mkdir(parents=True)
    eaf.write_text(eaf_text(localized, ("negative", "positive", "mixed"), eaf, "2024-01-01T00:00:00+00:00",
                            {"fsenet:model": "<best>.pt"}), encoding="utf-8")
    root = ET.parse(eaf).getroot()
    media = root.find("HEADER/MEDIA_DESCRIPTOR")
    assert (eaf.parent / unquote(media.get("RELATIVE_MEDIA_URL"))).resolve() == localized.source.resolve()
    assert [t.get("TIER_ID") for t in root.findall("TIER")] == ["negative", "positive", "mixed"]  # one per class
    back = read_annotations(eaf, ClassVocabulary(("negative", "positive")), {name: 12.0})
    assert back.videos == {name} and back.problems == []
    assert sorted((s.start_seconds, s.end_seconds, s.label) for s in back.segments) == [(1.0, 2.5, "positive"),
                                                                                        (4.0, 7.04, "negative")]
    written = audacity_text([{"label": "pos\titive\n", "score": 1, "segment": [0.5, 1.25]}])
    assert written == "0.500000\t1.250000\tpos itive\n"


def test_frames_cover_the_seconds_and_an_empty_video_is_a_valid_task(tmp_path):
    assert label_studio_frames(0.0, 0.64, 25.0) == (1, 16)  # frames 1..16 = [0, 0.64) s
    assert label_studio_frames(1.0, 2.5, 29.97) == (30, 75)
    task = label_studio_task(video(tmp_path, "quiet", []), "fsenet best.pt", random_weights=False)
    assert task["predictions"][0]["result"] == [] and task["data"]["fps"] == 29.97
    eaf = tmp_path / "quiet.eaf"
    eaf.write_text(eaf_text(video(tmp_path, "quiet", []), ("negative", "positive"), eaf, "2024-01-01T00:00:00Z", {}))
    assert ET.parse(eaf).getroot().find("TIME_ORDER") is not None
