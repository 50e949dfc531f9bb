"""`demo` end to end at a small size (the command's defaults take minutes): videos with a
real face and sound, annotations, features, training, evaluation, and `localize` on a
held-out video; it prints the figures and where the report is, and writes only under OUT."""

from __future__ import annotations

import csv
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.demo import demo_closing, fsenet_command, run_demo
from pipeline.localize.stage import LocalizeSummary, format_localize_summary
from pipeline.localize.video import LocalizedVideo
from tests.conftest import cli


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
    report_lines = [line for line in printed.splitlines() if line.startswith("report:") and "report.html" in line]
    assert report_lines == [f"report: {shlex.quote(str(report))} (open it in a browser)"]  # once, pasteable
    assert shlex.split(report_lines[0].split(":", 1)[1])[0] == str(report)
    assert "NOTE" not in printed and "RANDOM" not in printed  # audio only: no random weights to note
    assert "ground truth of demo 04" in printed
    summary = list(csv.DictReader(open(out / "localize" / "summary.csv", newline="")))
    assert [(row["video_id"], row["status"], row["random_weights"]) for row in summary] == [
        ("demo 04", "localized", "false")  # audio only: no weights involved
    ]

    # the command it says to run next runs as printed, given videos
    [command] = [shlex.split(line) for line in printed.splitlines() if line.startswith("  fsenet localize ")]
    command[2] = str(out / "videos" / "demo 01.mp4")
    command[command.index("--out") + 1] = str(tmp_path / "results")
    pasted = cli(*command[1:], "--no-progress")
    assert pasted.returncode == 0, pasted.stderr
    assert f"report: {shlex.quote(str(tmp_path / 'results' / 'demo 01' / 'report.html'))}" in pasted.stdout


@pytest.mark.parametrize("random_streams", [["visual", "face"], []])
def test_the_demo_ends_with_the_command_to_localize_new_videos_and_the_report_once(random_streams):
    video = LocalizedVideo("demo 08", Path("demo_out/videos/demo 08.mp4"), 20.0, 0.64, np.zeros((32, 3)), None, [], [],
                           Path("demo_out/localize/demo 08"))
    summary = LocalizeSummary(Path("demo_out/localize"), ("negative", "positive"), [video], [],
                              Path("demo_out/localize/results.json"), Path("demo_out/localize/summary.csv"),
                              Path("demo_out/localize/label_studio.json"), random_streams)
    text = format_localize_summary(summary, footer=False) + "\n" + demo_closing(summary, Path("demo out/run/best.pt"),
                                                                               456.0)
    assert "RANDOM" not in text and text.count("report:") == 1  # random weights: one warning, on stderr
    assert text.endswith("report: 'demo_out/localize/demo 08/report.html' (open it in a browser)")
    [command] = [line.strip() for line in text.splitlines() if line.startswith("  ") and " localize " in line]
    words = shlex.split(command)  # pasteable: the shell gives localize the model's path as one word
    assert words[1:6] == ["localize", "new_videos/", "--model", "demo out/run/best.pt", "--out"]
    assert ("--random-weights" in words) == bool(random_streams)  # localize refuses the model without it


def test_the_command_to_paste_is_the_one_the_person_ran(monkeypatch):
    monkeypatch.setattr(sys, "argv", [".venv/bin/fsenet", "demo"])
    assert fsenet_command() == ".venv/bin/fsenet"
    monkeypatch.setattr(sys, "argv", ["my tools/cli.py", "demo"])
    assert shlex.split(fsenet_command()) == [sys.executable, "my tools/cli.py"]
    monkeypatch.setattr(sys, "argv", ["-c"])
    assert fsenet_command() == "fsenet"
