"""Per-epoch diagnostics of what the scores do (why validation mAP decays after its peak).

`train.diagnostics_splits` (e.g. ``["validation"]``; ``"test"`` and ``"train"`` are allowed
too) makes every validation check add, per split, to that epoch's record in
``history.json`` (keys ``<split>_<name>``):

- ``loss_base``, ``loss_frame``, ``loss_frame_glo``, ``loss_sc``, ``loss_total``: the
  training loss terms on the split (model in eval mode, whole videos);
- ``map``: average mAP (TSL-300 protocol) with the configured post-processing;
- ``cas_in`` / ``cas_out``: mean class CAS y_{t,c} over the snippets inside ground-truth
  segments of class c / over the snippets outside every segment (all C classes);
- ``bg_in`` / ``bg_out``: mean background score y_{t,C+1} inside any segment / outside;
- ``w_sent_in`` / ``w_sent_out``: mean GSP intensity inside / outside;
- ``auc_cas`` / ``auc_fg``: ROC AUC of max_c y_{t,c} (resp. 1 - background) for telling
  snippets inside a segment from those outside (0.5 = no ranking, 1 = perfect); a
  scale-free measure, beside the scale-bound ones above;
- ``share_cas_lowest``: share of snippets whose max class CAS is >= the lowest positive
  CAS threshold of post-processing (0.025 by default; the lowest, 0, keeps every snippet);
  ``share_cas_highest``: the same at the highest CAS threshold; ``share_fg_lowest``:
  share with 1 - background >= the lowest foreground threshold;
- ``proposals_per_video``: segments per video after NMS; ``segment_seconds``: their
  mean length;
- ``map_<score>_<abs|rel>``: average mAP when localizing on another score (``cas``, ``cas_fg``
  = CAS x (1 - background), ``global`` = W_sent x CAS) with absolute thresholds (the
  configured ones) or relative ones (fractions 0.1 ... 0.9 of the video's maximum, unless
  the configured mode is already relative): the inference options compared per epoch
  without retraining.

The test split's figures are for diagnosis only: model selection never reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from model import LOSS_TERMS, FSENet, fsenet_loss
from pipeline.config import Config
from pipeline.config.infer import SCORE_KINDS, THRESHOLD_MODES, PostprocessConfig
from pipeline.data.batching import collate, length_sorted_batches, segment_snippet_mask
from pipeline.data.samples import SentimentDataset, VideoSample
from pipeline.infer.metrics import evaluate_detections
from pipeline.infer.predict import VideoScores, ground_truth_of, segments_from_scores, video_scores_from_output

DIAGNOSTIC_SPLITS: tuple[str, ...] = ("train", "validation", "test")
RELATIVE_THRESHOLDS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))


@torch.no_grad()
def predict_with_losses(
    model: FSENet, samples: dict[str, VideoSample], video_ids: Sequence[str], config: Config, device: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """One eval-mode pass over whole videos.

    Returns:
        cas: video id -> (T, C+1) float32 CAS; w_sent: video id -> (T,) float32;
        losses: each loss term averaged over the videos (weighted by batch size); empty
            when no video has the labels the supervision needs (points: test videos).
    """
    model.eval()
    streams, num_classes = config.model.streams, config.model.num_classes
    lengths = {video_id: samples[video_id].num_snippets for video_id in video_ids}
    cas_by_video, w_by_video, sums, counted = {}, {}, dict.fromkeys(LOSS_TERMS, 0.0), 0
    for batch_ids in length_sorted_batches(video_ids, lengths, config.infer.batch_size):
        batch = collate([samples[v] for v in batch_ids], streams, num_classes, device).to(device)
        output = model(batch.features, batch.padding_mask, batch.face_mask)
        has_points = bool(batch.point_labels.mask.any())
        if has_points or config.model.supervision != "point":  # test videos carry no points
            terms = fsenet_loss(
                output,
                config.model,
                point_labels=batch.point_labels if has_points else None,
                video_labels=batch.video_labels,
                segment_masks=batch.segment_masks if config.model.supervision == "full" else None,
            )
            for name in LOSS_TERMS:
                sums[name] += float(terms[name]) * len(batch_ids)
            counted += len(batch_ids)
        cas, w_sent = output.cas.float().cpu().numpy(), output.w_sent.float().cpu().numpy()  # (B, T, C+1), (B, T)
        for row, video_id in enumerate(batch_ids):
            cas_by_video[video_id] = cas[row, : lengths[video_id]]
            w_by_video[video_id] = w_sent[row, : lengths[video_id]]
    losses = {f"loss_{name}": total / counted for name, total in sums.items()} if counted else {}
    return cas_by_video, w_by_video, losses


def ranking_auc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """ROC AUC = P(positive > negative) + 0.5 P(tie), by ranks (Mann-Whitney U); nan if a side is empty."""
    if positive_scores.size == 0 or negative_scores.size == 0:
        return float("nan")
    joined = np.concatenate([positive_scores, negative_scores])
    order = np.argsort(joined, kind="mergesort")
    ranks = np.empty(joined.size, dtype=np.float64)
    ranks[order] = np.arange(1, joined.size + 1)
    sorted_values = joined[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    stops = np.r_[starts[1:], joined.size]
    for start, stop in zip(starts, stops, strict=True):  # average rank over ties
        if stop - start > 1:
            ranks[order[start:stop]] = (start + stop + 1) / 2.0
    positive_rank_sum = ranks[: positive_scores.size].sum()
    u_statistic = positive_rank_sum - positive_scores.size * (positive_scores.size + 1) / 2.0
    return float(u_statistic / (positive_scores.size * negative_scores.size))


def score_statistics(
    cas_by_video: dict[str, np.ndarray],
    w_by_video: dict[str, np.ndarray],
    samples: dict[str, VideoSample],
    postprocess: PostprocessConfig,
) -> dict[str, float]:
    """Score behaviour inside vs outside the ground-truth segments (see the module docstring)."""
    class_in, class_out, bg_in, bg_out, w_in, w_out, fg_scores, inside_flags = [], [], [], [], [], [], [], []
    for video_id, cas in cas_by_video.items():
        num_classes = cas.shape[1] - 1
        segment_mask = segment_snippet_mask(samples[video_id], num_classes).astype(bool)  # (T, C)
        inside = segment_mask.any(axis=1)
        class_in.append(cas[:, :num_classes][segment_mask])
        class_out.append(cas[~inside, :num_classes].reshape(-1))
        bg_in.append(cas[inside, num_classes])
        bg_out.append(cas[~inside, num_classes])
        w_in.append(w_by_video[video_id][inside])
        w_out.append(w_by_video[video_id][~inside])
        fg_scores.append(cas[:, :num_classes].max(axis=1))
        inside_flags.append(inside)
    joined = {
        name: np.concatenate(parts) if parts else np.zeros(0)
        for name, parts in {
            "cas_in": class_in, "cas_out": class_out, "bg_in": bg_in, "bg_out": bg_out,
            "w_sent_in": w_in, "w_sent_out": w_out, "max_cas": fg_scores, "inside": inside_flags,
        }.items()
    }
    inside = joined["inside"].astype(bool)
    background = np.concatenate([cas[:, -1] for cas in cas_by_video.values()]) if cas_by_video else np.zeros(0)
    positive_thresholds = [value for value in postprocess.cas_thresholds if value > 0] or [0.0]
    stats = {name: float(joined[name].mean()) if joined[name].size else float("nan")
             for name in ("cas_in", "cas_out", "bg_in", "bg_out", "w_sent_in", "w_sent_out")}
    stats["auc_cas"] = ranking_auc(joined["max_cas"][inside], joined["max_cas"][~inside])
    stats["auc_fg"] = ranking_auc(-background[inside], -background[~inside])
    stats["share_cas_lowest"] = float((joined["max_cas"] >= min(positive_thresholds)).mean())
    stats["share_cas_highest"] = float((joined["max_cas"] >= max(postprocess.cas_thresholds, default=0.0)).mean())
    lowest_foreground = min(postprocess.foreground_thresholds, default=0.0)
    stats["share_fg_lowest"] = float((1.0 - background >= lowest_foreground).mean())
    return stats


def segment_statistics(
    scores_by_video: dict[str, VideoScores], samples: dict[str, VideoSample], config: Config, class_names: Sequence[str]
) -> dict[str, float]:
    """Average mAP, segments per video after NMS and their mean length in seconds."""
    predictions = segments_from_scores(scores_by_video, samples, config.postprocess, class_names)
    lengths_seconds = [entry["segment"][1] - entry["segment"][0] for found in predictions.values() for entry in found]
    ground_truth = ground_truth_of(samples, list(scores_by_video), class_names)
    average_map = evaluate_detections(predictions, ground_truth, labels=class_names).average_map
    return {
        "map": float(average_map),
        "proposals_per_video": float(np.mean([len(p) for p in predictions.values()])) if predictions else float("nan"),
        "segment_seconds": float(np.mean(lengths_seconds)) if lengths_seconds else float("nan"),
    }


def inference_option_maps(
    cas_by_video: dict[str, np.ndarray], w_by_video: dict[str, np.ndarray], dataset: SentimentDataset, config: Config
) -> dict[str, float]:
    """Average mAP for every score kind with absolute and with relative thresholds."""
    maps = {}
    for score in SCORE_KINDS:
        for mode in THRESHOLD_MODES:
            postprocess = replace(config.postprocess, score=score)
            if mode == "relative" and postprocess.threshold_mode != "relative":
                postprocess = replace(postprocess, cas_thresholds=RELATIVE_THRESHOLDS,
                                      foreground_thresholds=RELATIVE_THRESHOLDS)
            postprocess = replace(postprocess, threshold_mode=mode)
            scores = {v: video_scores_from_output(cas, w_by_video[v], postprocess) for v, cas in cas_by_video.items()}
            figures = segment_statistics(scores, dataset.samples, replace(config, postprocess=postprocess),
                                         dataset.class_names)
            maps[f"map_{score}_{mode[:3]}"] = figures["map"]
    return maps


def epoch_diagnostics(
    model: FSENet, dataset: SentimentDataset, config: Config, device: str, splits: Sequence[str]
) -> dict[str, float]:
    """Every diagnostic of every split in `splits` (keys ``<split>_<name>``); videos
    without segments count in the losses but not in the inside/outside figures and mAP."""
    record: dict[str, float] = {}
    for split in splits:
        video_ids = dataset.splits.get(split, [])
        if not video_ids:
            continue
        cas, w_sent, losses = predict_with_losses(model, dataset.samples, video_ids, config, device)
        with_segments = {v: cas[v] for v in video_ids if len(dataset.samples[v].segments)}
        figures = dict(losses)
        if with_segments:
            scores = {v: video_scores_from_output(c, w_sent[v], config.postprocess) for v, c in with_segments.items()}
            figures.update(score_statistics(with_segments, w_sent, dataset.samples, config.postprocess))
            figures.update(segment_statistics(scores, dataset.samples, config, dataset.class_names))
            figures.update(inference_option_maps(with_segments, w_sent, dataset, config))
        record.update({f"{split}_{name}": value for name, value in figures.items()})
    model.train()
    return record
