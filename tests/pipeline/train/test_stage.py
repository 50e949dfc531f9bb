"""`train` and `evaluate` end to end on small datasets made in the test: a synthetic
release (the released TSL-300 layout) and a feature cache made by the real `extract`."""

import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from pipeline.data.config import DataConfig
from pipeline.data.sources import load_dataset
from tests.conftest import ROOT, cli, one_error_line
from tests.pipeline.release_layouts import write_fsenet_release

TINY_MODEL = [
    "--set", "model.d_model=32", "--set", "model.num_heads=2", "--set", "train.learning_rate=0.002",
    "--set", "train.validate_every_epochs=2", "--set", "train.batch_size=4", "--no-progress", "--device", "cpu",
    "--set", "train.early_stopping_patience=0",  # these tests count epochs
]


def history(run_dir):
    return json.loads((run_dir / "history.json").read_text())


def test_training_lowers_the_loss_and_writes_a_self_contained_checkpoint(release, tmp_path):
    run_dir = tmp_path / "run"
    result = cli("train", "--features", str(release), "--out", str(run_dir), "--epochs", "12", *TINY_MODEL)
    assert result.returncode == 0, result.stderr
    losses = [record["loss_total"] for record in history(run_dir)]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3
    assert any("validation_map" in record for record in history(run_dir))
    checkpoint = torch.load(run_dir / "best.pt", weights_only=True)
    assert checkpoint["class_names"] == ["n", "p"]
    assert set(checkpoint["stream_dims"]) == {"visual", "audio", "face"}
    assert checkpoint["stream_dims"]["visual"] == 48
    assert checkpoint["config"]["model"]["d_model"] == 32
    assert checkpoint["feature_spec"]["source"] == "release"
    assert (run_dir / "config.yaml").is_file() and (run_dir / "tensorboard").is_dir()

    out = tmp_path / "preds.json"
    evaluated = cli("evaluate", "--run", str(run_dir), "--split", "test", "--out", str(out), "--device", "cpu")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "mAP" in evaluated.stdout and "F2" in evaluated.stdout
    results = json.loads(out.read_text())["results"]
    test_ids = (release / "split_test.txt").read_text().split()
    assert set(results) == set(test_ids)
    assert all(entry["label"] in ("n", "p") and entry["segment"][0] < entry["segment"][1]
               for entries in results.values() for entry in entries)
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    rescored = cli("evaluate", "--predictions", str(out), "--ground-truth", str(release / "gt.json"),
                   "--subset", "test", "--json")
    assert rescored.returncode == 0, rescored.stderr
    assert json.loads(rescored.stdout)["average_mAP"] == pytest.approx(metrics["average_mAP"], abs=1e-9)


