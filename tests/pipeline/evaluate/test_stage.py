"""`evaluate --run`: test videos the split lists but whose features are missing count as
misses. `evaluate --predictions P --ground-truth G`: a class only predicted is reported as
not scored, and every input mistake is one line naming the file, exit status 2."""

from __future__ import annotations

import json
import shutil

import pytest

import cli
from pipeline.config import load_config
from pipeline.evaluate.stage import EvaluateError, evaluate_files, evaluate_run
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


def test_a_split_without_segments_is_one_line_not_a_traceback(release, run_with_missing_test_videos, tmp_path):
    _, run_dir, _, _ = run_with_missing_test_videos
    features = tmp_path / "release"
    shutil.copytree(release, features)
    for name in ("gt.json", "videosenti_gt.json"):  # the release's ground truth, both spellings
        truth = json.loads((features / name).read_text())
        for video_id in (features / "split_test.txt").read_text().split():
            truth["database"][video_id]["annotations"] = []
        (features / name).write_text(json.dumps(truth))
    other = tmp_path / "run"
    shutil.copytree(run_dir, other)
    info = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps({**info, "features": str(features)}))
    with pytest.raises(EvaluateError, match="split 'test': its .* video.s. have no ground-truth segments"):
        evaluate_run(other, "test", tmp_path / "preds.json", "cpu", log=lambda *_: None)


GROUND_TRUTH = {"database": {"a": {"subset": "test", "annotations": [{"label": "positive", "segment": [1.0, 3.0]}]},
                             "b": {"subset": "train", "annotations": []}}}


def results(*entries: dict) -> dict:
    return {"results": {"a": list(entries)}}


def test_a_class_only_predicted_is_not_scored_and_stops_nothing(tmp_path, capsys):
    (tmp_path / "gt.json").write_text(json.dumps(GROUND_TRUTH))
    (tmp_path / "p.json").write_text(json.dumps(results({"label": "positive", "score": 0.9, "segment": [1.2, 2.8]},
                                                        {"label": "negative", "score": 0.4, "segment": [5, 6]})))
    status = cli.main(["evaluate", "--predictions", str(tmp_path / "p.json"),
                       "--ground-truth", str(tmp_path / "gt.json")])
    assert status == 0
    assert "classes without ground truth, not scored: negative" in capsys.readouterr().out


def test_split_picks_the_ground_truth_videos_of_that_split_as_run_mode_reads_subsets(tmp_path, capsys):
    """`--split` with --ground-truth was accepted and ignored (every video scored); it keeps
    the videos whose subset names the split ("testing" is test), like `evaluate --run`."""
    truth = {"database": {
        "a": {"subset": "testing", "annotations": [{"label": "positive", "segment": [1.0, 3.0]}]},
        "b": {"subset": "Training", "annotations": [{"label": "positive", "segment": [5.0, 7.0]}]},
    }}
    (tmp_path / "gt.json").write_text(json.dumps(truth))
    (tmp_path / "p.json").write_text(json.dumps({"results": {
        "a": [{"label": "positive", "score": 0.9, "segment": [1.0, 3.0]}],
        "b": [{"label": "positive", "score": 0.8, "segment": [0.0, 0.5]}]}}))

    def average_map(*options: str) -> float:
        status = cli.main(["evaluate", "--predictions", str(tmp_path / "p.json"), "--ground-truth",
                           str(tmp_path / "gt.json"), "--json", *options])
        assert status == 0
        return json.loads(capsys.readouterr().out)["average_mAP"]

    assert average_map() == pytest.approx(0.5)  # a found, b missed
    assert average_map("--split", "test") == average_map("--subset", "testing") == pytest.approx(1.0)
    assert average_map("--split", "train") == pytest.approx(0.0)

    for options, said in (
        (["--split", "test", "--subset", "testing"], "error: evaluate: pass --split (train, validation or test) or "
                                                     "--subset (the ground truth's \"subset\" as written), not both"),
        (["--split", "dev"], "error: --split 'dev': a ground truth's splits are train, validation, test"),
        (["--split", "validation"], f"error: {tmp_path / 'gt.json'}: no video is in split 'validation' (subset "
                                    "'validation', 'val'); the subsets present: Training, testing"),
    ):
        status = cli.main(["evaluate", "--predictions", str(tmp_path / "p.json"), "--ground-truth",
                           str(tmp_path / "gt.json"), *options])
        printed = capsys.readouterr()
        assert status == 2 and printed.out == "" and printed.err.splitlines() == [printed.err.strip()], printed.err
        assert printed.err.startswith(said), printed.err
    status = cli.main(["evaluate", "--run", str(tmp_path / "no run"), "--subset", "test"])
    assert status == 2
    assert capsys.readouterr().err.strip() == ("error: evaluate: --subset filters a --ground-truth file; with --run "
                                               "pass --split")


