"""A trained FSENet on samples: per-snippet scores (CAS) -> segments, and the ground truth
to score them against. Shared by training (validation mAP), `evaluate` and `localize`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from model import FSENet, FSENetOutput
from pipeline.config import PostprocessConfig
from pipeline.data.batching import collate, length_sorted_batches
from pipeline.data.samples import VideoSample
from pipeline.infer.postprocess import localize_segments


def localization_scores(output: FSENetOutput, score: str = "cas") -> torch.Tensor:
    """(B, T, C+1) scores post-processing localizes on (``postprocess.score``).

    "cas": the CAS y; "cas_fg": class columns y_c * (1 - y_bg), background column y_bg;
    "global": the global CAS y~ = [W_sent * y_c; (1 - W_sent) * y_bg].
    """
    if score == "cas":
        return output.cas
    if score == "global":
        return output.global_cas
    if score == "cas_fg":
        background = output.cas[..., -1:]
        return torch.cat([output.cas[..., :-1] * (1.0 - background), background], dim=-1)
    raise ValueError(f"score={score!r} is not allowed; allowed: cas, cas_fg, global")


@torch.no_grad()
def predict_cas(
    model: FSENet, samples: dict[str, VideoSample], video_ids: Sequence[str], device: str, batch_size: int = 8,
    amp_dtype: torch.dtype | None = None, score: str = "cas",
) -> dict[str, np.ndarray]:
    """Per-video scores to localize on: video id -> (T, C+1) float32 in [0, 1]; the class
    CAS by default, else as `score` (``postprocess.score``) says (see :func:`localization_scores`)."""
    model.eval()
    streams = model.config.streams
    lengths = {video_id: samples[video_id].num_snippets for video_id in video_ids}
    result = {}
    for batch_ids in length_sorted_batches(video_ids, lengths, batch_size):
        batch = collate([samples[v] for v in batch_ids], streams, model.config.num_classes, device).to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            output = model(batch.features, batch.padding_mask, batch.face_mask)
        cas = localization_scores(output, score).float().cpu().numpy()
        for row, video_id in enumerate(batch_ids):
            result[video_id] = cas[row, : lengths[video_id]]
    return result


def segments_from_cas(
    cas_by_video: dict[str, np.ndarray], samples: dict[str, VideoSample], settings: PostprocessConfig,
    class_names: Sequence[str],
) -> dict[str, list[dict]]:
    """ActivityNet-style results: video id -> [{"label", "score", "segment": [start_s, end_s]}]."""
    results = {}
    for video_id, cas in cas_by_video.items():
        sample = samples[video_id]
        segments = localize_segments(cas, sample.snippet_seconds, sample.duration_seconds, settings)
        results[video_id] = [segment.to_result(class_names) for segment in segments]
    return results


def ground_truth_of(samples: dict[str, VideoSample], video_ids: Sequence[str], class_names: Sequence[str]) -> dict[str, list[dict]]:
    """The samples' segments as ActivityNet ground truth: video id -> [{"label", "segment"}]."""
    return {
        video_id: [
            {"label": class_names[int(c)], "segment": [float(s), float(e)]} for s, e, c in samples[video_id].segments
        ]
        for video_id in video_ids
    }