def test_same_seed_same_run_and_sigkill_resume_gives_the_same_result(release, tmp_path):
    command = ["train", "--features", str(release), "--epochs", "8", *TINY_MODEL]
    straight = tmp_path / "straight"
    assert cli(*command, "--out", str(straight)).returncode == 0

    resumed = tmp_path / "resumed"
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *command, "--out", str(resumed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        path = resumed / "history.json"
        if path.exists() and len(json.loads(path.read_text() or "[]")) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # what a SIGKILL while last.pt is written leaves (named by the killed process's pid)
    leftover = resumed / f".last.pt.tmp-{process.pid}-0123abcd"
    leftover.write_bytes(b"\0" * 2**20)
    again = cli(*command, "--out", str(resumed))
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr
    assert "removed 1 temp file(s) (1.0 MiB)" in again.stderr and not leftover.exists()
    losses = lambda run: [round(r["loss_total"], 6) for r in history(run)]  # noqa: E731
    assert losses(resumed) == losses(straight)
    for name in ("best.pt", "last.pt"):
        a = torch.load(straight / name, weights_only=True)["model_state"]
        b = torch.load(resumed / name, weights_only=True)["model_state"]
        assert all(torch.equal(a[key], b[key]) for key in a), name


def test_a_run_folder_refuses_another_config(release, tmp_path):
    run_dir = tmp_path / "run"
    assert cli("train", "--features", str(release), "--out", str(run_dir), "--epochs", "1", *TINY_MODEL).returncode == 0
    other = cli("train", "--features", str(release), "--out", str(run_dir), "--epochs", "2", *TINY_MODEL,
                "--set", "model.dropout=0.3")
    assert other.returncode == 2
    assert "another config" in other.stderr


def test_a_run_folder_refuses_other_annotations_or_features_under_the_same_settings(release, tmp_path):
    import shutil

    from pipeline.config import load_config, with_overrides
    from pipeline.train.run_folder import RunError
    from pipeline.train.stage import run_train

    features = tmp_path / "release"
    shutil.copytree(release, features)
    run_dir = tmp_path / "run"
    settings = [value for option, value in zip(TINY_MODEL, TINY_MODEL[1:], strict=False) if option == "--set"]
    threads = torch.get_num_threads()

    def train_in_process(data, epochs: int):  # no new process to start: the test stays short
        try:
            return run_train(data, None, run_dir,
                             with_overrides(load_config(None, settings), {"train": {"epochs": epochs}}),
                             "cpu", show_progress=False, log=lambda message: None)
        finally:
            torch.set_num_threads(threads)

    train_in_process(features, 1)
    best = (run_dir / "best.pt").read_bytes()
    truth = json.loads((features / "gt.json").read_text())
    record = next(r for r in truth["database"].values() if r["annotations"])
    record["annotations"][0]["segment"] = [str(float(value) + 0.5) for value in record["annotations"][0]["segment"]]
    corrected = tmp_path / "corrected.json"  # the correct-and-retrain loop: one segment moved
    corrected.write_text(json.dumps(truth))
    again = cli("train", "--features", str(features), "--annotations", str(corrected), "--out", str(run_dir),
                "--epochs", "2", *TINY_MODEL)
    line = again.stderr.strip().splitlines()[-1]  # the dataset's notes, then one error line
    assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr
    assert line == (f"error: {run_dir} holds a run trained on other annotations (the same settings): its best.pt is "
                    "that data's model; pass a new --out folder to train on these, or the same --features and "
                    "--annotations to resume")
    rgb = next((features / "features" / "train" / "rgb").glob("*.npy"))
    np.save(rgb, np.load(rgb) + np.float32(0.25))  # the features re-extracted differently
    with pytest.raises(RunError, match="holds a run trained on other features \\(the same settings\\)"):
        train_in_process(features, 2)
    assert (run_dir / "best.pt").read_bytes() == best and len(history(run_dir)) == 1  # nothing trained over it
    moved = tmp_path / "moved release"
    shutil.copytree(release, moved)  # the same data from another folder resumes
    assert train_in_process(moved, 2).epochs_run == 1


def _resume_from(run_dir):
    """resume() as `train` calls it, on the run's own config and a fresh model."""
    from model import FSENet
    from pipeline.config import load_config
    from pipeline.train.run_folder import resume

    config = load_config(run_dir / "config.yaml")
    dims = torch.load(run_dir / "best.pt", weights_only=True)["stream_dims"]
    model = FSENet(config.model, dims)
    optimizer = torch.optim.Adam(model.parameters())
    return resume(run_dir, config, model, optimizer, torch.Generator(), log=lambda message: None)


def test_a_damaged_last_pt_is_one_line_saying_how_to_go_on(release, tmp_path):
    from pipeline.config import load_config, with_overrides
    from pipeline.infer.checkpoint import save_checkpoint
    from pipeline.train.run_folder import RunError
    from pipeline.train.stage import run_train

    run_dir = tmp_path / "run"
    command = ["train", "--features", str(release), "--out", str(run_dir), *TINY_MODEL]
    settings = [value for option, value in zip(TINY_MODEL, TINY_MODEL[1:], strict=False) if option == "--set"]
    config = load_config(None, settings)
    threads = torch.get_num_threads()

    def train_in_process(epochs: int) -> None:  # no new process to start: the test stays short
        try:
            run_train(release, None, run_dir, with_overrides(config, {"train": {"epochs": epochs}}), "cpu",
                      show_progress=False, log=lambda message: None)
        finally:
            torch.set_num_threads(threads)

    train_in_process(1)
    last = run_dir / "last.pt"
    good = torch.load(last, weights_only=True)
    payload = {k: v for k, v in good.items() if k not in ("format", "version")}
    assert _resume_from(run_dir).epoch == 1
    for damage in ("optimizer_state", "rng_state", "epoch", "shape"):
        broken = dict(payload, model_state=dict(payload["model_state"]))
        if damage == "shape":
            name = next(k for k, v in broken["model_state"].items() if v.ndim == 2)
            broken["model_state"][name] = torch.zeros(2, 2)
        else:
            del broken[damage]
        save_checkpoint(last, broken)
        with pytest.raises(RunError, match="cannot resume from it .*mv .*last.pt.damaged") as caught:
            _resume_from(run_dir)
        assert "\n" not in str(caught.value), damage

    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # truncated
    refused = cli(*command, "--epochs", "2")  # the dataset's warnings, then one error line
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {last}: cannot resume from it (not a readable checkpoint") and "--out" in line
    last.rename(run_dir / "last.pt.damaged")  # the fix the message gives
    train_in_process(2)
    assert [record["epoch"] for record in history(run_dir)] == [1, 2]  # trained again from epoch 0


def test_an_output_folder_that_is_a_file_is_refused_before_the_data_is_read(release, tmp_path):
    from pipeline.config import load_config
    from pipeline.output_folder import OutputFolderError
    from pipeline.train.stage import run_train

    (tmp_path / "a file").write_text("keep me")
    for run_dir in (tmp_path / "a file", tmp_path / "a file" / "run"):
        with pytest.raises(OutputFolderError, match="pass another --out folder"):
            run_train(tmp_path / "no such features", None, run_dir, load_config(), "cpu", show_progress=False)
    assert (tmp_path / "a file").read_text() == "keep me"


def test_training_from_an_extracted_cache_with_points(tmp_path, pattern_video):
    videos = tmp_path / "videos"
    for index, hz in enumerate((300.0, 500.0, 700.0, 900.0)):
        pattern_video(f"videos/clip {index}.mp4", 4.0, size=(64, 48), tone_hz=hz)
    cache = tmp_path / "cache"
    assert cli("extract", str(videos), "--cache", str(cache), "--streams", "audio", "--no-progress").returncode == 0
    points = tmp_path / "points.csv"
    points.write_text(
        "video_id,time_s,label\nclip 0,1.0,positive\nclip 1,2.0,negative\nclip 2,0.5,positive\n"
        "clip 3,3.0,negative\nclip 3,9.0,negative\nnobody,1.0,positive\n"
    )
    run_dir = tmp_path / "run"
    result = cli("train", "--features", str(cache), "--annotations", str(points), "--out", str(run_dir),
                 "--epochs", "3", *TINY_MODEL)
    assert result.returncode == 0, result.stderr
    assert "training on streams ['audio']" in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("nobody" in line for line in warnings)
    assert any("9.0" in line or "outside" in line for line in warnings)
    checkpoint = torch.load(run_dir / "best.pt", weights_only=True)
    assert checkpoint["stream_dims"] == {"audio": 160}
    assert checkpoint["feature_spec"]["extractors"]["audio"]["name"] == "audio"

    # A damaged entry is named as one, never an "unknown video" of the annotations.
    train_again = ["train", "--features", str(cache), "--annotations", str(points), "--epochs", "1", *TINY_MODEL]
    array = np.load(cache / "videos" / "clip 2" / "audio.npy")
    array[1, 3] = np.nan
    np.save(cache / "videos" / "clip 2" / "audio.npy", array)
    line = one_error_line(cli(*train_again, "--out", str(tmp_path / "run 2")))
    assert "clip 2: damaged cache entry (audio.npy holds NaN or infinite values); rerun `extract`" in line
    (cache / "videos" / "clip 1" / "meta.json").write_text("[1, 2, 3]")
    line = one_error_line(cli(*train_again, "--out", str(tmp_path / "run 2")))
    assert "clip 1: damaged cache entry (meta.json holds an array, not an object); rerun `extract`" in line


def test_annotations_that_give_no_label_stop_before_training(tmp_path, pattern_video):
    """Every row dropped is one line with the first reason, before a run folder is made; it
    trained on no label at all and reported `best validation loss: n/a`, or (every time_s not
    a number) stopped with `names none of the 2 videos` and never said why."""
    for index, hz in enumerate((300.0, 700.0)):
        pattern_video(f"videos/clip {index}.mp4", 2.0, size=(64, 48), tone_hz=hz)
    cache = tmp_path / "cache"
    assert cli("extract", str(tmp_path / "videos"), "--cache", str(cache), "--streams", "audio",
               "--no-progress").returncode == 0
    unknown, not_numbers = tmp_path / "happy.csv", tmp_path / "abc.csv"
    unknown.write_text("video_id,time_s,label\nclip 0,1.0,happy\nclip 1,0.5,happy\n")
    not_numbers.write_text("video_id,time_s,label\nclip 0,abc,positive\nclip 1,x,negative\n")
    run_dir = tmp_path / "run"
    line = one_error_line(cli("train", "--features", str(cache), "--annotations", str(unknown), "--out",
                              str(run_dir), "--epochs", "1", *TINY_MODEL))
    assert line == (f"error: {unknown}: no usable label was found; 2 problem(s), the first: {unknown}:2: "
                    "unknown label 'happy' (known: 'negative', 'positive', 'n', 'p'); dropped")
    line = one_error_line(cli("train", "--features", str(cache), "--annotations", str(not_numbers), "--out",
                              str(run_dir), "--epochs", "1", *TINY_MODEL))
    assert line == (f"error: {not_numbers}: no usable label was found; it names none of the 2 videos in the "
                    f"feature cache {cache}; 2 problem(s), the first: {not_numbers}:2: time_s 'abc' is not a "
                    "number; dropped")
    assert not run_dir.exists()


def test_videos_whose_names_are_not_utf8_train_and_resume(tmp_path, pattern_video, one_thread):
    """File names that are not UTF-8 (Latin-1 bytes, carried as surrogateescape) are ids like
    any other: training compared its processes' video lists as UTF-8 and stopped in a
    UnicodeEncodeError traceback before the first epoch, on every rerun."""
    import os

    from pipeline import api

    names = [os.fsdecode(b"caf\xe9"), "plain", os.fsdecode(b"\xff\xfe/na\xefve")]
    for index, name in enumerate(names):
        pattern_video(f"videos/{name}.mp4", 4.0, size=(64, 48), tone_hz=300.0 + 200.0 * index)
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    assert api.extract(tmp_path / "videos", cache, streams=["audio"], quiet=True).failures == []
    labels_of = {name: "positive" if index % 2 else "negative" for index, name in enumerate(names)}
    segments = {"database": {name: {"subset": "train", "annotations": [{"label": label, "segment": [1.0, 2.5]}]}
                             for name, label in labels_of.items()}}
    labels = tmp_path / "segments.json"
    labels.write_text(json.dumps(segments))  # JSON keeps such a name exactly: "caf\udce9"
    settings = {"model": {"d_model": 16, "num_heads": 2, "streams": ["audio"]},
                "data": {"validation_fraction": 0.0}, "train": {"epochs": 2, "selection_metric": "loss"}}
    first = api.train(cache, labels, run_dir, device="cpu", quiet=True, **settings)
    assert first.epochs_run == 2
    settings["train"]["epochs"] = 3
    assert api.train(cache, labels, run_dir, device="cpu", quiet=True, **settings).epochs_run == 1  # resumed
    assert json.loads((run_dir / "run.json").read_text())["splits"]["train"] == 3


def test_features_kept_on_the_device_and_padded_batches_train_the_same(release, tmp_path):
    """train.features_on_device=always (batches padded where the features live) and
    train.pad_multiple_snippets (masked padding to fewer shapes) leave the run unchanged."""
    no_dropout = ["--set", "model.dropout=0", "--set", "train.amp_dtype=none", "--epochs", "2", *TINY_MODEL]
    runs = {}
    for name, settings in {
        "plain": ["--set", "train.features_on_device=never", "--set", "train.pad_multiple_snippets=1"],
        "resident_padded": ["--set", "train.features_on_device=always", "--set", "train.pad_multiple_snippets=48"],
    }.items():
        run_dir = tmp_path / name
        result = cli("train", "--features", str(release), "--out", str(run_dir), *no_dropout, *settings)
        assert result.returncode == 0, result.stderr
        runs[name] = [record["loss_total"] for record in history(run_dir)]
    assert runs["plain"] == pytest.approx(runs["resident_padded"], rel=1e-4)


def test_training_on_the_fsenet_release_layout_needs_no_settings(tmp_path):
    """Per-frame rgb (1024-d) and logmfcc (768-d), per-snippet img: read as the authors'
    loader reads them, and the checkpoint records the 768-d audio stream and how its rows
    were taken."""
    release = write_fsenet_release(tmp_path / "VideoSenti")
    run_dir = tmp_path / "run"
    result = cli("train", "--features", str(release), "--out", str(run_dir), "--epochs", "2", *TINY_MODEL)
    assert result.returncode == 0, result.stderr
    assert ("note: released layout read as: rgb one row per frame (16 per snippet), every 16th row plus the last"
            in result.stderr)
    checkpoint = torch.load(run_dir / "best.pt", weights_only=True)
    assert checkpoint["stream_dims"] == {"visual": 1024, "audio": 768, "face": 1024}
    spec = checkpoint["feature_spec"]
    assert spec["source"] == "release" and spec["streams"]["audio"] == 768
    audio = spec["extractors"]["audio"]
    assert (audio["layout"], audio["rows_per_snippet"], audio["row_width"]) == ("frame", 16, 768)
    assert audio["rows_taken"].startswith("rows 0, 16, 32, ... and the last row")
    assert json.loads((run_dir / "run.json").read_text())["feature_spec"]["extractors"]["audio"] == audio


ELAN_POINTS = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2024-05-14T10:21:07+01:00" FORMAT="3.0" VERSION="3.0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">
    <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
        <MEDIA_DESCRIPTOR MEDIA_URL="file:///data/videos/{name}.mp4" MIME_TYPE="video/mp4"
            RELATIVE_MEDIA_URL="./{name}.mp4"/>
        <PROPERTY NAME="lastUsedAnnotationId">{count}</PROPERTY>
    </HEADER>
    <TIME_ORDER>
{slots}
    </TIME_ORDER>
    <TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="sentiment">
{annotations}
    </TIER>
    <LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="default-lt" TIME_ALIGNABLE="true"/>
</ANNOTATION_DOCUMENT>
"""


def test_training_from_elan_points_on_an_extracted_cache(localized_run, tmp_path):
    """The demo videos' points, each a zero-length ELAN annotation in a file per video."""
    with (localized_run.root / "annotations" / "points.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    folder = tmp_path / "elan"
    folder.mkdir()
    for name in sorted({row["video_id"] for row in rows}):
        mine = [row for row in rows if row["video_id"] == name]
        slots = "\n".join(f'        <TIME_SLOT TIME_SLOT_ID="ts{i}" TIME_VALUE="{round(float(r["time_s"]) * 1000)}"/>'
                          for i, r in enumerate(mine, start=1))
        annotations = "\n".join(
            f'        <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a{i}" TIME_SLOT_REF1="ts{i}" '
            f'TIME_SLOT_REF2="ts{i}"><ANNOTATION_VALUE>{r["label"]}</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>'
            for i, r in enumerate(mine, start=1))
        text = ELAN_POINTS.format(name=name, count=len(mine), slots=slots, annotations=annotations)
        (folder / f"{name}.eaf").write_text(text, encoding="utf-8")
    (folder / "README.txt").write_text("exported from ELAN\n")
    (folder / "old.labels.txt").write_text("time\tlabel\n")  # named as a label track, but none
    run_dir = tmp_path / "run"
    result = cli("train", "--features", str(localized_run.training_cache), "--annotations", str(folder), "--out",
                 str(run_dir), "--epochs", "2", *TINY_MODEL)
    assert result.returncode == 0, result.stderr
    assert f"note: {folder / 'README.txt'}: skipped, not an Audacity label track (line 1 reads" in result.stderr
    assert f"warning: {folder / 'old.labels.txt'}: not an Audacity label track (line 1 reads" in result.stderr
    run = json.loads((run_dir / "run.json").read_text())
    assert run["annotations"] == str(folder.resolve())
    assert sum(run["splits"].values()) == len({row["video_id"] for row in rows})
    assert not [line for line in result.stderr.splitlines() if line.startswith("warning:") and ".eaf" in line]
    dataset = load_dataset(localized_run.training_cache, DataConfig(), folder)  # the points the run trained on
    assert dataset.annotation_files == {"points": sorted(str(p) for p in folder.glob("*.eaf"))}
    for name, sample in dataset.samples.items():
        expected = sorted(round(float(r["time_s"]), 3) for r in rows if r["video_id"] == name)
        assert sorted(round(float(t), 3) for t in sample.point_seconds) == expected
    checkpoint = torch.load(run_dir / "best.pt", weights_only=True)
    assert set(checkpoint["stream_dims"]) == {"audio", "face"}


def test_diagnostics_and_early_stopping_options(release, tmp_path):
    """train.diagnostics_splits fills history.json with the per-split loss terms, mAP and score
    figures; a patience of one check with a learning rate too small to change anything stops after two checks."""
    run_dir = tmp_path / "run"
    result = cli(
        "train", "--features", str(release), "--out", str(run_dir), "--epochs", "12", *TINY_MODEL,
        "--set", "train.diagnostics_splits=[validation,test]", "--set", "train.early_stopping_patience=1",
        "--set", "train.early_stopping_start_epoch=0",
        "--set", "train.learning_rate=0.000000001", "--set", "train.warmup_epochs=1",
        "--set", "postprocess.score=cas_fg",
    )
    assert result.returncode == 0, result.stderr
    records = history(run_dir)
    assert len(records) < 12 and "early stopping after epoch" in result.stderr
    validated = [record for record in records if "validation_map" in record]
    for key in ("validation_loss_frame", "validation_cas_in", "validation_auc_fg", "test_map",
                "test_share_cas_lowest", "test_proposals_per_video", "test_map_global_rel"):
        assert key in validated[-1], key
    assert "test_loss_total" not in validated[-1]  # test videos carry no points
    assert records[-1]["stop"].startswith("early stopping after epoch") and "stop" not in records[-2]
    stopped = json.loads((run_dir / "run.json").read_text())["stopped"]
    assert stopped["epoch"] == records[-1]["epoch"] and stopped["reason"] == records[-1]["stop"]


def test_bench_curves_tabulates_and_plots_a_run_with_diagnostics(release, tmp_path, capsys):
    """`fsenet bench curves RUN_DIR...` (in process): the table of final vs selected epoch, and the figure."""
    from cli import main as cli_main

    run_dir = tmp_path / "run"
    trained = cli("train", "--features", str(release), "--out", str(run_dir), "--epochs", "4", *TINY_MODEL,
                  "--set", "train.diagnostics_splits=[validation,test]")
    assert trained.returncode == 0, trained.stderr
    capsys.readouterr()
    assert cli_main(["bench", "curves", str(run_dir), "--metric", "map_cas_fg_abs"]) == 0
    table = capsys.readouterr().out
    assert "| run | epochs |" in table and "| run |" in table.splitlines()[0]
    assert any(line.startswith("| run | 4 |") for line in table.splitlines()), table
    assert cli_main(["bench", "curves", str(run_dir), "--plot", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli_main(["bench", "curves", str(tmp_path)]) == 2  # not a run folder: one line
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ")


def test_training_needs_a_guided_stream_of_the_table_among_the_features():
    from model.streams import GUIDED_STREAMS
    from pipeline.config import ConfigError, load_config
    from pipeline.data.feature_spec import FeatureSpec
    from pipeline.data.samples import SentimentDataset
    from pipeline.train.stage import restrict_streams

    def dataset(streams):
        return SentimentDataset((), {}, {}, FeatureSpec("release", "features", dict.fromkeys(streams, 4)), [])

    config = load_config()
    with pytest.raises(ConfigError, match=f"FSENet needs {' or '.join(GUIDED_STREAMS)} "):
        restrict_streams(config, dataset(["face"]))
    for guided in GUIDED_STREAMS:
        restricted, note = restrict_streams(config, dataset([guided, "face"]))
        assert restricted.model.streams == (guided, "face") and note
