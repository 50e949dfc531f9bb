"""Inference post-processing: a class activation sequence (CAS) -> timestamped segments.

This is the TSL-Net / LACP recipe that both TSL-300's and FSENet's code use (docs/method.md,
"Inference"), with every constant in `PostprocessConfig` (the `postprocess` section, pipeline/config/infer.py):

1. **Classes.** The video-level score of class c is the mean of its top k CAS values,
   k = max(1, T // video_score_topk_divisor) snippets. Classes scoring >=
   class_score_threshold are localized; if none does, the best-scoring class is.
2. **Upsampling.** Each selected class's CAS column and the foreground score
   1 - background are upsampled `upsample_factor` times by linear interpolation, so one
   snippet of s seconds becomes `upsample_factor` bins of s / upsample_factor seconds.
3. **Proposals.** For every threshold in `cas_thresholds` (on the class CAS) and in
   `foreground_thresholds` (on 1 - background), each maximal run of consecutive bins whose
   value is >= the threshold (and > 0) is one proposal of that class.
4. **Score** (outer-inner contrast): mean class CAS inside the run - mean class CAS over an
   outer margin of ceil(outer_margin_fraction * run length) bins on each side (clipped to
   the video; 0 when the margin is empty) + video_score_weight * the class's video score.
5. **Seconds** through the snippet grid: snippet i covers [i*s, (i+1)*s), bin k covers
   [k*s/f, (k+1)*s/f); a run of bins k0..k1 is [k0*s/f, (k1+1)*s/f), clipped to the video
   duration. Then class-wise NMS at tIoU `nms_tiou_threshold` (hard, or Gaussian
   soft-NMS), and optionally at most `max_segments_per_video` segments.

Two options choose what is localized, measured on validation (docs/benchmarks.md, "Training
quality over the schedule (CPU proxy)"): `score` picks the class
columns (the class CAS, the CAS times 1 - background as the TSL-300 / FSENet code does, or
the fused global CAS W_sent * y_c; applied where the model runs, `pipeline.infer.predict.predict_cas`),
and `threshold_mode="relative"` reads every threshold as a fraction of the video's maximum
of its signal (class column, resp. 1 - background) instead of an absolute score.

Where this module differs from the authors' code (TSL-300 `nku-zhichengzhang/TSL300`
`test_all.py` + `utils.py`, identical in FSENet `CeilingHan/FSENet` `core/test_all.py`
+ `core/utils.py`), the authors' behaviour stays reachable through the config:
- upsampling: the authors sample the interpolant at the *start* of each bin (bin k at
  snippet position k/f, `scipy.interpolate.interp1d(..., fill_value='extrapolate')`),
  which shifts every boundary half a snippet early and extrapolates linearly past the
  last snippet (values can leave [0, 1]). Default here: "center" (the CAS value of
  snippet i sits at its centre i + 0.5; each bin is sampled at its own centre; the ends
  hold the first/last value). `upsample_alignment="start"` reproduces the authors'.
- scoring: for proposals from the CAS thresholds the authors compute the inner and
  outer means on the CAS *after* zeroing values below that threshold, so the outer term
  is almost always 0 there. Default here: the raw CAS for both kinds of proposal (what
  docs/method.md, "Inference", writes); `score_on_thresholded_cas=True` reproduces the authors'.
- the outer margin: the authors take int() of (start - 0.03 L) and (end + 0.03 L), i.e.
  ceil(0.03 L) bins on the left and floor(0.03 L) on the right; here ceil on both sides.
- NMS: the authors compute tIoU in seconds with a pixel-style "+1" (areas x2 - x1 + 1),
  which inflates the overlap of short segments; here it is the exact tIoU in seconds.
  As in their code a segment is suppressed when its tIoU with a kept one is >= the
  threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.config.infer import PostprocessConfig
from pipeline.infer.metrics import segment_tiou


@dataclass(frozen=True)
class Segment:
    """One localized segment: [start_seconds, end_seconds) of class `class_index`."""

    start_seconds: float
    end_seconds: float
    class_index: int  # column of the CAS (0 .. C-1); never the background
    score: float  # outer-inner contrast + weighted video score (soft-NMS may have decayed it)

    def to_result(self, class_names: tuple[str, ...] | list[str]) -> dict:
        """This segment as one ActivityNet results entry {"label", "score", "segment"}."""
        return {
            "label": class_names[self.class_index],
            "score": float(self.score),
            "segment": [float(self.start_seconds), float(self.end_seconds)],
        }


# -- steps ------------------------------------------------------------------------------
def video_class_scores(class_cas: np.ndarray, topk_divisor: int) -> np.ndarray:
    """Video-level score per class: the mean of the top k values of each CAS column.

    class_cas: (T, C) scores in [0, 1]; k = max(1, T // topk_divisor) snippets.
    Returns (C,) float64.
    """
    num_snippets = class_cas.shape[0]
    k = max(1, num_snippets // topk_divisor)
    top = np.sort(class_cas, axis=0)[num_snippets - k:]
    return top.mean(axis=0)


def select_classes(video_scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the classes to localize: scores >= threshold, else the single argmax. (n,) int."""
    chosen = np.flatnonzero(video_scores >= threshold)
    return chosen if chosen.size else np.array([int(np.argmax(video_scores))])


def upsample_scores(scores: np.ndarray, factor: int, alignment: str = "center") -> np.ndarray:
    """Linear interpolation of per-snippet scores onto `factor` bins per snippet.

    scores: (T, K) per-snippet values. Returns (T * factor, K) float64; bin k covers
    snippet positions [k / factor, (k + 1) / factor).
    - "center": snippet i's value sits at position i + 0.5 and bin k is sampled at its
      centre (k + 0.5) / factor; before the first / after the last centre the end value
      is held, so values stay within the input range.
    - "start" (TSL-300 / FSENet code): snippet i's value sits at position i, bin k is
      sampled at k / factor, and the last snippet's bins are extrapolated linearly.
    """
    num_snippets = scores.shape[0]
    bins = np.arange(num_snippets * factor, dtype=np.float64)
    if num_snippets == 1:
        return np.repeat(scores.astype(np.float64), factor, axis=0)
    if alignment == "center":
        position = np.clip((bins + 0.5) / factor - 0.5, 0.0, num_snippets - 1)
    else:
        position = bins / factor
    left = np.minimum(np.floor(position).astype(np.int64), num_snippets - 2)
    weight = (position - left)[:, None]
    values = scores.astype(np.float64)
    return values[left] * (1.0 - weight) + values[left + 1] * weight


def find_runs(signal: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of consecutive bins with signal >= threshold (and > 0), for every threshold.

    signal: (N,) values per bin; thresholds: (K,). Returns three (P,) int arrays:
    threshold index, first bin, and one past the last bin of each run (runs of one
    threshold come out in time order, thresholds in the given order).
    """
    above = (signal[None, :] >= thresholds[:, None]) & (signal[None, :] > 0)
    padded = np.zeros((thresholds.size, signal.size + 2), dtype=np.int8)
    padded[:, 1:-1] = above
    change = np.diff(padded, axis=1)
    threshold_index, starts = np.nonzero(change == 1)
    _, stops = np.nonzero(change == -1)
    return threshold_index, starts, stops


def contrast_scores(
    cumulative: np.ndarray, rows: np.ndarray, starts: np.ndarray, stops: np.ndarray, margin_fraction: float
) -> np.ndarray:
    """Outer-inner contrast of runs from prefix sums.

    cumulative: (R, N + 1) prefix sums of the scoring signal per row (cumulative[r, 0] = 0);
    rows, starts, stops: (P,) the row and the bins [start, stop) of each run.
    Inner = mean over [start, stop); outer = mean over [start - m, start) and
    [stop, stop + m) clipped to [0, N), m = ceil(margin_fraction * (stop - start)) bins;
    outer = 0 when that margin is empty. Returns (P,) float64 inner - outer.
    """
    num_bins = cumulative.shape[1] - 1
    lengths = stops - starts
    inner = (cumulative[rows, stops] - cumulative[rows, starts]) / lengths
    margin = np.ceil(margin_fraction * lengths - 1e-9).astype(np.int64)
    left = np.maximum(starts - margin, 0)
    right = np.minimum(stops + margin, num_bins)
    outer_sum = ((cumulative[rows, starts] - cumulative[rows, left])
                 + (cumulative[rows, right] - cumulative[rows, stops]))
    outer_count = (starts - left) + (right - stops)
    outer = np.divide(outer_sum, outer_count, out=np.zeros_like(outer_sum), where=outer_count > 0)
    return inner - outer


def hard_nms(segments: np.ndarray, scores: np.ndarray, tiou_threshold: float) -> np.ndarray:
    """Greedy NMS: keep the best segment, drop those with tIoU >= threshold with it, repeat.

    segments: (P, 2) [start, end] seconds; scores: (P,). Ties keep the earlier segment.
    Returns the kept indices, best score first.
    """
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[segment_tiou(segments[best], segments[rest]) < tiou_threshold]
    return np.asarray(keep, dtype=np.int64)


def soft_nms(segments: np.ndarray, scores: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian soft-NMS (Bodla et al. 2017): overlapping segments are decayed, never removed.

    Repeatedly take the best remaining segment and multiply the others' weight by
    exp(-tIoU^2 / sigma). A score s becomes s - (1 - weight) * |s|, i.e. s * weight for
    s >= 0, and moves further down for a negative s (outer-inner scores can be negative).
    segments: (P, 2) seconds; scores: (P,). Returns (indices, decayed scores), in the
    order the segments were taken (non-increasing decayed score).
    """
    current = scores.astype(np.float64).copy()
    remaining = np.arange(scores.size)
    taken, taken_scores = [], []
    while remaining.size:
        position = int(np.argmax(current[remaining]))
        best = remaining[position]
        taken.append(best)
        taken_scores.append(current[best])
        remaining = np.delete(remaining, position)
        if remaining.size:
            weight = np.exp(-segment_tiou(segments[best], segments[remaining]) ** 2 / sigma)
            current[remaining] -= (1.0 - weight) * np.abs(current[remaining])
    return np.asarray(taken, dtype=np.int64), np.asarray(taken_scores, dtype=np.float64)


# -- the whole recipe -------------------------------------------------------------------
def _checked_cas(cas: np.ndarray, snippet_seconds: float, duration_seconds: float | None) -> tuple[np.ndarray, float]:
    """(cas as float64, the duration in seconds: T * s when None), after checking both."""
    cas = np.asarray(cas, dtype=np.float64)
    if cas.ndim != 2 or cas.shape[1] < 2:
        raise ValueError(f"cas must have shape (T, C + 1) with C >= 1 classes plus background, got {cas.shape}")
    if not np.all(np.isfinite(cas)):
        raise ValueError("cas contains NaN or infinite values")
    if not (math.isfinite(snippet_seconds) and snippet_seconds > 0):
        raise ValueError(f"snippet_seconds must be > 0, got {snippet_seconds}")
    if duration_seconds is None:
        duration_seconds = cas.shape[0] * snippet_seconds
    if not (math.isfinite(duration_seconds) and duration_seconds > 0):
        raise ValueError(f"duration_seconds must be > 0, got {duration_seconds}")
    return cas, duration_seconds


def _class_proposals(signal: np.ndarray, foreground: np.ndarray, bonus: float,
                     config: PostprocessConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start bins, stop bins, scores) of one class's proposals: runs above each threshold
    on the class CAS and on 1 - background, each scored by its contrast on the class CAS
    plus `bonus` (the weighted video score)."""
    cas_thresholds = np.asarray(config.cas_thresholds, dtype=np.float64)
    foreground_thresholds = np.asarray(config.foreground_thresholds, dtype=np.float64)
    if config.threshold_mode == "relative":  # fractions of this video's maximum of each signal
        cas_thresholds = cas_thresholds * max(float(signal.max(initial=0.0)), 0.0)
        foreground_thresholds = foreground_thresholds * max(float(foreground.max(initial=0.0)), 0.0)
    raw_cumulative = np.concatenate([[0.0], np.cumsum(signal)])[None, :]
    rows, starts, stops = find_runs(signal, cas_thresholds)
    if config.score_on_thresholded_cas:
        zeroed = np.where(signal[None, :] >= cas_thresholds[:, None], signal[None, :], 0.0)
        cumulative = np.concatenate([np.zeros((cas_thresholds.size, 1)), np.cumsum(zeroed, axis=1)], axis=1)
        contrast = contrast_scores(cumulative, rows, starts, stops, config.outer_margin_fraction)
    else:
        contrast = contrast_scores(raw_cumulative, np.zeros_like(rows), starts, stops, config.outer_margin_fraction)
    _, fg_starts, fg_stops = find_runs(foreground, foreground_thresholds)
    fg_contrast = contrast_scores(raw_cumulative, np.zeros_like(fg_starts), fg_starts, fg_stops,
                                  config.outer_margin_fraction)
    return (np.concatenate([starts, fg_starts]), np.concatenate([stops, fg_stops]),
            np.concatenate([contrast + bonus, fg_contrast + bonus]))


def _class_wise_nms(seconds: np.ndarray, scores: np.ndarray, proposal_classes: np.ndarray, classes: np.ndarray,
                    config: PostprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """(indices kept, their scores) after NMS within each class (hard or soft)."""
    kept_indices, kept_scores = [], []
    for class_index in classes:
        members = np.flatnonzero(proposal_classes == class_index)
        if not members.size:
            continue
        if config.nms == "hard":
            chosen = hard_nms(seconds[members], scores[members], config.nms_tiou_threshold)
            kept_indices.append(members[chosen])
            kept_scores.append(scores[members][chosen])
        else:
            chosen, decayed = soft_nms(seconds[members], scores[members], config.soft_nms_sigma)
            kept_indices.append(members[chosen])
            kept_scores.append(decayed)
    if not kept_indices:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(kept_indices), np.concatenate(kept_scores)


def localize_segments(
    cas: np.ndarray,
    snippet_seconds: float,
    duration_seconds: float | None = None,
    config: PostprocessConfig | None = None,
    video_scores: np.ndarray | None = None,
) -> list[Segment]:
    """Segments of one video from its class activation sequence.

    cas: (T, C + 1) per-snippet scores in [0, 1]; columns 0..C-1 are the sentiment
        classes, column C the background (non-sentiment) score.
    snippet_seconds: s, the grid step; snippet i covers [i*s, (i+1)*s) seconds.
    duration_seconds: the video's duration D (segments are clipped to it and bins that
        start at or after D are ignored); None means T * s.
    video_scores: (C,) the model's video-level class scores; None computes them from
        the CAS (mean of the top max(1, T // video_score_topk_divisor) values per class).
    Returns segments of the selected classes after class-wise NMS, best score first.
    """
    config = config or PostprocessConfig()
    cas, duration_seconds = _checked_cas(cas, snippet_seconds, duration_seconds)
    num_snippets, num_classes = cas.shape[0], cas.shape[1] - 1
    if num_snippets == 0:
        return []
    class_cas = cas[:, :num_classes]
    if video_scores is None:
        video_scores = video_class_scores(class_cas, config.video_score_topk_divisor)
    video_scores = np.asarray(video_scores, dtype=np.float64).reshape(-1)
    if video_scores.shape != (num_classes,):
        raise ValueError(f"video_scores must have shape ({num_classes},), got {video_scores.shape}")
    classes = select_classes(video_scores, config.class_score_threshold)

    # Bins per snippet f; bin k covers [k*s/f, (k+1)*s/f) seconds. Bins that start at or
    # after the duration (the padded end of a partial last snippet) take no part.
    factor = config.upsample_factor
    bin_seconds = snippet_seconds / factor
    num_bins = min(num_snippets * factor, max(1, math.ceil(duration_seconds / bin_seconds - 1e-9)))
    columns = np.concatenate([class_cas[:, classes], 1.0 - cas[:, num_classes:]], axis=1)
    upsampled = upsample_scores(columns, factor, config.upsample_alignment)[:num_bins]
    parts = [
        _class_proposals(upsampled[:, column], upsampled[:, -1],
                         config.video_score_weight * video_scores[class_index], config)
        for column, class_index in enumerate(classes)
    ]
    starts = np.concatenate([part[0] for part in parts])
    stops = np.concatenate([part[1] for part in parts])
    scores = np.concatenate([part[2] for part in parts])
    proposal_classes = np.concatenate(
        [np.full(part[0].size, c, dtype=np.int64) for part, c in zip(parts, classes, strict=True)]
    )
    seconds = np.stack([starts * bin_seconds, np.minimum(stops * bin_seconds, duration_seconds)], axis=1)
    indices, final_scores = _class_wise_nms(seconds, scores, proposal_classes, classes, config)
    order = np.argsort(-final_scores, kind="stable")
    if config.max_segments_per_video:
        order = order[: config.max_segments_per_video]
    return [
        Segment(
            start_seconds=float(seconds[indices[i], 0]),
            end_seconds=float(seconds[indices[i], 1]),
            class_index=int(proposal_classes[indices[i]]),
            score=float(final_scores[i]),
        )
        for i in order
    ]
