"""The `evaluate` stage: a trained run on a split, or any results file against any ground truth.

`evaluate --run RUN_DIR --split test --out preds.json` loads RUN_DIR/best.pt, reads the
features and annotations the run was trained on (RUN_DIR/run.json), localizes every video
of the split, writes ActivityNet-format results to --out and the figures beside them
(preds.metrics.json), and prints the report (pipeline/infer/metrics.py defines the figures).

Videos the split lists (the release's split file, the "subset" of an ActivityNet-style
segments file) whose features are missing are not dropped: their ground truth counts as
missed (no predictions), a warning names them, and the metrics JSON records them under
"missing_videos". Dropping them would score a model on the videos it could see and inflate
the figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from cache.atomic import atomic_write_json
from pipeline.config import config_to_dict
from pipeline.config.infer import InferConfig
from pipeline.console import random_weights_warning, to_stderr
from pipeline.data.activitynet import load_ground_truth, load_predictions, write_results
from pipeline.data.annotations import SUBSET_SPLITS
from pipeline.data.annotations.segments_json import read_subsets
from pipeline.data.release import is_release, split_file_name
from pipeline.data.samples import SentimentDataset
from pipeline.data.sources import load_dataset
from pipeline.devices import autocast_dtype
from pipeline.infer.checkpoint import load_trained_model
from pipeline.infer.metrics import EvaluationResult, evaluate_detections
from pipeline.infer.predict import ground_truth_of, predict_scores, segments_from_scores


class EvaluateError(Exception):
    """A run or split that cannot be evaluated as asked; the message says what to pass."""


def _run_info(run_dir: Path) -> dict:
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise EvaluateError(f"{run_dir}: no run.json; pass a folder written by `train --out`")
    return json.loads(info_path.read_text())


def _listed_ground_truth(features: Path, dataset: SentimentDataset, split: str) -> dict[str, list[dict] | None]:
    """Video id -> its ground truth (labels as `dataset.class_names` spell them; None when no
    segments file names the video) of every video the split lists: the release's split
    file and the videos of that subset in the ActivityNet-style segments files read."""
    listed: dict[str, list[dict] | None] = {}
    split_file = Path(features) / split_file_name(split) if is_release(Path(features)) else None
    if split_file is not None and split_file.is_file():
        listed.update(dict.fromkeys(split_file.read_text(encoding="utf-8").split()))
    def index_of(label: str) -> int | None:
        if dataset.vocabulary is not None:
            return dataset.vocabulary.index_of(label)
        return dataset.class_names.index(label) if label in dataset.class_names else None

    for path in dataset.annotation_files.get("segments", []):
        if not str(path).lower().endswith(".json"):
            continue  # CSV segments carry no split
        subsets = read_subsets(path)
        truth = load_ground_truth(path)
        for video_id, raw_subset in subsets.items():
            if SUBSET_SPLITS.get(str(raw_subset).strip().lower()) != split:
                continue
            indices = [index_of(entry["label"]) for entry in truth.get(video_id, [])]
            listed[video_id] = [
                {"label": dataset.class_names[index], "segment": entry["segment"]}
                for entry, index in zip(truth.get(video_id, []), indices, strict=True) if index is not None
            ]
    return listed


def missing_ground_truth(features: Path, dataset: SentimentDataset, split: str) -> dict[str, list[dict]]:
    """Ground truth of the videos `split` lists whose features were not read (video id ->
    [{"label", "segment"}], empty when no segments file has the video)."""
    listed = _listed_ground_truth(features, dataset, split)
    return {video_id: truth or [] for video_id, truth in sorted(listed.items()) if video_id not in dataset.samples}


def _missing_record(missing: dict[str, list[dict]], split: str, log) -> dict:
    """The metrics JSON's "missing_videos" entry, and one warning line when there are any."""
    segments = sum(len(entries) for entries in missing.values())
    if missing:
        names = ", ".join(list(missing)[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        log(f"warning: {len(missing)} {split} video(s) listed but not loaded (features "
            f"missing or unreadable: {names}); "
            f"their {segments} ground-truth segment(s) count as missed")
    return {"count": len(missing), "ground_truth_segments": segments, "video_ids": list(missing)}


def evaluate_run(run_dir: Path, split: str, out: Path, device: str, checkpoint: str = "best.pt", log=to_stderr,
                 postprocess_overrides: dict | None = None, record_in_run: bool = True,
                 infer: InferConfig | None = None) -> EvaluationResult:
    """Localize and score the videos of `split` with RUN_DIR's checkpoint; results to `out`,
    figures to out.metrics.json and (record_in_run) RUN_DIR/eval_<split>.json
    (eval_<split>_<stem>.json for another checkpoint than best.pt, e.g. refit.pt).
    postprocess_overrides: post-processing settings over the checkpoint's (said in the log);
    infer: how the model runs here (this machine's `infer` section; default: its defaults)."""
    run_dir = Path(run_dir)
    info = _run_info(run_dir)
    trained = load_trained_model(run_dir / checkpoint, device, postprocess_overrides, infer)
    for note in trained.notes:
        log(note)
    dataset = load_dataset(Path(info["features"]), trained.config.data,
                           Path(info["annotations"]) if info["annotations"] else None)
    trained.feature_spec.check_features(dataset.feature_spec)
    if trained.feature_spec.random_weights:
        log(random_weights_warning(trained.feature_spec.random_weight_streams))
    video_ids = dataset.splits.get(split)
    if not video_ids:
        raise EvaluateError(f"split '{split}' is empty or unknown; splits here: "
                            f"{', '.join(k for k, v in dataset.splits.items() if v)}")
    amp = autocast_dtype(trained.config.infer.amp_dtype, device, "infer.amp_dtype")
    scores = predict_scores(trained.model, dataset.samples, video_ids, device, trained.config.postprocess,
                            trained.config.infer.batch_size, amp)
    predictions = segments_from_scores(scores, dataset.samples, trained.config.postprocess, trained.class_names)
    missing = missing_ground_truth(Path(info["features"]), dataset, split)
    ground_truth = {**ground_truth_of(dataset.samples, video_ids, trained.class_names), **missing}
    if not any(ground_truth.values()):
        raise EvaluateError(f"split '{split}': its {len(ground_truth)} video(s) have no ground-truth segments; nothing "
                            "to evaluate; give them segments (docs/formats.md: a segments JSON whose videos have "
                            f"\"subset\": \"{split}\")")
    result = evaluate_detections(predictions, ground_truth, labels=trained.class_names)
    out = Path(out)
    provenance = {"run": str(run_dir.resolve()), "split": split, "checkpoint": checkpoint,
                  "postprocess": config_to_dict(trained.config)["postprocess"]}
    write_results(out, predictions, external_data=provenance)
    metrics = {**provenance, "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "missing_videos": _missing_record(missing, split, log), **result.to_json()}
    atomic_write_json(out.with_suffix(".metrics.json"), metrics)
    if record_in_run:
        suffix = "" if checkpoint == "best.pt" else f"_{Path(checkpoint).stem}"  # refit.pt -> eval_test_refit.json
        atomic_write_json(run_dir / f"eval_{split}{suffix}.json", metrics)
    return result


def _ground_truth_of_split(path: Path, split: str) -> dict[str, list[dict]]:
    """The ground truth of the videos whose "subset" names `split` as `evaluate --run` reads
    subsets (SUBSET_SPLITS: "test" or "testing", ...); EvaluateError for another split or
    when no video is in it."""
    splits = tuple(dict.fromkeys(SUBSET_SPLITS.values()))
    if split not in splits:
        raise EvaluateError(f"--split {split!r}: a ground truth's splits are {', '.join(splits)} (its videos' "
                            "\"subset\"); pass one of them, or --subset as the file writes it")
    truth = load_ground_truth(path)
    subsets = read_subsets(path)
    kept = {video: entries for video, entries in truth.items()
            if SUBSET_SPLITS.get(str(subsets.get(video)).strip().lower()) == split}
    if not kept:
        present = ", ".join(sorted({str(subset) for subset in subsets.values()}))
        spellings = ", ".join(repr(name) for name, value in SUBSET_SPLITS.items() if value == split)
        raise EvaluateError(f"{path}: no video is in split {split!r} (subset {spellings}); the subsets present: "
                            f"{present}")
    return kept


def evaluate_files(predictions: Path, ground_truth: Path, subset: str | None,
                   split: str | None = None) -> EvaluationResult:
    """Score an ActivityNet results file against an ActivityNet-style ground truth: its
    videos of `subset` (the "subset" value as written), or of `split` (train, validation or
    test, as `evaluate --run` reads subsets: "testing" is test), None: all; not both. A file
    that cannot be read is an ActivityNetFileError, a ground truth without segments an
    EvaluateError (one line each). Classes predicted but absent from the ground truth are
    reported as not scored."""
    if subset is not None and split is not None:
        raise EvaluateError("evaluate: pass --split (train, validation or test) or --subset (the ground truth's "
                            "\"subset\" as written), not both")
    if split is not None:
        truth = _ground_truth_of_split(ground_truth, split)
    else:
        truth = load_ground_truth(ground_truth, subset)
    if not any(truth.values()):
        option, value = ("--split", split) if split is not None else ("--subset", subset)
        where = (f"the {len(truth)} video(s) of {option[2:]} {value!r}" if value is not None
                 else f"its {len(truth)} video(s)")
        raise EvaluateError(f"{ground_truth}: {where} have no annotated segments; nothing to evaluate; pass a "
                            "ground truth with segments" + (f" or another {option}" if value is not None else ""))
    found = load_predictions(predictions)
    labels = {entry["label"] for entries in [*truth.values(), *found.values()] for entry in entries}
    return evaluate_detections(found, truth, labels=sorted(labels))
