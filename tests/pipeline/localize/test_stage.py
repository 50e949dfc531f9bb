"""`localize` end to end: a real tiny checkpoint (tests/pipeline/conftest.py), new videos,
every output parsed with standard tools (json, csv, a strict SRT / WebVTT parser here),
a failed video listed, the cache reused, and refusals of models whose features cannot be
made here."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import FSENet
from pipeline.config import config_to_dict, load_config, with_overrides
from pipeline.data.activitynet import load_predictions
from pipeline.data.feature_spec import FeatureSpec
from pipeline.infer.checkpoint import save_checkpoint
from pipeline.localize.text_formats import srt_time, vtt_time
from pipeline.localize.video import seconds_per_label, shown_segments
from tests.conftest import cli

SRT_TIME = r"(\d\d):(\d\d):(\d\d),(\d\d\d)"
VTT_TIME = r"(\d\d):(\d\d):(\d\d)\.(\d\d\d)"
VIDEO_ID = "talks/demo 01"


def _seconds(match: tuple[str, ...]) -> float:
    hours, minutes, seconds, millis = (int(part) for part in match)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """Strict SubRip: blocks of index (1, 2, ...), 'start --> end', one or more text lines."""
    cues = []
    blocks = [block for block in text.strip("\n").split("\n\n") if block] if text.strip() else []
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(number), f"cue {number} numbered {lines[0]!r}"
        timing = re.fullmatch(SRT_TIME + " --> " + SRT_TIME, lines[1])
        assert timing, f"bad SRT timing line {lines[1]!r}"
        start, end = _seconds(timing.groups()[:4]), _seconds(timing.groups()[4:])
        assert start < end and len(lines) >= 3 and all(lines[2:])
        cues.append((start, end, "\n".join(lines[2:])))
    return cues


def parse_vtt(text: str) -> tuple[list[str], list[tuple[float, float, str]]]:
    """Strict WebVTT: 'WEBVTT' first, NOTE blocks, cues 'id' + 'start --> end' + text."""
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    notes, cues = [], []
    for block in blocks[1:]:
        lines = block.split("\n")
        if lines[0].startswith("NOTE"):
            assert "-->" not in block
            notes.append(block)
            continue
        timing = re.fullmatch(VTT_TIME + " --> " + VTT_TIME, lines[1])
        assert timing, f"bad WebVTT timing line {lines[1]!r}"
        start, end = _seconds(timing.groups()[:4]), _seconds(timing.groups()[4:])
        assert start < end and all(lines[2:])
        cues.append((start, end, "\n".join(lines[2:])))
    return notes, cues


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_localize_writes_every_output_and_lists_the_failed_video(localized_run):
    result, out = localized_run.result, localized_run.out
    assert result.returncode == 1, result.stderr  # one video failed
    assert "broken.mp4" in result.stdout and "empty file" in result.stdout
    assert "1 video(s) localized, 1 failed" in result.stdout
    table = result.stdout.splitlines()
    assert table[0].split() == ["video", "duration", "segments", "negative", "s", "positive", "s"]
    assert table[1].startswith(VIDEO_ID)
    assert "RANDOM" in result.stdout and "RANDOM" in result.stderr

    folder = out / VIDEO_ID
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["segments.json", "segments.csv", "demo 01.srt", "demo 01.vtt", "timeline.csv",
                            "timeline.png", "report.html"])

    # JSON: ActivityNet results format, readable by evaluate's reader; header says random weights.
    document = json.loads((folder / "segments.json").read_text())
    assert document["random_weights"] is True
    assert document["localize"]["random_weight_streams"] == ["face"]
    assert document["localize"]["class_names"] == ["negative", "positive"]
    assert document["localize"]["source"] == localized_run.localized_video.name  # no absolute path in outputs
    assert document["localize"]["model"] == "best.pt" and len(document["localize"]["model_sha256"]) == 64
    entries = load_predictions(folder / "segments.json")[VIDEO_ID]
    assert entries, "the model found no segment at all"
    duration = document["localize"]["duration_seconds"]
    assert duration == pytest.approx(localized_run.localized_duration, abs=0.05)
    for entry in entries:
        assert entry["label"] in ("negative", "positive")
        assert 0.0 <= entry["segment"][0] < entry["segment"][1] <= duration + 1e-6
    results = load_predictions(out / "results.json")
    assert set(results) == {VIDEO_ID} and results[VIDEO_ID] == entries

    # CSV: the same segments, with the shown (non-overlapping) ones marked.
    rows = read_csv(folder / "segments.csv")
    assert list(rows[0]) == ["start_s", "end_s", "label", "score", "shown", "random_weights"]
    assert sorted((round(float(r["start_s"]), 3), round(float(r["end_s"]), 3), r["label"]) for r in rows) == sorted(
        (round(e["segment"][0], 3), round(e["segment"][1], 3), e["label"]) for e in entries
    )
    assert {r["random_weights"] for r in rows} == {"true"}
    shown = [r for r in rows if r["shown"] == "true"]
    assert shown
    spans = sorted((float(r["start_s"]), float(r["end_s"])) for r in shown)
    assert all(a_end <= b_start + 1e-3 for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))

    # Subtitles: the shown segments as cues, in both formats, parsed strictly.
    srt_cues = parse_srt((folder / "demo 01.srt").read_text())
    notes, vtt_cues = parse_vtt((folder / "demo 01.vtt").read_text())
    assert [(round(s, 3), round(e, 3)) for s, e, _ in srt_cues] == [(round(s, 3), round(e, 3)) for s, e in spans]
    assert [(round(s, 3), round(e, 3), t) for s, e, t in vtt_cues] == [(round(s, 3), round(e, 3), t) for s, e, t in srt_cues]
    for (_, _, text), row in zip(srt_cues, sorted(shown, key=lambda r: float(r["start_s"])), strict=True):
        assert re.fullmatch(r"(negative|positive) \d\.\d\d \(random-weight features\)", text)
        assert text.startswith(f"{row['label']} {float(row['score']):.2f}")
    assert any("RANDOM" in note for note in notes)

    # Timeline: one row per snippet of the 0.64 s grid, scores in [0, 1], face presence.
    timeline = read_csv(folder / "timeline.csv")
    assert list(timeline[0]) == ["time_s", "negative", "positive", "background", "face_presence", "random_weights"]
    assert len(timeline) == math.ceil(round(duration / 0.64, 6))
    assert [float(r["time_s"]) for r in timeline] == pytest.approx([i * 0.64 for i in range(len(timeline))])
    values = np.array([[float(r[k]) for k in ("negative", "positive", "background", "face_presence")] for r in timeline])
    assert np.all((values >= 0) & (values <= 1))
    cached_presence = np.load(out / "cache" / "videos" / VIDEO_ID / "face.mask.npy")
    assert values[:, 3] == pytest.approx(cached_presence, abs=1e-3)  # the face stream's presence
    assert values[:, 3].max() > 0.5  # the detector found the astronaut

    with Image.open(folder / "timeline.png") as image:
        assert image.format == "PNG" and image.size[0] >= 800 and image.size[1] >= 250

    summary = read_csv(out / "summary.csv")
    assert [(r["video_id"], r["status"]) for r in summary] == [("broken", "failed"), (VIDEO_ID, "localized")]
    localized = summary[1]
    assert int(localized["segments"]) == len(shown)
    covered = seconds_per_label([{"label": r["label"], "segment": [float(r["start_s"]), float(r["end_s"])],
                                  "score": 0} for r in shown], ["negative", "positive"])
    assert float(localized["negative_s"]) == pytest.approx(covered["negative"], abs=2e-3)
    assert float(localized["positive_s"]) == pytest.approx(covered["positive"], abs=2e-3)
    assert {r["random_weights"] for r in summary} == {"true"}
    assert "empty file" in summary[0]["reason"]


def test_a_second_run_reuses_the_cache_and_gives_the_same_segments(localized_run, tmp_path):
    cache_meta = localized_run.out / "cache" / "videos" / VIDEO_ID / "meta.json"
    before = cache_meta.stat().st_mtime_ns
    again = cli("localize", str(localized_run.new_videos), "--model", str(localized_run.model), "--out",
                str(tmp_path / "again"), "--cache", str(localized_run.out / "cache"), "--random-weights",
                "--no-progress", "--device", "cpu")
    assert again.returncode == 1, again.stderr  # the broken file still fails
    assert cache_meta.stat().st_mtime_ns == before  # nothing re-extracted
    first = load_predictions(localized_run.out / VIDEO_ID / "segments.json")[VIDEO_ID]
    second = load_predictions(tmp_path / "again" / VIDEO_ID / "segments.json")[VIDEO_ID]
    assert second == first


def test_random_weight_features_need_the_flag(localized_run, tmp_path):
    refused = cli("localize", str(localized_run.localized_video), "--model", str(localized_run.model), "--out",
                  str(tmp_path / "out"), "--no-progress", "--device", "cpu")
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()[-1:]
    assert line.startswith("error:") and "--random-weights" in line
    assert not (tmp_path / "out" / "demo 01").exists()


def _checkpoint_like(trained_path: Path, path: Path, feature_spec: dict) -> Path:
    """A checkpoint in the real format (random weights) with another feature spec."""
    trained = torch.load(trained_path, weights_only=True)
    config = with_overrides(load_config(), {"model": trained["config"]["model"]})
    model = FSENet(config.model, trained["stream_dims"])
    save_checkpoint(path, {
        "model_state": model.state_dict(), "stream_dims": trained["stream_dims"], "feature_spec": feature_spec,
        "class_names": trained["class_names"], "config": config_to_dict(config), "epoch": 0,
    })
    return path


def test_models_whose_features_cannot_be_made_here_are_refused_in_one_line(localized_run, tmp_path):
    trained = torch.load(localized_run.model, weights_only=True)
    spec = trained["feature_spec"]
    released = _checkpoint_like(localized_run.model, tmp_path / "released.pt", {**spec, "source": "release"})
    other_audio = json.loads(json.dumps(spec))
    other_audio["extractors"]["audio"]["version"] = 99
    other_version = _checkpoint_like(localized_run.model, tmp_path / "other.pt", other_audio)
    for model, words in ((released, "released TSL-300 layout"), (other_version, "v99")):
        refused = cli("localize", str(localized_run.localized_video), "--model", str(model), "--out",
                      str(tmp_path / model.stem), "--random-weights", "--quiet", "--device", "cpu")
        assert refused.returncode == 2, refused.stderr  # --quiet: no "device:" note, the error alone
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], lines
        assert not (tmp_path / model.stem / "demo 01").exists()


def test_shown_segments_are_the_best_non_overlapping_ones_and_times_format():
    segments = [
        {"label": "negative", "score": 0.9, "segment": [0.0, 10.0]},
        {"label": "positive", "score": 0.8, "segment": [9.0, 12.0]},  # overlaps the best: hidden
        {"label": "positive", "score": 0.5, "segment": [10.0, 12.0]},  # touches it: shown
        {"label": "negative", "score": 0.95, "segment": [20.0, 20.3]},  # shorter than a snippet: hidden
    ]
    shown = shown_segments(segments, min_seconds=0.64)
    assert [(e["label"], e["segment"]) for e in shown] == [("negative", [0.0, 10.0]), ("positive", [10.0, 12.0])]
    assert shown_segments(segments, 0.64, min_score=0.6) == shown[:1]  # --min-score
    assert shown_segments(segments, 0.64, max_segments=1) == shown[:1]  # --max-segments: the best first
    assert shown_segments(segments, 0.64, min_score=0.96) == []
    assert seconds_per_label(segments, ["negative", "positive"]) == {"negative": pytest.approx(10.3),
                                                                    "positive": pytest.approx(3.0)}
    assert srt_time(3723.4567) == "01:02:03,457" and vtt_time(0.0004) == "00:00:00.000"


def test_features_are_made_as_the_checkpoint_records_them_with_this_machines_runtime_settings(localized_run):
    from pipeline.infer.checkpoint import load_trained_model
    from pipeline.localize.features import extraction_config

    trained = load_trained_model(localized_run.model, "cpu")
    # As if the training features had been extracted with --set audio.n_mfcc=20 on a 32-frame grid.
    spec = trained.feature_spec.to_dict()
    spec["extractors"]["audio"]["config"]["n_mfcc"] = 20
    spec["grid"]["snippet_frames"] = 32
    trained = dataclasses.replace(trained, feature_spec=FeatureSpec.from_dict(spec))
    machine = load_config(None, ["audio.n_mfcc=64", "audio.chunk_snippets=7", "face.batch_size=3", "grid.frame_rate=30"])
    settings = extraction_config(trained, machine, "cpu")
    assert settings.audio.n_mfcc == 20 and settings.grid.snippet_frames == 32 and settings.grid.frame_rate == 25
    assert settings.audio.chunk_snippets == 7 and settings.face.batch_size == 3  # runtime-only: this machine's
    assert settings.extract.streams == ("audio", "face") and settings.extract.device == "cpu"


def test_the_extraction_engine_flags_reach_the_extraction_config(localized_run):
    """`localize --ray-address ...` (and --engine) reach the config that run_extract gets."""
    import importlib

    from pipeline.infer.checkpoint import load_trained_model
    from pipeline.localize.features import extraction_config

    entry = importlib.import_module("cli")
    args = entry.build_parser().parse_args(
        ["localize", "videos", "--model", "best.pt", "--out", "out", "--ray-address", "10.0.0.5:6379"]
    )
    machine = entry._config(args, entry._engine_overrides(args))
    settings = extraction_config(load_trained_model(localized_run.model, "cpu"), machine, "cpu")
    assert settings.extract.engine == "ray" and settings.extract.ray_address == "10.0.0.5:6379"
