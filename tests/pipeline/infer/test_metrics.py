"""Tests for pipeline/infer/metrics.py: ActivityNet mAP and TSL-300's Recall / Precision / F2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.activitynet import load_ground_truth, load_predictions
from pipeline.infer.metrics import DEFAULT_TIOU_THRESHOLDS, evaluate_detections, format_report

TSL300_GT = Path(__file__).resolve().parents[3].parent / "shared" / "tsl300" / "gt.json"


# -- an independent reference, written as plain loops -----------------------------------
def _tiou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def reference_evaluate(predictions: dict, ground_truth: dict, thresholds) -> dict:
    """ActivityNet AP + TSL-300 curve means, as loops over Python lists.

    Matching: a prediction takes the not-yet-taken ground truth of its class in its video
    with the highest tIoU, if that tIoU reaches the threshold. AP: every true positive
    adds 1/N_gt of recall, weighted by the best precision at that rank or later (the VOC
    envelope). TSL-300 recall/precision: averages of the running recall/precision.
    """
    labels = sorted({a["label"] for anns in ground_truth.values() for a in anns})
    out = {"ap": [], "recall": [], "precision": [], "final_recall": []}
    for thr in thresholds:
        ap_row, rec_row, prec_row, final_row = [], [], [], []
        for label in labels:
            gts = [(v, tuple(a["segment"])) for v, anns in ground_truth.items() for a in anns if a["label"] == label]
            preds = [
                (p["score"], v, tuple(p["segment"]))
                for v, ps in predictions.items()
                for p in ps
                if p["label"] == label
            ]
            preds = sorted(preds, key=lambda item: -item[0])
            taken = set()
            hits = []
            for _, video, segment in preds:
                best, best_iou = None, -1.0
                for g, (gv, gs) in enumerate(gts):
                    if gv != video or g in taken:
                        continue
                    iou = _tiou(segment, gs)
                    if iou > best_iou:
                        best, best_iou = g, iou
                if best is not None and best_iou >= thr:
                    taken.add(best)
                    hits.append(1)
                else:
                    hits.append(0)
            n_gt = len(gts)
            running_tp, precisions, recalls = 0, [], []
            for rank, hit in enumerate(hits, start=1):
                running_tp += hit
                precisions.append(running_tp / rank)
                recalls.append(running_tp / n_gt)
            ap = 0.0
            for j, hit in enumerate(hits):
                if hit:
                    ap += max(precisions[j:]) / n_gt
            ap_row.append(ap)
            rec_row.append(sum(recalls) / len(recalls) if recalls else 0.0)
            prec_row.append(sum(precisions) / len(precisions) if precisions else 0.0)
            final_row.append(recalls[-1] if recalls else 0.0)
        out["ap"].append(ap_row)
        out["recall"].append(sum(rec_row) / len(rec_row))
        out["precision"].append(sum(prec_row) / len(prec_row))
        out["final_recall"].append(sum(final_row) / len(final_row))
    P, R = np.array(out["precision"]), np.array(out["recall"])
    out["f2"] = [5 * p * r / (4 * p + r) if 4 * p + r > 0 else 0.0 for p, r in zip(P, R, strict=True)]
    out["labels"] = labels
    return out


def random_case(seed: int) -> tuple[dict, dict]:
    """Random ground truth and predictions: jittered copies of ground truth (varied tIoU),
    duplicates, random false alarms, a video with predictions but no ground truth, a
    ground-truth video with no segments, and a class ('x') with ground truth only."""
    rng = np.random.default_rng(seed)
    ground_truth, predictions = {}, {}
    for v in range(12):
        video = f"video_{v}"
        duration = float(rng.uniform(60, 300))
        anns = []
        for _ in range(int(rng.integers(0 if v == 3 else 1, 6))):
            start = float(rng.uniform(0, duration - 20))
            anns.append({"label": str(rng.choice(["n", "p"])), "segment": [start, start + float(rng.uniform(2, 20))]})
        if v % 4 == 1:
            start = float(rng.uniform(0, duration - 10))
            anns.append({"label": "x", "segment": [start, start + 8.0]})
        ground_truth[video] = anns
        preds = []
        for ann in anns:
            if ann["label"] == "x":
                continue  # class x never predicted
            for _ in range(int(rng.integers(0, 3))):
                s, e = ann["segment"]
                length = e - s
                shift = float(rng.normal(0, 0.4 * length))
                stretch = float(rng.uniform(0.5, 1.6))
                label = ann["label"] if rng.random() < 0.85 else ("p" if ann["label"] == "n" else "n")
                preds.append({"label": label, "score": float(rng.random()),
                              "segment": [s + shift, s + shift + length * stretch]})
        for _ in range(int(rng.integers(0, 5))):
            start = float(rng.uniform(0, duration))
            preds.append({"label": str(rng.choice(["n", "p"])), "score": float(rng.random()),
                          "segment": [start, start + float(rng.uniform(1, 30))]})
        predictions[video] = preds
    predictions["video_without_ground_truth"] = [
        {"label": str(rng.choice(["n", "p"])), "score": float(rng.random()), "segment": [float(s), float(s) + 5.0]}
        for s in rng.uniform(0, 100, size=6)
    ]
    return predictions, ground_truth


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_matches_independent_reference_on_random_predictions(seed):
    predictions, ground_truth = random_case(seed)
    result = evaluate_detections(predictions, ground_truth)
    reference = reference_evaluate(predictions, ground_truth, DEFAULT_TIOU_THRESHOLDS)

    assert list(result.labels) == reference["labels"] == ["n", "p", "x"]
    np.testing.assert_allclose(result.class_average_precision, np.array(reference["ap"]), atol=1e-6)
    np.testing.assert_allclose(result.mean_average_precision, np.array(reference["ap"]).mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(result.tsl_recall, reference["recall"], atol=1e-6)
    np.testing.assert_allclose(result.tsl_precision, reference["precision"], atol=1e-6)
    np.testing.assert_allclose(result.tsl_f2, reference["f2"], atol=1e-6)
    np.testing.assert_allclose(result.final_recall, reference["final_recall"], atol=1e-6)
    assert result.tsl_recall_avg == pytest.approx(np.mean(reference["recall"]), abs=1e-6)
    assert result.tsl_f2_avg == pytest.approx(np.mean(reference["f2"]), abs=1e-6)
    assert result.average_map == pytest.approx(np.mean(reference["ap"]), abs=1e-6)
    # The case really exercises the edge cases: class x has no predictions (AP 0), the
    # extra video's predictions are false positives, and matching is not trivial.
    x = result.labels.index("x")
    assert np.all(result.class_average_precision[:, x] == 0) and result.num_predictions[x] == 0
    assert result.predictions_without_ground_truth_video == 6
    assert 0 < result.average_map < 1
    assert result.mean_average_precision[0] >= result.mean_average_precision[-1]


def test_hand_computed_tiny_case():
    ground_truth = {"a": [{"label": "p", "segment": [0, 10]}, {"label": "p", "segment": [20, 30]}]}
    predictions = {
        "a": [
            {"label": "p", "score": 0.9, "segment": [0, 10]},  # TP
            {"label": "p", "score": 0.85, "segment": [0, 9]},  # duplicate of a taken one: FP
            {"label": "p", "score": 0.7, "segment": [20, 25]},  # tIoU 0.5 with [20, 30]
        ],
        "elsewhere": [{"label": "p", "score": 0.8, "segment": [0, 10]}],  # no ground truth: FP
    }
    result = evaluate_detections(predictions, ground_truth, tiou_thresholds=(0.5, 0.6))
    # Ranked: 0.9 TP, 0.85 FP, 0.8 FP, 0.7 (TP at 0.5, FP at 0.6).
    # tIoU 0.5: precision 1, 1/2, 1/3, 2/4; recall 1/2, 1/2, 1/2, 1.
    #   AP = 1/2 * 1 + 1/2 * 1/2 = 0.75; mean recall = 2.5/4; mean precision = (1 + .5 + 1/3 + .5)/4.
    # tIoU 0.6: precision 1, 1/2, 1/3, 1/4; recall 1/2 each. AP = 0.5.
    np.testing.assert_allclose(result.class_average_precision[:, 0], [0.75, 0.5])
    np.testing.assert_allclose(result.tsl_recall, [2.5 / 4, 0.5])
    np.testing.assert_allclose(result.tsl_precision, [(1 + 0.5 + 1 / 3 + 0.5) / 4, (1 + 0.5 + 1 / 3 + 0.25) / 4])
    p, r = (1 + 0.5 + 1 / 3 + 0.5) / 4, 2.5 / 4
    assert result.tsl_f2[0] == pytest.approx(5 * p * r / (4 * p + r))
    np.testing.assert_allclose(result.final_recall, [1.0, 0.5])
    assert result.average_map == pytest.approx(0.625)


def test_class_without_predictions_counts_zero_and_declared_class_without_ground_truth_is_not_scored():
    ground_truth = {"a": [{"label": "p", "segment": [0, 10]}, {"label": "n", "segment": [20, 30]}]}
    predictions = {"a": [{"label": "p", "score": 0.5, "segment": [0, 10]},
                         {"label": "q", "score": 0.9, "segment": [20, 30]}]}
    with pytest.raises(ValueError, match="'q'"):
        evaluate_detections(predictions, ground_truth)
    result = evaluate_detections(predictions, ground_truth, labels=["p", "n", "q"])
    assert result.labels == ("p", "n") and result.labels_without_ground_truth == ("q",)
    np.testing.assert_allclose(result.class_average_precision, [[1.0, 0.0]] * 5)
    np.testing.assert_allclose(result.mean_average_precision, 0.5)
    assert result.tsl_f2[0] == pytest.approx(5 * 0.5 * 0.5 / (4 * 0.5 + 0.5))
    assert "not scored: q" in format_report(result)


def test_no_matches_gives_zero_f2_not_nan():
    ground_truth = {"a": [{"label": "p", "segment": [0, 10]}]}
    result = evaluate_detections({"a": [{"label": "p", "score": 1.0, "segment": [50, 60]}]}, ground_truth)
    assert np.all(result.tsl_f2 == 0) and result.average_map == 0


def test_rejects_malformed_entries():
    ground_truth = {"a": [{"label": "p", "segment": [0, 10]}]}
    with pytest.raises(ValueError, match="end >= start"):
        evaluate_detections({"a": [{"label": "p", "score": 1.0, "segment": [5, 1]}]}, ground_truth)
    with pytest.raises(ValueError, match="score"):
        evaluate_detections({"a": [{"label": "p", "segment": [0, 1]}]}, ground_truth)
    with pytest.raises(ValueError, match="no annotated segments"):
        evaluate_detections({}, {"a": []})


def test_files_round_trip_and_report(tmp_path):
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps({"database": {
        "a": {"subset": "test", "annotations": [{"label": "p", "segment": ["1.5", "4.0"]}]},
        "b": {"subset": "train", "annotations": [{"label": "n", "segment": [0, 3]}]},
        "c": {"subset": "test", "annotations": []},
    }}))
    results_file = tmp_path / "preds.json"
    results_file.write_text(json.dumps({"version": "VERSION 1.3", "results": {
        "a": [{"label": "p", "score": 0.9, "segment": [1.5, 4.0]}],
        "b": [{"label": "p", "score": 0.95, "segment": [0, 3]}],
    }, "external_data": {}}))
    ground_truth = load_ground_truth(gt_file, subset="test")
    assert ground_truth == {"a": [{"label": "p", "segment": [1.5, 4.0]}], "c": []}
    with pytest.raises(ValueError, match="subsets present: test, train"):
        load_ground_truth(gt_file, subset="validation")
    predictions = load_predictions(results_file)
    result = evaluate_detections(predictions, ground_truth)
    # b is not in the test subset, so its higher-scored prediction is a false positive.
    assert result.predictions_without_ground_truth_video == 1
    assert result.mean_average_precision[0] == pytest.approx(0.5)
    report = format_report(result)
    for text in ("mAP", "AP p", "Recall (TSL-300)", "F2", "Final recall", "0.10", "AVG", "50.00"):
        assert text in report
    data = json.loads(json.dumps(result.to_json()))
    assert data["mAP"]["0.10"] == pytest.approx(0.5) and data["AP"]["p"]["0.30"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'results'"):
        load_predictions(gt_file)


@pytest.mark.skipif(not TSL300_GT.exists(), reason="../shared/tsl300/gt.json not present")
def test_tsl300_ground_truth_perfect_predictions():
    ground_truth = load_ground_truth(TSL300_GT, subset="test")
    assert len(ground_truth) == 100
    assert sum(len(anns) for anns in ground_truth.values()) == 584
    predictions = {
        video: [{"label": a["label"], "score": 1.0, "segment": list(a["segment"])} for a in anns]
        for video, anns in ground_truth.items()
    }
    result = evaluate_detections(predictions, ground_truth)
    assert result.labels == ("n", "p") and result.num_ground_truth == (232, 352)
    np.testing.assert_allclose(result.mean_average_precision, 1.0)
    np.testing.assert_allclose(result.final_recall, 1.0)
    np.testing.assert_allclose(result.tsl_precision, 1.0)
    # TSL-300's "Recall" is the mean of the recall curve: (N + 1) / (2 N) per class here,
    # about one half even for perfect predictions (not the conventional recall).
    expected_recall = np.mean([(n + 1) / (2 * n) for n in (232, 352)])
    np.testing.assert_allclose(result.tsl_recall, expected_recall)
