"""`localize` end to end: a real tiny checkpoint (tests/pipeline/conftest.py), new videos,
every output parsed with standard tools (json, csv, a strict SRT / WebVTT parser here),
a failed video listed, the cache reused, and refusals of models whose features cannot be
made here; hostile file and class names, damaged checkpoints, output folders that cannot
be used."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch
from PIL import Image

from extractors.resemotenet import FER2013_LABELS
from model import FSENet
from pipeline.config import config_to_dict, load_config, with_overrides
from pipeline.data.activitynet import load_predictions
from pipeline.data.annotations import ClassVocabulary, read_annotations
from pipeline.data.feature_spec import FeatureSpec
from pipeline.infer.checkpoint import save_checkpoint
from pipeline.localize.text_formats import srt_time, vtt_time
from pipeline.localize.video import seconds_per_label, shown_segments
from pipeline.synthetic.videos import write_test_pattern_video
from tests.conftest import cli, make_read_only, one_error_line

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
    # random weights: one warning per command (the face stream's), none among the results
    for command in (localized_run.extracted, localized_run.trained, result):
        assert [line for line in command.stderr.splitlines() if "RANDOM" in line] == [
            "warning: the face features come from RANDOM weights (--random-weights): they carry no learned meaning, "
            "and every file made from them says so"], command.stderr
        assert "RANDOM" not in command.stdout

    folder = out / VIDEO_ID
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["segments.json", "segments.csv", "demo 01.srt", "demo 01.vtt", "timeline.csv",
                            "timeline.png", "report.html", "demo 01.eaf", "demo 01.labels.txt",
                            ".fsenet-localize.json"])  # the manifest: what localize wrote here

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
    rounded_vtt = [(round(s, 3), round(e, 3), t) for s, e, t in vtt_cues]
    assert rounded_vtt == [(round(s, 3), round(e, 3), t) for s, e, t in srt_cues]
    for (_, _, text), row in zip(srt_cues, sorted(shown, key=lambda r: float(r["start_s"])), strict=True):
        assert re.fullmatch(r"(negative|positive) \d\.\d\d \(random-weight features\)", text)
        assert text.startswith(f"{row['label']} {float(row['score']):.2f}")
    assert any("RANDOM" in note for note in notes)

    # Timeline: one row per snippet of the 0.64 s grid, scores in [0, 1], face presence.
    timeline = read_csv(folder / "timeline.csv")
    assert list(timeline[0]) == ["time_s", "negative", "positive", "background", "face_presence", "top_emotion",
                                 *(f"emotion_{name}" for name in FER2013_LABELS), "random_weights"]
    assert len(timeline) == math.ceil(round(duration / 0.64, 6))
    assert [float(r["time_s"]) for r in timeline] == pytest.approx([i * 0.64 for i in range(len(timeline))])
    values = np.array([[float(r[k]) for k in ("negative", "positive", "background", "face_presence")]
                       for r in timeline])
    assert np.all((values >= 0) & (values <= 1))
    cached_presence = np.load(out / "cache" / "videos" / VIDEO_ID / "face.mask.npy")
    assert values[:, 3] == pytest.approx(cached_presence, abs=1e-3)  # the face stream's presence
    assert values[:, 3].max() > 0.5  # the detector found the astronaut

    with Image.open(folder / "timeline.png") as image:
        assert image.format == "PNG" and image.size[0] >= 800 and image.size[1] >= 250

    summary = read_csv(out / "summary.csv")
    assert [(r["video_id"], r["status"]) for r in summary] == [("broken", "failed"), (VIDEO_ID, "localized")]
    assert (out / "label_studio.json").is_file() and (out / "label_studio_config.xml").is_file()
    localized = summary[1]
    assert int(localized["segments"]) == len(shown)
    covered = seconds_per_label([{"label": r["label"], "segment": [float(r["start_s"]), float(r["end_s"])],
                                  "score": 0} for r in shown], ["negative", "positive"])
    assert float(localized["negative_s"]) == pytest.approx(covered["negative"], abs=2e-3)
    assert float(localized["positive_s"]) == pytest.approx(covered["positive"], abs=2e-3)
    assert {r["random_weights"] for r in summary} == {"true"}
    assert "empty file" in summary[0]["reason"]


def test_the_face_emotions_reach_the_timeline_csv_and_the_report(localized_run):
    folder = localized_run.out / VIDEO_ID
    columns = [f"emotion_{name}" for name in FER2013_LABELS]  # the checkpoint's classes (face.emotion_labels)
    timeline = read_csv(folder / "timeline.csv")
    cached = np.load(localized_run.out / "cache" / "videos" / VIDEO_ID / "face.emotion.npy")
    seen = [float(row["face_presence"]) > 0 for row in timeline]
    assert sum(seen) >= 3 and len(seen) == cached.shape[0]
    for row, face, expected in zip(timeline, seen, cached, strict=True):
        if not face:
            assert row["top_emotion"] == "" and all(row[column] == "" for column in columns)
            continue
        probabilities = np.array([float(row[column]) for column in columns])
        assert probabilities.sum() == pytest.approx(1.0, abs=2e-3)
        assert probabilities == pytest.approx(expected, abs=1e-4)
        assert row["top_emotion"] == FER2013_LABELS[int(np.argmax(expected))]

    page = (folder / "report.html").read_text(encoding="utf-8")
    strip = page[page.index('<svg id="emotion-strip"'):]
    strip = strip[: strip.index("</svg>")]
    legend = page[page.index('id="emotion-legend"'):]
    legend = legend[: legend.index("</div>")]
    for name in (*FER2013_LABELS, "no face"):
        assert f"</span>{name}</span>" in legend, name
    titles = re.findall(r"<title>([^<]*)</title>", strip)
    first_face = seen.index(True)
    top = next(row["top_emotion"] for row in timeline[first_face:] if row["top_emotion"])
    assert any(re.search(rf": {top} \d\.\d\d$", title) for title in titles), titles
    assert {title.split(": ", 1)[1].split()[0] for title in titles} <= {*FER2013_LABELS, "no"}
    assert "no-emotions" not in page


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


def test_a_successful_localize_says_where_the_report_and_the_outputs_are(localized_run, tmp_path):
    out = tmp_path / "new results"
    done = cli("localize", str(localized_run.localized_video), "--model", str(localized_run.model), "--out", str(out),
               "--cache", str(localized_run.out / "cache"), "--random-weights", "--no-progress", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    report = out / "demo 01" / "report.html"
    assert report.is_file()
    lines = done.stdout.splitlines()
    assert lines[-1] == f"report: {shlex.quote(str(report))}"  # pasteable: quoted for a shell
    assert lines[-2].startswith(f"outputs: {shlex.quote(str(out))}/<video>/")
    assert "1 video(s) localized, 0 failed" in lines


def test_a_new_video_with_a_training_video_s_id_never_replaces_its_cached_features(localized_run, tmp_path):
    cache = localized_run.training_cache
    trained_on = sorted(p.parent.name for p in (cache / "videos").glob("*/meta.json"))[0]
    meta_before = (cache / "videos" / trained_on / "meta.json").read_bytes()
    other = write_test_pattern_video(tmp_path / "other" / f"{trained_on}.mp4", 1.0, size=(64, 48))
    result = cli("localize", str(other.parent), "--model", str(localized_run.model), "--out", str(tmp_path / "out"),
                 "--cache", str(cache), "--random-weights", "--no-progress", "--device", "cpu")
    assert result.returncode == 1 and "0 video(s) localized, 1 failed" in result.stdout, result.stdout + result.stderr
    assert f"the cache entry '{trained_on}' holds the features of another file" in result.stdout
    assert (cache / "videos" / trained_on / "meta.json").read_bytes() == meta_before  # training's features intact
    [row] = read_csv(tmp_path / "out" / "summary.csv")
    assert row["status"] == "failed" and str(tmp_path) not in row["reason"] and str(cache) not in row["reason"]


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
    machine = load_config(None,
                          ["audio.n_mfcc=64", "audio.chunk_snippets=7", "face.batch_size=3", "grid.frame_rate=30"])
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


def _shown_rows(folder: Path) -> list[tuple[float, float, str]]:
    rows = read_csv(folder / "segments.csv")
    return sorted((float(r["start_s"]), float(r["end_s"]), r["label"]) for r in rows if r["shown"] == "true")


def test_the_eaf_opens_in_elan_terms_and_reads_back_as_the_shown_segments(localized_run):
    folder = localized_run.out / VIDEO_ID
    shown = _shown_rows(folder)
    eaf = folder / "demo 01.eaf"
    root = ET.parse(eaf).getroot()  # well-formed XML; the structure ELAN's schema asks for:
    assert root.tag == "ANNOTATION_DOCUMENT" and root.get("FORMAT") == "3.0" and root.get("VERSION") == "3.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", root.get("DATE"))
    assert [child.tag for child in root] == ["HEADER", "TIME_ORDER", "TIER", "TIER", "LINGUISTIC_TYPE"]
    header = root.find("HEADER")
    assert header.get("TIME_UNITS") == "milliseconds"
    media = header.find("MEDIA_DESCRIPTOR")
    assert media.get("MEDIA_URL") == localized_run.localized_video.resolve().as_uri()
    relative = (eaf.parent / unquote(media.get("RELATIVE_MEDIA_URL"))).resolve()
    assert relative == localized_run.localized_video.resolve() and media.get("MIME_TYPE") == "video/mp4"
    properties = {p.get("NAME"): p.text for p in header.findall("PROPERTY")}
    assert properties["fsenet:random_weights"] == "true" and properties["lastUsedAnnotationId"] == str(len(shown))
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    assert list(slots.values()) == sorted(slots.values())
    tiers = {t.get("TIER_ID"): t for t in root.findall("TIER")}
    assert set(tiers) == {"negative", "positive"} and {t.get("LINGUISTIC_TYPE_REF") for t in tiers.values()} == {
        root.find("LINGUISTIC_TYPE").get("LINGUISTIC_TYPE_ID")}
    written = sorted(
        (slots[a.get("TIME_SLOT_REF1")] / 1000, slots[a.get("TIME_SLOT_REF2")] / 1000, a.findtext("ANNOTATION_VALUE"))
        for tier_id, tier in tiers.items() for a in tier.iter("ALIGNABLE_ANNOTATION")
        if a.findtext("ANNOTATION_VALUE") == tier_id
    )
    assert written == [(pytest.approx(s, abs=1e-3), pytest.approx(e, abs=1e-3), label) for s, e, label in shown]

    # fed back as annotations (by the media link: the id keeps its folder), it is the shown segments
    vocabulary = ClassVocabulary(("negative", "positive"))
    duration = json.loads((folder / "segments.json").read_text())["localize"]["duration_seconds"]
    back = read_annotations(eaf, vocabulary, {VIDEO_ID: duration, "other": 1.0})
    assert back.problems == [] and back.videos == {VIDEO_ID}
    assert sorted((s.start_seconds, s.end_seconds, s.label) for s in back.segments) == [
        (pytest.approx(s, abs=1e-3), pytest.approx(e, abs=1e-3), label) for s, e, label in shown]


def test_the_audacity_labels_and_the_label_studio_tasks_hold_the_shown_segments(localized_run, tmp_path):
    folder, out = localized_run.out / VIDEO_ID, localized_run.out
    shown = _shown_rows(folder)
    lines = (folder / "demo 01.labels.txt").read_text().splitlines()
    # segments.csv has 3 decimals, the label track 6: equal to the CSV's precision
    assert [(float(a), float(b), c) for a, b, c in (line.split("\t") for line in lines)] == [
        (pytest.approx(s, abs=5e-4), pytest.approx(e, abs=5e-4), label) for s, e, label in shown]
    vocabulary = ClassVocabulary(("negative", "positive"))
    duration = json.loads((folder / "segments.json").read_text())["localize"]["duration_seconds"]
    back = read_annotations(folder / "demo 01.labels.txt", vocabulary, {VIDEO_ID: duration})
    assert back.problems == [] and len(back.segments) == len(shown)

    tasks = json.loads((out / "label_studio.json").read_text())
    assert [t["data"]["video_id"] for t in tasks] == [VIDEO_ID]
    data, prediction = tasks[0]["data"], tasks[0]["predictions"][0]
    assert data["video"] == str(localized_run.localized_video.resolve()) and data["random_weights"] is True
    assert data["fps"] == pytest.approx(25.0)  # the demo video's own rate
    assert "random-weight" in prediction["model_version"]
    fps = data["fps"]
    for result, (start, end, label) in zip(prediction["result"], shown, strict=True):
        assert result["type"] == "timelinelabels" and result["value"]["timelinelabels"] == [label]
        frames = result["value"]["ranges"][0]
        assert (frames["start"] - 1) / fps <= start + 1e-6 and end <= frames["end"] / fps + 1e-6
        assert start - (frames["start"] - 1) / fps < 1 / fps and frames["end"] / fps - end < 1 / fps
    config = ET.fromstring((out / "label_studio_config.xml").read_text())
    assert [label.get("value") for label in config.iter("Label")] == ["negative", "positive"]
    # a person accepts the predictions in Label Studio: the export holds them as an annotation
    tasks[0]["annotations"] = [{"id": 1, "was_cancelled": False, "result": prediction["result"]}]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    accepted = read_annotations(export, vocabulary, {VIDEO_ID: duration})
    assert accepted.problems == [] and len(accepted.segments) == len(shown)
    assert all(abs(a.start_seconds - s) < 1 / fps and abs(a.end_seconds - e) < 1 / fps
               for a, (s, e, _) in zip(accepted.segments, shown, strict=True))


# -- hostile names and checkpoints, output folders that cannot be used -------------------
HOSTILE_NAMES = {  # file name -> its video id
    "b $\\foo{$ c.mp4": "b $\\foo{$ c",  # matplotlib mathtext that does not parse
    "=1+2.mp4": "=1+2",
    "@SUM(1+1)*cmd.mp4": "@SUM(1+1)*cmd",
    "\x1b[31mred\x1b[0m.mp4": "\x1b[31mred\x1b[0m",
    "a\n\nSTYLE\n::cue { color: red }\n\nb.mp4": "a\n\nSTYLE\n::cue { color: red }\n\nb",
    "-0.5.mp4": "-0.5",
}


def _is_plain_number(cell: str) -> bool:
    return re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", cell) is not None


def assert_no_formula_cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or _is_plain_number(cell), (path, cell)
    return rows


@pytest.fixture(scope="module")
def hostile_run(localized_run, tmp_path_factory):
    """`localize` on a folder of 1-second videos with hostile names (and, in a subfolder
    of the output's parent, nothing else), reusing nothing: extraction included."""
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "videos"
    for index, name in enumerate(HOSTILE_NAMES):
        write_test_pattern_video(folder / name, 1.0, size=(64, 48), tone_hz=300.0 + 80 * index)
    out = root / "out"
    result = cli("localize", str(folder), "--model", str(localized_run.model), "--out", str(out), "--random-weights",
                 "--no-progress", "--device", "cpu")
    return root, out, result


def test_hostile_names_are_all_localized_and_every_output_stays_plain(hostile_run):
    root, out, result = hostile_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(HOSTILE_NAMES)} video(s) localized, 0 failed" in result.stdout
    assert "\x1b" not in result.stdout + result.stderr and "\\x1b[31mred\\x1b[0m" in result.stdout
    table = result.stdout.split(" video(s) localized")[0].splitlines()[:-1]
    assert len(table) == 1 + len(HOSTILE_NAMES)  # no name broke a row in two
    assert "a\\n\\nSTYLE\\n::cue { color: red }\\n\\nb" in result.stdout

    summary = assert_no_formula_cells(out / "summary.csv")
    assert sorted(row[0] for row in summary[1:]) == sorted(
        "'" + v if v[0] in "=@" else v for v in HOSTILE_NAMES.values()
    )  # "-0.5" is a number: data, not a formula
    assert set(load_predictions(out / "results.json")) == set(HOSTILE_NAMES.values())
    for video_id in HOSTILE_NAMES.values():
        folder = out / video_id
        assert (folder / "timeline.png").stat().st_size > 0 and (folder / "report.html").is_file()
        assert_no_formula_cells(folder / "segments.csv")
        assert_no_formula_cells(folder / "timeline.csv")
        notes, _ = parse_vtt((folder / f"{video_id}.vtt").read_text())
        assert all(len(note.splitlines()) == 1 for note in notes)  # the name cannot end the NOTE block
        assert "STYLE" not in [block.split("\n")[0] for block in (folder / f"{video_id}.vtt").read_text().split("\n\n")]
    assert sorted(p.name for p in root.iterdir()) == ["out", "videos"]


