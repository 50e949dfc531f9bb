"""`evaluate --run`: test videos the split lists but whose features are missing count as misses."""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.config import load_config
from pipeline.evaluate.stage import evaluate_files, evaluate_run
from pipeline.train.stage import run_train

TINY = ["model.d_model=16", "model.num_heads=2", "train.batch_size=4", "train.epochs=2",
        "train.validate_every_epochs=2", "train.early_stopping_patience=0", "train.learning_rate=0.002"]


@pytest.fixture(scope="module")
def run_with_missing_test_videos(release, tmp_path_factory):
    """A tiny run on a copy of the release, then the features of two test videos with
    segments deleted from that copy (the run's features)."""
    root = tmp_path_factory.mktemp("evaluate")
    features = root / "release"
    shutil.copytree(release, features)
    run_dir = root / "run"
    run_train(features, None, run_dir, load_config(None, TINY), "cpu", show_progress=False, log=lambda *_: None)
    truth = json.loads((features / "gt.json").read_text())["database"]
    test_ids = (features / "split_test.txt").read_text().split()
    gone = [v for v in test_ids if truth[v]["annotations"]][:2]
    for folder in ("rgb", "logmfcc", "img"):
        for video_id in gone:
            (features / "features" / "test" / folder / f"{video_id}.npy").unlink()
    return features, run_dir, gone, sum(len(truth[v]["annotations"]) for v in gone)


def test_missing_test_videos_count_as_misses_and_are_named(run_with_missing_test_videos, tmp_path):
    features, run_dir, gone, gone_segments = run_with_missing_test_videos
    lines: list[str] = []
    out = tmp_path / "preds.json"
    result = evaluate_run(run_dir, "test", out, "cpu", log=lines.append)
    warnings = [line for line in lines if line.startswith("warning:") and "not loaded" in line]
    assert len(warnings) == 1 and all(video_id in warnings[0] for video_id in gone), lines
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["missing_videos"] == {"count": 2, "ground_truth_segments": gone_segments, "video_ids": sorted(gone)}
    assert not set(gone) & set(json.loads(out.read_text())["results"])  # no predictions for them
    # the same predictions scored against the whole ground truth file: the same figures
    rescored = evaluate_files(out, features / "gt.json", "test")
    assert result.average_map == pytest.approx(rescored.average_map, abs=1e-9)
    assert result.num_ground_truth == rescored.num_ground_truth and result.num_videos == rescored.num_videos


def test_no_missing_videos_is_recorded_as_none(release, run_with_missing_test_videos, tmp_path):
    _, run_dir, _, _ = run_with_missing_test_videos
    info = json.loads((run_dir / "run.json").read_text())
    info["features"] = str(release)  # the untouched release: every test video has features
    other = tmp_path / "run"
    shutil.copytree(run_dir, other)
    (other / "run.json").write_text(json.dumps(info))
    lines: list[str] = []
    evaluate_run(other, "test", tmp_path / "preds.json", "cpu", log=lines.append)
    metrics = json.loads((tmp_path / "preds.metrics.json").read_text())
    assert metrics["missing_videos"] == {"count": 0, "ground_truth_segments": 0, "video_ids": []}
    assert not [line for line in lines if "not loaded" in line]


def test_results_or_ground_truth_nested_past_any_reader_are_not_valid_json(tmp_path):
    ground_truth = tmp_path / "gt.json"
    ground_truth.write_text(json.dumps({"database": {"v": {"subset": "test", "annotations": []}}}))
    deep = tmp_path / "deep.json"
    deep.write_text('{"results": {"v": ' + '{"a": ' * 150_000)
    for predictions, truth in ((deep, ground_truth), (ground_truth, deep)):
        with pytest.raises(Exception, match=r"deep.json: not valid JSON \(nested too deeply") as caught:
            evaluate_files(predictions, truth, None)
        assert not isinstance(caught.value, RecursionError)
