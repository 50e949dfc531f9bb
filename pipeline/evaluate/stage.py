"""The `evaluate` stage: a trained run on a split, or any results file against any ground truth.

`evaluate --run RUN_DIR --split test --out preds.json` loads RUN_DIR/best.pt, reads the
features and annotations the run was trained on (RUN_DIR/run.json), localizes every video
of the split, writes ActivityNet-format results to --out and the figures beside them
(preds.metrics.json), and prints the report (pipeline/infer/metrics.py defines the figures).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from cache.atomic import atomic_write_json
from pipeline.console import to_stderr
from pipeline.data.samples import load_dataset
from pipeline.infer.metrics import EvaluationResult, evaluate_detections, load_ground_truth, load_predictions
from pipeline.infer.checkpoint import CheckpointError, load_trained_model, predict_cas, segments_from_cas
from pipeline.train.stage import RunError, autocast_dtype


def check_feature_spec(trained: dict, found: dict) -> None:
    """Refuse features made differently from those the model was trained on."""
    for stream, width in trained["streams"].items():
        if stream not in found["streams"]:
            raise CheckpointError(f"the features lack stream '{stream}' the model was trained on; extract it first")
        if found["streams"][stream] != width:
            raise CheckpointError(
                f"stream '{stream}' is {found['streams'][stream]}-d here, the model was trained on {width}-d features"
            )
        trained_identity = trained.get("extractors", {}).get(stream)
        found_identity = found.get("extractors", {}).get(stream)
        if trained_identity is not None and found_identity is not None and trained_identity != found_identity:
            raise CheckpointError(
                f"stream '{stream}' was extracted with another extractor config or weights than the model's "
                "training features; re-extract with the checkpoint's settings"
            )
    if trained.get("snippet_seconds") and found.get("snippet_seconds") and trained["snippet_seconds"] != found["snippet_seconds"]:
        raise CheckpointError(
            f"the features use {found['snippet_seconds']} s snippets, the model {trained['snippet_seconds']} s; "
            "re-extract with the model's grid"
        )


def write_results(path: Path, results: dict[str, list[dict]], extra: dict | None = None) -> None:
    atomic_write_json(
        Path(path),
        {"version": "fsenet", "results": results, "external_data": {"used": False, **(extra or {})}},
    )


def evaluate_run(run_dir: Path, split: str, out: Path, device: str, checkpoint: str = "best.pt", log=to_stderr) -> EvaluationResult:
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise RunError(f"{run_dir}: no run.json; pass a folder written by `train --out`")
    info = json.loads(info_path.read_text())
    trained = load_trained_model(run_dir / checkpoint, device)
    dataset = load_dataset(Path(info["features"]), trained.config.data, Path(info["annotations"]) if info["annotations"] else None)
    check_feature_spec(trained.feature_spec, dataset.feature_spec)
    if trained.feature_spec.get("random_weights"):
        log("warning: this model was trained on features from RANDOM extractor weights")
    video_ids = dataset.splits.get(split)
    if not video_ids:
        raise RunError(f"split '{split}' is empty or unknown; splits here: {', '.join(k for k, v in dataset.splits.items() if v)}")
    cas = predict_cas(trained.model, dataset.samples, video_ids, device, trained.config.train.batch_size,
                      autocast_dtype(trained.config.train, device))
    predictions = segments_from_cas(cas, dataset.samples, trained.config, trained.class_names)
    ground_truth = {
        video_id: [
            {"label": trained.class_names[int(c)], "segment": [float(s), float(e)]}
            for s, e, c in dataset.samples[video_id].segments
        ]
        for video_id in video_ids
    }
    result = evaluate_detections(predictions, ground_truth, labels=trained.class_names)
    out = Path(out)
    write_results(out, predictions, {"run": str(run_dir.resolve()), "split": split, "checkpoint": checkpoint})
    metrics = {"run": str(run_dir.resolve()), "split": split, "checkpoint": checkpoint,
               "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result.to_json()}
    atomic_write_json(out.with_suffix(".metrics.json"), metrics)
    atomic_write_json(run_dir / f"eval_{split}.json", metrics)
    return result


def evaluate_files(predictions: Path, ground_truth: Path, subset: str | None) -> EvaluationResult:
    truth = load_ground_truth(ground_truth, subset)
    found = load_predictions(predictions)
    return evaluate_detections(found, truth)