def test_class_names_from_a_checkpoint_are_plain_text_everywhere(localized_run, hostile_run, tmp_path):
    root, out, _ = hostile_run
    trained = torch.load(localized_run.model, weights_only=True)
    trained["class_names"] = ["=neg $\\x{$", "@pos\n\nNOTE --> x"]
    model = tmp_path / "hostile classes.pt"
    save_checkpoint(model, {k: v for k, v in trained.items() if k not in ("format", "version")})
    result = cli("localize", str(root / "videos" / "=1+2.mp4"), "--model", str(model), "--out", str(tmp_path / "out"),
                 "--cache", str(out / "cache"), "--random-weights", "--no-progress", "--device", "cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    folder = tmp_path / "out" / "=1+2"
    header = assert_no_formula_cells(folder / "timeline.csv")[0]
    assert header[1:3] == ["'=neg $\\x{$", "'@pos\n\nNOTE --> x"]
    summary_header = assert_no_formula_cells(tmp_path / "out" / "summary.csv")[0]
    assert summary_header[4:6] == ["'=neg $\\x{$_s", "'@pos\n\nNOTE --> x_s"]
    assert_no_formula_cells(folder / "segments.csv")
    parse_srt((folder / "=1+2.srt").read_text())  # strict: a label cannot add a cue or a blank line
    parse_vtt((folder / "=1+2.vtt").read_text())
    assert (folder / "timeline.png").stat().st_size > 0


def test_control_characters_in_class_names_keep_the_xml_files_valid_and_stderr_escaped(localized_run, hostile_run,
                                                                                       tmp_path):
    root, out, _ = hostile_run
    trained = torch.load(localized_run.model, weights_only=True)
    trained["class_names"] = ["neg\x07ative\x00", "pos\x1b]0;title\x07itive\x0b"]  # BEL, NUL, OSC, vertical tab
    model = tmp_path / "control classes.pt"
    save_checkpoint(model, {k: v for k, v in trained.items() if k not in ("format", "version")})
    result = cli("localize", str(root / "videos" / "-0.5.mp4"), "--model", str(model), "--out", str(tmp_path / "out"),
                 "--cache", str(out / "cache"), "--random-weights", "--no-progress", "--device", "cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not re.search("[\x00-\x08\x0b-\x1f]", result.stdout + result.stderr)  # nothing raw reaches the terminal
    assert "Glyph 7 (\\x07) missing" in result.stderr  # matplotlib's warning, escaped like every name
    tiers = [tier.get("TIER_ID") for tier in ET.parse(tmp_path / "out" / "-0.5" / "-0.5.eaf").getroot().iter("TIER")]
    assert tiers == ["neg\\x07ative\\x00", "pos\\x1b]0;title\\x07itive\\x0b"]  # strict XML parser: valid
    config = ET.parse(tmp_path / "out" / "label_studio_config.xml").getroot()
    assert [label.get("value") for label in config.iter("Label")] == tiers


def test_a_dot_named_video_writes_only_inside_out(localized_run, tmp_path):
    video = write_test_pattern_video(tmp_path / "in" / "...mp4", 1.0, size=(64, 48))
    out = tmp_path / "in" / "deep" / "out"
    result = cli("localize", str(video), "--model", str(localized_run.model), "--out", str(out), "--random-weights",
                 "--no-progress", "--device", "cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "its video id is '_..'" in result.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if out not in p.parents) == [
        "in", "in/...mp4", "in/deep", "in/deep/out"]
    assert (out / "_.." / "report.html").is_file() and (out / "_.." / "_...vtt").is_file()
    assert (out / "cache" / "videos" / "_.." / "meta.json").is_file()


def test_one_video_whose_outputs_fail_is_listed_and_the_batch_goes_on(localized_run, tmp_path):
    from pipeline.config import load_config as machine_config
    from pipeline.localize.stage import run_localize

    videos = tmp_path / "videos"
    for name in ("first.mp4", "second.mp4"):
        write_test_pattern_video(videos / name, 1.0, size=(64, 48))
    out = tmp_path / "out"
    (out / "first").mkdir(parents=True)
    (out / "first" / "timeline.png").mkdir()  # a folder where a file must go: its outputs cannot be written
    summary = run_localize(videos, localized_run.model, out, machine_config(), device="cpu", allow_random_weights=True,
                           show_progress=False, log=lambda message: None)
    assert [v.video_id for v in summary.videos] == ["second"]
    assert [(f.video_id, f.reason.split(":")[0]) for f in summary.failures] == [("first", "cannot write outputs")]
    assert summary.failures[0].reason.startswith("cannot write outputs: first/timeline.png: a folder")
    rows = read_csv(out / "summary.csv")
    assert [(r["video_id"], r["status"]) for r in rows] == [("first", "failed"), ("second", "localized")]
    assert str(tmp_path) not in rows[0]["reason"]  # summary.csv is shared: no absolute path, even in a reason
    assert sorted(p.name for p in (out / "first").iterdir()) == ["timeline.png"]  # nothing half-written beside it
    assert set(load_predictions(out / "results.json")) == {"second"}


def _damaged_checkpoints(trained_path: Path, folder: Path) -> dict[str, Path]:
    """Checkpoints in the real format (the right marker) whose contents are damaged."""
    checkpoint = torch.load(trained_path, weights_only=True)
    written = {}
    for damage in ("no weights", "no class names", "class names text", "wrong shape", "no config", "three classes"):
        payload = {k: v for k, v in checkpoint.items() if k not in ("format", "version")}
        payload["model_state"] = dict(payload["model_state"])
        if damage == "no weights":
            del payload["model_state"]
        elif damage == "no class names":
            del payload["class_names"]
        elif damage == "class names text":
            payload["class_names"] = "negative,positive"
        elif damage == "wrong shape":
            name = next(k for k, v in payload["model_state"].items() if v.ndim == 2)
            payload["model_state"][name] = torch.zeros(3, 3)
        elif damage == "no config":
            del payload["config"]
        else:
            payload["class_names"] = ["negative", "positive", "neutral"]
        written[damage] = folder / f"{damage}.pt"
        save_checkpoint(written[damage], payload)
    return written


def test_damaged_checkpoints_are_one_line_errors(localized_run, tmp_path):
    from pipeline.infer.checkpoint import CheckpointError, load_trained_model

    damaged = _damaged_checkpoints(localized_run.model, tmp_path)
    for damage, path in damaged.items():
        with pytest.raises(CheckpointError) as caught:
            load_trained_model(path, "cpu")
        message = str(caught.value)
        assert message.startswith(f"{path}: damaged or incompatible checkpoint (") and "\n" not in message, damage
    line = one_error_line(cli("localize", str(localized_run.localized_video), "--model", str(damaged["wrong shape"]),
                              "--out", str(tmp_path / "out"), "--random-weights", "--no-progress", "--device", "cpu"))
    assert "size mismatch" in line and not (tmp_path / "out").exists()


def test_output_folders_that_cannot_be_used_are_one_line_errors(localized_run, tmp_path):
    from pipeline.config import load_config as machine_config
    from pipeline.localize.stage import run_localize
    from pipeline.output_folder import OutputFolderError

    (tmp_path / "a file").write_text("keep me")
    readonly = tmp_path / "read-only"
    readonly.mkdir()
    undo = make_read_only(readonly)
    try:
        for out in (tmp_path / "a file", tmp_path / "a file" / "out", readonly, readonly / "new"):
            with pytest.raises(OutputFolderError, match="--out") as caught:
                run_localize(localized_run.localized_video, localized_run.model, out, machine_config(), device="cpu")
            assert str(caught.value).startswith(f"{out}: cannot write the outputs there")
    finally:
        undo()
    line = one_error_line(cli("localize", str(localized_run.localized_video), "--model", str(localized_run.model),
                              "--out", str(tmp_path / "a file"), "--no-progress", "--device", "cpu"))
    assert str(tmp_path / "a file") in line and "it exists and is not a folder" in line
    assert (tmp_path / "a file").read_text() == "keep me" and not any(readonly.iterdir())


def test_postprocess_settings_given_to_localize_win_over_the_checkpoints(localized_run, tmp_path):
    """--set postprocess.* replaces the checkpoint's post-processing (and says so); a class
    under the class threshold gets a line in the report; a checkpoint saved before
    postprocess.score existed keeps the raw CAS it was selected with."""
    out = tmp_path / "out"
    result = cli("localize", str(localized_run.localized_video), "--model", str(localized_run.model), "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--random-weights", "--no-progress", "--device", "cpu",
                 "--set", "postprocess.class_score_threshold=1.0", "--set", "postprocess.score=cas")
    assert result.returncode == 0, result.stderr
    assert ("post-processing from the command line over the checkpoint's: class_score_threshold=1.0, score=cas"
            in result.stderr)
    labels = {entry["label"] for entry in load_predictions(out / "results.json")["demo 01"]}
    assert len(labels) == 1  # only the best class passes a threshold of 1
    page = (out / "demo 01" / "report.html").read_text(encoding="utf-8")
    [missing] = {"negative", "positive"} - labels
    assert re.search(rf"No {missing} segment: this video's {missing} score 0\.\d{{3}} is under "
                     r"the class threshold 1\.00", page)

    old = torch.load(localized_run.model, weights_only=True)
    del old["config"]["postprocess"]["score"]
    save_checkpoint(tmp_path / "old.pt", {k: v for k, v in old.items() if k not in ("format", "version")})
    from pipeline.infer.checkpoint import load_trained_model

    loaded = load_trained_model(tmp_path / "old.pt", "cpu")
    assert loaded.config.postprocess.score == "cas" and "predates postprocess.score" in loaded.notes[0]
    assert load_trained_model(tmp_path / "old.pt", "cpu", {"score": "global"}).config.postprocess.score == "global"
