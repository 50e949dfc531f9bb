"""Evaluation of temporal detections: ActivityNet mAP and TSL-300's Recall / Precision / F2.

Definitions (verified against the reference code, read not copied):
- ActivityNet, `activitynet/ActivityNet` `Evaluation/eval_detection.py`
  (`compute_average_precision_detection`, `ANETdetection`) and `Evaluation/utils.py`
  (`segment_iou`, `interpolated_prec_rec`);
- TSL-300, `nku-zhichengzhang/TSL300` `eval/eval_detection.py` (ActivityNet's code with
  precision and recall added) and `test_all.py` / `utils.py` (`save_best_record`);
  FSENet's `CeilingHan/FSENet` `core/eval/eval_detection.py` is the same file.

Per class c (the classes are those with ground truth; ActivityNet builds its class index
from the ground truth only) and per tIoU threshold:
1. All predictions of class c, over all videos, are ranked by score, highest first
   (ties broken as ActivityNet does: `np.argsort(scores)[::-1]` on the predictions in
   input order, videos in dict order).
2. Greedy matching, in rank order: a prediction is a true positive when, among the
   class-c ground truth of *its own* video taken in decreasing tIoU order, the first one
   not yet matched at this threshold has tIoU >= threshold; that one is then locked.
   Otherwise (no ground truth of class c in that video, or every candidate with
   tIoU >= threshold already taken) it is a false positive. Predictions in videos with
   no ground truth at all therefore count as false positives.
3. Cumulative curves over the ranked list (i = 1..P): recall_i = TP_i / N_gt,
   precision_i = TP_i / i.
4. AP: VOC-2011 interpolated area. Precision is padded with 0 at both ends, recall with
   0 and 1, the precision is replaced by its running maximum from the right (the
   envelope), and AP = sum over points where recall changes of
   (recall_j - recall_{j-1}) * envelope_j.
5. TSL-300 "Rc" and precision: the MEAN of the cumulative recall (precision) curve over
   the P ranked predictions (`np.mean(recall_cumsum, axis=1)`), not the value at the
   end. These are averaged over classes per tIoU, then F2 = 5 P R / (4 P + R) per tIoU
   from the class-averaged P and R; "Rc@AVG" and "F2@AVG" are the plain means of the
   per-tIoU values (`save_best_record`). Being a curve mean, this Recall depends on the
   length and ordering of the ranked list, so it is not the conventional recall.
6. Conventional final recall, reported beside it: recall at the end of the ranked list,
   TP_P / N_gt, averaged over classes.

Edge cases, and where this module decides what the reference code leaves open:
- A class with ground truth but no predictions: AP 0 (ActivityNet returns zeros for an
  empty prediction frame); its mean recall and mean precision are 0 too. TSL-300's copy
  returns only the AP array in that case and its caller, which unpacks three values,
  fails; we take the natural zeros.
- F2 with P = R = 0: 0 (the authors' expression gives 0/0 = NaN).
- Labels: by default the classes are the ground truth's labels (sorted); a prediction
  with a label outside them is an error (ActivityNet raises KeyError). Passing `labels`
  declares the classes; a declared class with no ground truth is listed in
  `labels_without_ground_truth` and left out of every mean (AP is undefined without
  ground truth; ActivityNet never sees such a class).
- tIoU of two empty segments (zero union) is 0 (ActivityNet's division gives NaN, which
  its `<` test would then treat as a match).
- Bookkeeping note from reading the authors' code: their ActivityNet class index is built
  in ground-truth order, and TSL-300's gt.json lists a 'p' segment first, so the columns
  they log as "nAP" and "pAP" (cAP[0], cAP[1]) are in fact p and n. Here every per-class
  figure is keyed by its label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.data.activitynet import label_of, segment_of

DEFAULT_TIOU_THRESHOLDS: tuple[float, ...] = (0.1, 0.15, 0.2, 0.25, 0.3)

Detections = Mapping[str, Sequence[Mapping]]  # video id -> [{"label", "segment": [start, end], ("score")}]


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Every figure of one evaluation. Arrays are (K,) per tIoU or (K, C) per tIoU and class,
    columns in the order of `labels`; fractions in [0, 1] (format_report prints percent)."""

    labels: tuple[str, ...]  # the scored classes (those with ground truth)
    tiou_thresholds: tuple[float, ...]
    class_average_precision: np.ndarray  # (K, C) ActivityNet interpolated AP
    mean_average_precision: np.ndarray  # (K,) mAP per tIoU
    average_map: float  # mean of mAP over the tIoUs
    class_tsl_recall: np.ndarray  # (K, C) mean of the cumulative recall curve
    class_tsl_precision: np.ndarray  # (K, C) mean of the cumulative precision curve
    tsl_recall: np.ndarray  # (K,) class-averaged mean recall (TSL-300's "Rc")
    tsl_precision: np.ndarray  # (K,) class-averaged mean precision
    tsl_f2: np.ndarray  # (K,) 5PR / (4P + R) from the two above
    tsl_recall_avg: float  # "Recall@AVG": mean of tsl_recall over the tIoUs
    tsl_f2_avg: float  # "F2@AVG": mean of tsl_f2 over the tIoUs
    class_final_recall: np.ndarray  # (K, C) conventional recall at the end of the ranked list
    final_recall: np.ndarray  # (K,) class-averaged conventional final recall
    num_ground_truth: tuple[int, ...]  # per scored class
    num_predictions: tuple[int, ...]  # per scored class
    num_videos: int  # videos in the ground truth (including any without segments)
    predictions_without_ground_truth_video: int = 0  # predictions in videos absent from the ground truth
    labels_without_ground_truth: tuple[str, ...] = field(default_factory=tuple)  # declared, not scored

    def to_json(self) -> dict:
        """A plain-JSON dict of every figure (fractions, not percent), keyed by tIoU and label."""
        keys = [f"{t:.2f}" for t in self.tiou_thresholds]

        def per_tiou(values: np.ndarray) -> dict:
            return {key: float(value) for key, value in zip(keys, values, strict=True)}

        def per_class(values: np.ndarray) -> dict:
            return {label: per_tiou(values[:, c]) for c, label in enumerate(self.labels)}

        return {
            "tiou_thresholds": [float(t) for t in self.tiou_thresholds],
            "labels": list(self.labels),
            "mAP": per_tiou(self.mean_average_precision),
            "average_mAP": float(self.average_map),
            "AP": per_class(self.class_average_precision),
            "class_average_AP": {
                label: float(self.class_average_precision[:, c].mean()) for c, label in enumerate(self.labels)
            },
            "tsl_recall": per_tiou(self.tsl_recall),
            "tsl_precision": per_tiou(self.tsl_precision),
            "tsl_f2": per_tiou(self.tsl_f2),
            "tsl_recall_avg": float(self.tsl_recall_avg),
            "tsl_f2_avg": float(self.tsl_f2_avg),
            "class_tsl_recall": per_class(self.class_tsl_recall),
            "class_tsl_precision": per_class(self.class_tsl_precision),
            "final_recall": per_tiou(self.final_recall),
            "final_recall_avg": float(self.final_recall.mean()),
            "class_final_recall": per_class(self.class_final_recall),
            "num_ground_truth": dict(zip(self.labels, self.num_ground_truth, strict=True)),
            "num_predictions": dict(zip(self.labels, self.num_predictions, strict=True)),
            "num_videos": self.num_videos,
            "predictions_without_ground_truth_video": self.predictions_without_ground_truth_video,
            "labels_without_ground_truth": list(self.labels_without_ground_truth),
            "definitions": {
                "AP": "ActivityNet interpolated AP (VOC 2011), greedy matching of score-ranked predictions",
                "tsl_recall": "TSL-300 code: mean over the ranked predictions of the cumulative "
                              "recall, averaged over classes",
                "tsl_precision": "TSL-300 code: mean over the ranked predictions of the cumulative "
                                 "precision, averaged over classes",
                "tsl_f2": "5 P R / (4 P + R) from tsl_precision and tsl_recall",
                "final_recall": "conventional recall at the end of the ranked list, averaged over classes",
            },
        }


