"""`demo` end to end at a small size (the command's defaults take minutes): videos with a
real face and sound, annotations, features, training, evaluation, and `localize` on a
held-out video; it prints the figures and where the report is, and writes only under OUT."""

from __future__ import annotations

import csv
import json

from pipeline.config import load_config
from pipeline.demo import run_demo


def test_small_demo_runs_the_whole_job_and_prints_where_the_report_is(tmp_path, capsys):
    out = tmp_path / "demo out"
    status = run_demo(out, load_config(), show_progress=False, log=lambda message: None,
                      num_videos=4, test_videos=1, video_seconds=8.0, streams=("audio",))
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo out"]  # nothing written elsewhere

    points = list(csv.DictReader(open(out / "annotations" / "points.csv", newline="")))
    truth = json.loads((out / "annotations" / "segments.json").read_text())["database"]
    assert len(points) == sum(len(video["annotations"]) for video in truth.values())  # one point per stretch
    assert [video for video, entry in truth.items() if entry["subset"] == "test"] == ["demo 04"]
    assert {a["label"] for entry in truth.values() for a in entry["annotations"]} == {"positive", "negative"}

    assert "mAP" in printed and "AVG" in printed
    metrics = json.loads((out / "predictions_test.metrics.json").read_text())
    assert 0.0 <= metrics["average_mAP"] <= 1.0
    report = out / "localize" / "demo 04" / "report.html"
    assert report.is_file()
    assert f"open the report in a browser: {report}" in printed
    assert "ground truth of demo 04" in printed
    summary = list(csv.DictReader(open(out / "localize" / "summary.csv", newline="")))
    assert [(row["video_id"], row["status"], row["random_weights"]) for row in summary] == [
        ("demo 04", "localized", "false")  # audio only: no weights involved
    ]