@pytest.mark.parametrize(("predictions", "ground_truth", "said"), [
    (None, GROUND_TRUTH, "p.json: results file not found"),
    (b"not json", GROUND_TRUTH, "p.json: not valid JSON (Expecting value, line 1)"),
    (b"[]", GROUND_TRUTH, "p.json: holds a JSON list; expected an ActivityNet-style results file"),
    (b'{"results": {"caf\xe9": []}}', GROUND_TRUTH, "p.json: not UTF-8 (line 1); save the results file as UTF-8"),
    (results({"label": "positive", "score": 0.5, "segment": [3, 2]}), GROUND_TRUTH,
     "p.json: video 'a', result 0: segment [3.0, 2.0] must be [start, end] in seconds"),
    (b'{"results": {"a": [{"label": "positive", "score": NaN, "segment": [1, 2]}]}}', GROUND_TRUTH,
     "p.json: video 'a', result 0: 'score' must be a finite number, got nan"),
    (results({"label": "positive", "score": True, "segment": [1, 2]}), GROUND_TRUTH,
     "p.json: video 'a', result 0: 'score' must be a number, got True"),
    (results({"label": 1, "score": 0.5, "segment": [1, 2]}), GROUND_TRUTH,
     "p.json: video 'a', result 0: 'label' must be a string (a class name), got int 1"),
    (results({"label": ["positive"], "score": 0.5, "segment": [1, 2]}), GROUND_TRUTH,
     "p.json: video 'a', result 0: 'label' must be a string (a class name), got list ['positive']"),
    (results({"label": "positive", "score": 0.5, "segment": [1, None]}), GROUND_TRUTH,
     "p.json: video 'a', result 0: 'segment' must be [start, end] in seconds"),
    (results(), None, "gt.json: ground truth file not found"),
    (results(), b"{}", "gt.json: missing the 'database' object"),
    (results(), {"database": {"a": {"subset": "test", "annotations": [{"label": "positive", "segment": [1, "NaN"]}]}}},
     "gt.json: video 'a', annotation 0: segment [1.0, nan] must be"),
    (results(), {"database": {"a": {"subset": "test", "annotations": []}}},
     "gt.json: the 1 video(s) of subset 'test' have no annotated segments"),
])
def test_every_input_mistake_is_one_line_naming_the_file(tmp_path, capsys, predictions, ground_truth, said):
    for name, content in (("p.json", predictions), ("gt.json", ground_truth)):
        if content is not None:
            (tmp_path / name).write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    status = cli.main(["evaluate", "--predictions", str(tmp_path / "p.json"),
                       "--ground-truth", str(tmp_path / "gt.json"), "--subset", "test"])
    printed = capsys.readouterr()
    assert status == 2 and printed.out == ""
    assert printed.err.splitlines() == [printed.err.strip()], printed.err
    assert printed.err.startswith(f"error: {tmp_path}/"), printed.err
    assert said in printed.err


def test_results_or_ground_truth_nested_past_any_reader_are_not_valid_json(tmp_path):
    ground_truth = tmp_path / "gt.json"
    ground_truth.write_text(json.dumps({"database": {"v": {"subset": "test", "annotations": [
        {"label": "positive", "segment": [1.0, 2.0]}]}}}))
    deep = tmp_path / "deep.json"
    deep.write_text('{"results": {"v": ' + '{"a": ' * 150_000)
    for predictions, truth in ((deep, ground_truth), (ground_truth, deep)):
        with pytest.raises(Exception, match=r"deep.json: not valid JSON \(nested too deeply") as caught:
            evaluate_files(predictions, truth, None)
        assert not isinstance(caught.value, RecursionError)