# -- matching and curves ----------------------------------------------------------------
def segment_tiou(segment: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Temporal IoU of one segment (2,) [start, end] against others (M, 2) (seconds).

    Computed in the same floating-point order as ActivityNet's `segment_iou`; a zero
    union gives 0. Returns (M,) float64.
    """
    intersection = (np.minimum(segment[1], others[:, 1]) - np.maximum(segment[0], others[:, 0])).clip(0)
    union = (others[:, 1] - others[:, 0]) + (segment[1] - segment[0]) - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def match_class_predictions(
    video_ids: Sequence[str],
    segments: np.ndarray,
    scores: np.ndarray,
    ground_truth_by_video: Mapping[str, np.ndarray],
    tiou_thresholds: np.ndarray,
) -> np.ndarray:
    """True-positive flags of one class's predictions, ranked by score.

    video_ids: (P,) video of each prediction; segments: (P, 2) seconds; scores: (P,);
    ground_truth_by_video: video -> (M, 2) seconds of this class's ground truth there;
    tiou_thresholds: (K,). Returns (K, P) bool over the ranked predictions (rank order
    `np.argsort(scores)[::-1]`, ActivityNet's).
    """
    order = np.argsort(scores)[::-1]
    true_positive = np.zeros((tiou_thresholds.size, order.size), dtype=bool)
    taken = {video: np.zeros((tiou_thresholds.size, len(gt)), dtype=bool)
             for video, gt in ground_truth_by_video.items()}
    for rank, index in enumerate(order):
        video = video_ids[index]
        candidates = ground_truth_by_video.get(video)
        if candidates is None or len(candidates) == 0:
            continue  # false positive at every threshold
        tiou = segment_tiou(segments[index], candidates)
        by_overlap = tiou.argsort()[::-1]
        eligible = (tiou[by_overlap][None, :] >= tiou_thresholds[:, None]) & ~taken[video][:, by_overlap]
        matched = eligible.any(axis=1)
        rows = np.flatnonzero(matched)
        taken[video][rows, by_overlap[eligible.argmax(axis=1)[rows]]] = True
        true_positive[rows, rank] = True
    return true_positive


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC-2011 interpolated AP of one ranked list: area under the precision envelope.

    precision, recall: (P,) cumulative curves. Pads precision with 0 at both ends and
    recall with 0 and 1, takes the running maximum of precision from the right, and sums
    (recall step) * envelope where recall changes.
    """
    padded_precision = np.concatenate([[0.0], precision, [0.0]])
    padded_recall = np.concatenate([[0.0], recall, [1.0]])
    envelope = np.maximum.accumulate(padded_precision[::-1])[::-1]
    changes = np.flatnonzero(padded_recall[1:] != padded_recall[:-1]) + 1
    return float(np.sum((padded_recall[changes] - padded_recall[changes - 1]) * envelope[changes]))


@dataclass(frozen=True)
class ClassCurves:
    """Per-tIoU figures of one class: each (K,)."""

    average_precision: np.ndarray
    mean_recall: np.ndarray  # mean of the cumulative recall curve (TSL-300)
    mean_precision: np.ndarray  # mean of the cumulative precision curve (TSL-300)
    final_recall: np.ndarray  # recall at the end of the ranked list


def class_curves(true_positive: np.ndarray, num_ground_truth: int) -> ClassCurves:
    """AP, TSL-300 mean recall/precision and final recall from ranked TP flags (K, P).

    num_ground_truth >= 1. An empty ranked list (P = 0) gives zeros everywhere.
    """
    num_thresholds, num_predictions = true_positive.shape
    if num_predictions == 0:
        zeros = np.zeros(num_thresholds)
        return ClassCurves(zeros, zeros.copy(), zeros.copy(), zeros.copy())
    tp_cumulative = np.cumsum(true_positive, axis=1, dtype=np.float64)
    recall = tp_cumulative / float(num_ground_truth)
    precision = tp_cumulative / np.arange(1, num_predictions + 1, dtype=np.float64)
    average_precision = np.array(
        [interpolated_average_precision(precision[k], recall[k]) for k in range(num_thresholds)]
    )
    return ClassCurves(average_precision, recall.mean(axis=1), precision.mean(axis=1), recall[:, -1].copy())


def f2_score(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """F2 = 5 P R / (4 P + R) elementwise; 0 where 4 P + R = 0."""
    denominator = 4.0 * precision + recall
    return np.divide(5.0 * precision * recall, denominator, out=np.zeros_like(denominator, dtype=np.float64),
                     where=denominator > 0)


# -- the evaluation ---------------------------------------------------------------------
def _ground_truth_rows(ground_truth: Detections) -> list[tuple[str, str, float, float]]:
    """(video, label, start s, end s) of every ground-truth segment, validated, in file order."""
    rows = []
    for video, entries in ground_truth.items():
        for n, entry in enumerate(entries):
            where = f"ground truth of video {video!r}, entry {n}"
            rows.append((str(video), label_of(entry, where), *segment_of(entry, where)))
    if not rows:
        raise ValueError("the ground truth has no annotated segments; nothing to evaluate")
    return rows


def _declared_labels(labels: Sequence[str] | None, gt_labels: set[str]) -> tuple[str, ...]:
    """The classes in report order: `labels` (checked against the ground truth), else the ground truth's, sorted."""
    if labels is None:
        return tuple(sorted(gt_labels))
    declared = tuple(str(label) for label in labels)
    if len(set(declared)) != len(declared):
        raise ValueError(f"labels contain duplicates: {declared}")
    unknown = sorted(gt_labels - set(declared))
    if unknown:
        raise ValueError(f"ground truth labels {unknown} are not among the declared labels {list(declared)}")
    return declared


def _prediction_rows(
    predictions: Detections, declared: tuple[str, ...], labels_given: bool
) -> dict[str, tuple[list[str], list[tuple[float, float]], list[float]]]:
    """Per label, the predictions' (video ids, segments, scores) in input order, validated."""
    rows: dict[str, tuple[list[str], list[tuple[float, float]], list[float]]] = {
        label: ([], [], []) for label in declared
    }
    for video, entries in predictions.items():
        for n, entry in enumerate(entries):
            where = f"prediction of video {video!r}, entry {n}"
            label = label_of(entry, where)
            if label not in rows:
                hint = "" if labels_given else "; pass labels=... to declare it"
                raise ValueError(f"{where}: label {label!r} is not a known class {list(declared)}{hint}")
            try:
                score = float(entry["score"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{where}: 'score' must be a number, got {entry.get('score')!r}") from None
            if not math.isfinite(score):
                raise ValueError(f"{where}: score must be finite, got {score}")
            video_ids, segments, scores = rows[label]
            video_ids.append(str(video))
            segments.append(segment_of(entry, where))
            scores.append(score)
    return rows


def _result(scored: tuple[str, ...], unscored: tuple[str, ...], thresholds: np.ndarray, curves: list[ClassCurves],
             num_ground_truth: list[int], num_predictions: list[int], num_videos: int,
             outside_videos: int) -> EvaluationResult:
    """The figures of every class's curves, averaged over classes per tIoU, then over tIoUs."""
    ap, mean_recall, mean_precision, final_recall = (
        np.stack([getattr(c, name) for c in curves], axis=1).reshape(thresholds.size, len(scored))
        for name in ("average_precision", "mean_recall", "mean_precision", "final_recall")
    )
    mean_ap, tsl_recall, tsl_precision = ap.mean(axis=1), mean_recall.mean(axis=1), mean_precision.mean(axis=1)
    tsl_f2 = f2_score(tsl_precision, tsl_recall)
    return EvaluationResult(
        labels=scored,
        tiou_thresholds=tuple(float(t) for t in thresholds),
        class_average_precision=ap,
        mean_average_precision=mean_ap,
        average_map=float(mean_ap.mean()),
        class_tsl_recall=mean_recall,
        class_tsl_precision=mean_precision,
        tsl_recall=tsl_recall,
        tsl_precision=tsl_precision,
        tsl_f2=tsl_f2,
        tsl_recall_avg=float(tsl_recall.mean()),
        tsl_f2_avg=float(tsl_f2.mean()),
        class_final_recall=final_recall,
        final_recall=final_recall.mean(axis=1),
        num_ground_truth=tuple(num_ground_truth),
        num_predictions=tuple(num_predictions),
        num_videos=num_videos,
        predictions_without_ground_truth_video=outside_videos,
        labels_without_ground_truth=unscored,
    )


def evaluate_detections(
    predictions: Detections,
    ground_truth: Detections,
    tiou_thresholds: Sequence[float] = DEFAULT_TIOU_THRESHOLDS,
    labels: Sequence[str] | None = None,
) -> EvaluationResult:
    """Score predictions against ground truth (TSL-300 protocol; see the module docstring).

    predictions: video id -> [{"label", "score", "segment": [start_s, end_s]}];
    ground_truth: video id -> [{"label", "segment": [start_s, end_s]}] (already filtered to
        the subset being evaluated; a video with an empty list is allowed);
    tiou_thresholds: (K,) tIoU thresholds in (0, 1];
    labels: the classes, in report order; None = the ground truth's labels, sorted.
    """
    thresholds = np.asarray(tuple(float(t) for t in tiou_thresholds), dtype=np.float64)
    if thresholds.size == 0 or not np.all((thresholds > 0) & (thresholds <= 1)):
        raise ValueError(f"tiou_thresholds must be a non-empty list of values in (0, 1], got {tuple(tiou_thresholds)}")
    gt_rows = _ground_truth_rows(ground_truth)
    gt_labels = {label for _, label, _, _ in gt_rows}
    declared = _declared_labels(labels, gt_labels)
    scored = tuple(label for label in declared if label in gt_labels)
    unscored = tuple(label for label in declared if label not in gt_labels)
    ground_truth_by_class: dict[str, dict[str, list[tuple[float, float]]]] = {label: {} for label in scored}
    for video, label, start, end in gt_rows:
        ground_truth_by_class[label].setdefault(video, []).append((start, end))
    prediction_rows = _prediction_rows(predictions, declared, labels is not None)
    outside_videos = sum(video not in ground_truth
                         for video_ids, _, _ in prediction_rows.values() for video in video_ids)
    curves, num_ground_truth, num_predictions = [], [], []
    for label in scored:
        gt_by_video = {video: np.asarray(rows, dtype=np.float64)
                       for video, rows in ground_truth_by_class[label].items()}
        video_ids, segments, scores = prediction_rows[label]
        true_positive = match_class_predictions(
            video_ids, np.asarray(segments, dtype=np.float64).reshape(-1, 2), np.asarray(scores, dtype=np.float64),
            gt_by_video, thresholds,
        )
        count = sum(len(rows) for rows in gt_by_video.values())
        curves.append(class_curves(true_positive, count))
        num_ground_truth.append(count)
        num_predictions.append(len(scores))
    return _result(scored, unscored, thresholds, curves, num_ground_truth, num_predictions, len(ground_truth),
                   outside_videos)


# -- report -----------------------------------------------------------------------------
def format_report(result: EvaluationResult) -> str:
    """A readable table (percent): mAP and per-class AP per tIoU + AVG, TSL-300 Recall /
    Precision / F2 per tIoU + AVG, and the conventional final recall, labelled."""
    headers = [f"{t:.2f}" for t in result.tiou_thresholds] + ["AVG"]
    name_width = max(34, *(len(f"AP {label}") + 2 for label in result.labels))

    def row(name: str, values: np.ndarray, average: float | None = None) -> str:
        average = float(np.mean(values)) if average is None else average
        cells = [f"{100 * v:7.2f}" for v in values] + [f"{100 * average:7.2f}"]
        return f"{name:<{name_width}}" + "".join(cells)

    header = f"{'tIoU (figures in %)':<{name_width}}" + "".join(f"{h:>7}" for h in headers)
    counts = zip(result.labels, result.num_ground_truth, result.num_predictions, strict=True)
    lines = [
        f"Detection results: {result.num_videos} videos, "
        + ", ".join(f"{label}: {g} ground truth / {p} predicted" for label, g, p in counts),
        "",
        header,
        "-" * len(header),
        row("mAP", result.mean_average_precision, result.average_map),
    ]
    for column, label in enumerate(result.labels):
        lines.append(row(f"  AP {label}", result.class_average_precision[:, column]))
    lines += [
        "",
        "TSL-300 protocol (means of the cumulative curves over the ranked predictions):",
        row("Recall (TSL-300)", result.tsl_recall, result.tsl_recall_avg),
        row("Precision (TSL-300)", result.tsl_precision),
        row("F2 = 5PR/(4P+R) (TSL-300)", result.tsl_f2, result.tsl_f2_avg),
        "",
        row("Final recall (end of ranked list)", result.final_recall),
    ]
    notes = []
    if result.predictions_without_ground_truth_video:
        notes.append(f"{result.predictions_without_ground_truth_video} prediction(s) in videos absent from the ground "
                     "truth count as false positives")
    if result.labels_without_ground_truth:
        notes.append(f"classes without ground truth, not scored: {', '.join(result.labels_without_ground_truth)}")
    if notes:
        lines += [""] + [f"note: {note}" for note in notes]
    return "\n".join(lines)
