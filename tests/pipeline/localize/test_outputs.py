"""Every file `localize` writes for a video and for the run (pipeline/localize/outputs.py),
with names a filesystem allows but a careless writer does not: bytes that are not UTF-8,
names as long as a file name may be. One real `localize` run of 1-second videos with such
names (tests/pipeline/conftest.py's tiny model), parsed back with standard tools."""

from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest

from pipeline.data.activitynet import load_predictions
from pipeline.synthetic.videos import write_test_pattern_video
from tests.conftest import cli

NOT_UTF8 = os.fsdecode(b"\xe0 bient\xf4t")  # Latin-1 bytes: a name that is not UTF-8 text


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:  # strict UTF-8: a raw byte would fail here
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def named_run(localized_run, tmp_path_factory):
    """`localize` (real extraction) on a folder of 1-second videos named as above, beside a plain one."""
    root = tmp_path_factory.mktemp("names")
    videos = root / "videos"
    for index, stem in enumerate((NOT_UTF8, "plain")):
        write_test_pattern_video(videos / f"{stem}.mp4", 1.0, size=(64, 48), tone_hz=300.0 + 90 * index)
    out = root / "out"
    result = cli("localize", str(videos), "--model", str(localized_run.model), "--out", str(out), "--random-weights",
                 "--no-progress", "--device", "cpu")
    return videos, out, result


def test_a_name_that_is_not_utf8_gets_every_output_and_keeps_its_bytes(named_run):
    videos, out, result = named_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 video(s) localized, 0 failed" in result.stdout and "\\xe0 bient\\xf4t" in result.stdout
    assert set(load_predictions(out / "results.json")) == {NOT_UTF8, "plain"}  # JSON: the exact name back
    rows = {row["video_id"]: row for row in read_csv(out / "summary.csv")}
    assert rows["\\xe0 bient\\xf4t"]["status"] == "localized"  # text files: the bytes as escapes
    folder = out / NOT_UTF8
    assert os.fsencode(folder).endswith(b"/\xe0 bient\xf4t")
    assert {p.name for p in folder.iterdir()} >= {f"{NOT_UTF8}.srt", f"{NOT_UTF8}.eaf", "report.html", "timeline.png"}
    for path in folder.iterdir():
        if path.suffix != ".png":
            path.read_text(encoding="utf-8")  # every text file is valid UTF-8
    header = json.loads((folder / "segments.json").read_text(encoding="utf-8"))["localize"]
    assert header["video_id"] == NOT_UTF8 and header["source"] == f"{NOT_UTF8}.mp4"
    media = ET.parse(folder / f"{NOT_UTF8}.eaf").getroot().find("HEADER/MEDIA_DESCRIPTOR")
    linked = folder / os.fsdecode(unquote_to_bytes(media.get("RELATIVE_MEDIA_URL")))
    assert linked.resolve() == (videos / f"{NOT_UTF8}.mp4").resolve()  # the link reaches the very file
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert '/%E0%20bient%F4t.mp4"' in page and "\\xe0 bient\\xf4t" in page
    tasks = json.loads((out / "label_studio.json").read_text(encoding="utf-8"))
    assert {task["data"]["video_id"] for task in tasks} == {NOT_UTF8, "plain"}
