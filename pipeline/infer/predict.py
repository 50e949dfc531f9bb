"""A trained FSENet on samples: per-snippet scores and video-level class scores ->
segments, and the ground truth to score them against. Shared by training (validation
mAP, diagnostics), `evaluate` and `localize`.

What post-processing reads of one video is a :class:`VideoScores`, made in one place
(:func:`video_scores_from_output`) from the model's raw outputs:

- ``snippet_scores`` (T, C+1): the scores segments are found on, as ``postprocess.score``
  says: the class CAS y_c ("cas"), y_c x (1 - y_bg) ("cas_fg") or W_sent x y_c
  ("global"), with the background column y_bg (resp. (1 - W_sent) x y_bg);
- ``class_scores`` (C,): the video-level class scores that choose which classes are
  localized (``postprocess.class_score_threshold``) and weight each segment's score: the
  mean of the top max(1, T // ``video_score_topk_divisor``) values of the **raw class
  CAS**, whatever the localization score is. This is what TSL-Net's and the FSENet
  authors' test code do (video score from the CAS, localization on the fused score); a
  product such as y_c x (1 - y_bg) sits lower than y_c, and its top-k mean almost never
  lets the second class of a two-class video pass the 0.5 threshold
  (``postprocess.class_scores_from=localized`` reproduces that older behaviour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model import FSENet
from pipeline.config.infer import SCORE_KINDS, PostprocessConfig
from pipeline.data.batching import collate, length_sorted_batches
from pipeline.data.samples import VideoSample
from pipeline.infer.postprocess import localize_segments, video_class_scores


@dataclass(frozen=True)
class VideoScores:
    """What post-processing reads of one video.

    Attributes:
        snippet_scores: (T, C+1) float32 in [0, 1]: the C class columns segments are
            found on (``postprocess.score``), then the background column.
        class_scores: (C,) float64 video-level class scores from the raw class CAS.
    """

    snippet_scores: np.ndarray
    class_scores: np.ndarray


def localization_scores(cas: np.ndarray, w_sent: np.ndarray, score: str) -> np.ndarray:
    """(T, C+1) scores segments are found on, from the raw CAS (T, C+1) and W_sent (T,).

    "cas": the CAS itself; "cas_fg": class columns y_c * (1 - y_bg), background y_bg;
    "global": the global CAS y~ = [W_sent * y_c; (1 - W_sent) * y_bg].
    """
    if score == "cas":
        return cas
    if score == "cas_fg":
        return np.concatenate([cas[:, :-1] * (1.0 - cas[:, -1:]), cas[:, -1:]], axis=1)
    if score == "global":
        return np.concatenate([w_sent[:, None] * cas[:, :-1], (1.0 - w_sent[:, None]) * cas[:, -1:]], axis=1)
    raise ValueError(f"score={score!r} is not allowed; allowed: {', '.join(SCORE_KINDS)}")


def video_scores_from_output(cas: np.ndarray, w_sent: np.ndarray, settings: PostprocessConfig) -> VideoScores:
    """One video's :class:`VideoScores` from its raw CAS (T, C+1) and W_sent (T,) (real snippets only)."""
    cas = np.asarray(cas, dtype=np.float32)
    snippet_scores = localization_scores(cas, np.asarray(w_sent, dtype=np.float32), settings.score)
    source = cas if settings.class_scores_from == "cas" else snippet_scores
    class_scores = video_class_scores(source[:, :-1], settings.video_score_topk_divisor)
    return VideoScores(snippet_scores.astype(np.float32), class_scores)


@torch.no_grad()
def model_outputs(
    model: FSENet, samples: dict[str, VideoSample], video_ids: Sequence[str], device: str, batch_size: int = 8,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The model's raw outputs per video: video id -> (CAS (T, C+1), W_sent (T,)), float32, real snippets only."""
    model.eval()
    streams = model.config.streams
    lengths = {video_id: samples[video_id].num_snippets for video_id in video_ids}
    result = {}
    for batch_ids in length_sorted_batches(video_ids, lengths, batch_size):
        batch = collate([samples[v] for v in batch_ids], streams, model.config.num_classes, device).to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype or torch.bfloat16,
                            enabled=amp_dtype is not None):
            output = model(batch.features, batch.padding_mask, batch.face_mask)
        cas, w_sent = output.cas.float().cpu().numpy(), output.w_sent.float().cpu().numpy()
        for row, video_id in enumerate(batch_ids):
            result[video_id] = (cas[row, : lengths[video_id]], w_sent[row, : lengths[video_id]])
    return result


def predict_scores(
    model: FSENet, samples: dict[str, VideoSample], video_ids: Sequence[str], device: str, settings: PostprocessConfig,
    batch_size: int = 8, amp_dtype: torch.dtype | None = None,
) -> dict[str, VideoScores]:
    """video id -> :class:`VideoScores` of the model on `samples` (eval mode, whole videos)."""
    outputs = model_outputs(model, samples, video_ids, device, batch_size, amp_dtype)
    return {video_id: video_scores_from_output(cas, w_sent, settings) for video_id, (cas, w_sent) in outputs.items()}


def segments_from_scores(
    scores_by_video: dict[str, VideoScores], samples: dict[str, VideoSample], settings: PostprocessConfig,
    class_names: Sequence[str],
) -> dict[str, list[dict]]:
    """ActivityNet-style results: video id -> [{"label", "score", "segment": [start_s, end_s]}]."""
    results = {}
    for video_id, scores in scores_by_video.items():
        sample = samples[video_id]
        segments = localize_segments(scores.snippet_scores, sample.snippet_seconds, sample.duration_seconds, settings,
                                     video_scores=scores.class_scores)
        results[video_id] = [segment.to_result(class_names) for segment in segments]
    return results


def ground_truth_of(samples: dict[str, VideoSample], video_ids: Sequence[str],
                    class_names: Sequence[str]) -> dict[str, list[dict]]:
    """The samples' segments as ActivityNet ground truth: video id -> [{"label", "segment"}]."""
    return {
        video_id: [
            {"label": class_names[int(c)], "segment": [float(s), float(e)]} for s, e, c in samples[video_id].segments
        ]
        for video_id in video_ids
    }
