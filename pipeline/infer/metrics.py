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

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
            "class_average_AP": {label: float(self.class_average_precision[:, c].mean()) for c, label in enumerate(self.labels)},
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
                "tsl_recall": "TSL-300 code: mean over the ranked predictions of the cumulative recall, averaged over classes",
                "tsl_precision": "TSL-300 code: mean over the ranked predictions of the cumulative precision, averaged over classes",
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
    taken = {video: np.zeros((tiou_thresholds.size, len(gt)), dtype=bool) for video, gt in ground_truth_by_video.items()}
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
    average_precision = np.array([interpolated_average_precision(precision[k], recall[k]) for k in range(num_thresholds)])
    return ClassCurves(average_precision, recall.mean(axis=1), precision.mean(axis=1), recall[:, -1].copy())


def f2_score(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """F2 = 5 P R / (4 P + R) elementwise; 0 where 4 P + R = 0."""
    denominator = 4.0 * precision + recall
    return np.divide(5.0 * precision * recall, denominator, out=np.zeros_like(denominator, dtype=np.float64), where=denominator > 0)


# -- the evaluation ---------------------------------------------------------------------
def _segment_of(entry: Mapping, where: str) -> tuple[float, float]:
    try:
        start, end = (float(value) for value in entry["segment"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: 'segment' must be [start, end] in seconds, got {entry.get('segment')!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise ValueError(f"{where}: segment [{start}, {end}] must be finite with end >= start")
    return start, end


def _label_of(entry: Mapping, where: str) -> str:
    if "label" not in entry:
        raise ValueError(f"{where}: missing 'label'")
    return str(entry["label"])


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

    gt_labels = []
    gt_rows: list[tuple[str, str, float, float]] = []
    for video, entries in ground_truth.items():
        for n, entry in enumerate(entries):
            where = f"ground truth of video {video!r}, entry {n}"
            label = _label_of(entry, where)
            gt_rows.append((str(video), label, *_segment_of(entry, where)))
            gt_labels.append(label)
    if not gt_rows:
        raise ValueError("the ground truth has no annotated segments; nothing to evaluate")

    if labels is None:
        declared = tuple(sorted(set(gt_labels)))
    else:
        declared = tuple(str(label) for label in labels)
        if len(set(declared)) != len(declared):
            raise ValueError(f"labels contain duplicates: {declared}")
        unknown = sorted(set(gt_labels) - set(declared))
        if unknown:
            raise ValueError(f"ground truth labels {unknown} are not among the declared labels {list(declared)}")
    scored = tuple(label for label in declared if label in set(gt_labels))
    unscored = tuple(label for label in declared if label not in set(gt_labels))

    # Per class: ground truth by video (file order) and predictions in input order.
    ground_truth_by_class: dict[str, dict[str, list[tuple[float, float]]]] = {label: {} for label in scored}
    for video, label, start, end in gt_rows:
        ground_truth_by_class[label].setdefault(video, []).append((start, end))
    prediction_rows: dict[str, tuple[list[str], list[tuple[float, float]], list[float]]] = {
        label: ([], [], []) for label in declared
    }
    outside_videos = 0
    for video, entries in predictions.items():
        for n, entry in enumerate(entries):
            where = f"prediction of video {video!r}, entry {n}"
            label = _label_of(entry, where)
            if label not in prediction_rows:
                hint = "" if labels is not None else "; pass labels=... to declare it"
                raise ValueError(f"{where}: label {label!r} is not a known class {list(declared)}{hint}")
            try:
                score = float(entry["score"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{where}: 'score' must be a number, got {entry.get('score')!r}") from None
            if not math.isfinite(score):
                raise ValueError(f"{where}: score must be finite, got {score}")
            video_ids, segments, scores = prediction_rows[label]
            video_ids.append(str(video))
            segments.append(_segment_of(entry, where))
            scores.append(score)
            outside_videos += str(video) not in ground_truth

    shape = (thresholds.size, len(scored))
    ap, mean_recall, mean_precision, final_recall = (np.zeros(shape) for _ in range(4))
    num_ground_truth, num_predictions = [], []
    for column, label in enumerate(scored):
        gt_by_video = {video: np.asarray(rows, dtype=np.float64) for video, rows in ground_truth_by_class[label].items()}
        video_ids, segments, scores = prediction_rows[label]
        true_positive = match_class_predictions(
            video_ids, np.asarray(segments, dtype=np.float64).reshape(-1, 2), np.asarray(scores, dtype=np.float64),
            gt_by_video, thresholds,
        )
        count = sum(len(rows) for rows in gt_by_video.values())
        curves = class_curves(true_positive, count)
        ap[:, column] = curves.average_precision
        mean_recall[:, column] = curves.mean_recall
        mean_precision[:, column] = curves.mean_precision
        final_recall[:, column] = curves.final_recall
        num_ground_truth.append(count)
        num_predictions.append(len(scores))

    mean_ap = ap.mean(axis=1)
    tsl_recall = mean_recall.mean(axis=1)
    tsl_precision = mean_precision.mean(axis=1)
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
        num_videos=len(ground_truth),
        predictions_without_ground_truth_video=outside_videos,
        labels_without_ground_truth=unscored,
    )


# -- files ------------------------------------------------------------------------------
def _read_json(path: Path | str, what: str) -> dict:
    path = Path(path)
    try:
        with path.open("r", encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} file not found") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg}, line {error.lineno}); expected an ActivityNet-style {what} file") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_ground_truth(path: Path | str, subset: str | None = None) -> dict[str, list[dict]]:
    """ActivityNet-style ground truth -> {video: [{"label": str, "segment": [start_s, end_s]}]}.

    The file is {"database": {video: {"subset": str, "annotations": [{"label", "segment"}]}}}
    (TSL-300's gt.json / videosenti_gt.json: segment bounds are strings of seconds, labels
    'p'/'n'). `subset` keeps only the videos whose "subset" equals it (e.g. "test");
    videos with no annotations are kept with an empty list.
    """
    path = Path(path)
    data = _read_json(path, "ground truth")
    database = data.get("database")
    if not isinstance(database, dict):
        raise ValueError(f"{path}: missing the 'database' object of an ActivityNet-style ground truth file")
    ground_truth: dict[str, list[dict]] = {}
    subsets_seen = set()
    for video, record in database.items():
        if not isinstance(record, dict):
            raise ValueError(f"{path}: video {video!r} must map to an object with 'annotations'")
        subsets_seen.add(record.get("subset"))
        if subset is not None and record.get("subset") != subset:
            continue
        entries = []
        for n, entry in enumerate(record.get("annotations", [])):
            where = f"{path}: video {video!r}, annotation {n}"
            start, end = _segment_of(entry, where)
            entries.append({"label": _label_of(entry, where), "segment": [start, end]})
        ground_truth[str(video)] = entries
    if subset is not None and not ground_truth:
        known = ", ".join(sorted(str(s) for s in subsets_seen))
        raise ValueError(f"{path}: no video has subset {subset!r} (subsets present: {known})")
    return ground_truth


def load_predictions(path: Path | str) -> dict[str, list[dict]]:
    """ActivityNet-style results -> {video: [{"label", "score", "segment": [start_s, end_s]}]}.

    The file is {"results": {video: [{"label", "score", "segment"}]}, ...}; other keys
    ("version", "external_data") are ignored.
    """
    path = Path(path)
    data = _read_json(path, "results")
    results = data.get("results")
    if not isinstance(results, dict):
        raise ValueError(f"{path}: missing the 'results' object of an ActivityNet-style results file")
    predictions: dict[str, list[dict]] = {}
    for video, entries in results.items():
        if not isinstance(entries, list):
            raise ValueError(f"{path}: results of video {video!r} must be a list")
        parsed = []
        for n, entry in enumerate(entries):
            where = f"{path}: video {video!r}, result {n}"
            start, end = _segment_of(entry, where)
            try:
                score = float(entry["score"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{where}: 'score' must be a number, got {entry.get('score')!r}") from None
            parsed.append({"label": _label_of(entry, where), "score": score, "segment": [start, end]})
        predictions[str(video)] = parsed
    return predictions


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
    lines = [
        f"Detection results: {result.num_videos} videos, "
        + ", ".join(f"{label}: {g} ground truth / {p} predicted" for label, g, p in zip(result.labels, result.num_ground_truth, result.num_predictions, strict=True)),
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
        notes.append(f"{result.predictions_without_ground_truth_video} prediction(s) in videos absent from the ground truth count as false positives")
    if result.labels_without_ground_truth:
        notes.append(f"classes without ground truth, not scored: {', '.join(result.labels_without_ground_truth)}")
    if notes:
        lines += [""] + [f"note: {note}" for note in notes]
    return "\n".join(lines)
