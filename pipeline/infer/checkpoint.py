"""Checkpoints and inference: a trained FSENet -> per-snippet scores -> segments.

A checkpoint is one file that carries everything inference needs and nothing that
executes on load: the weights, the resolved config (model, post-processing, grid), the
feature spec the model was trained on (streams and widths, snippet grid, extractor
identities), and the class names. It loads with torch.load(weights_only=True).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cache.atomic import atomic_write_bytes
from model import FSENet
from pipeline.data.batching import collate, length_sorted_batches
from pipeline.config import Config, config_from_dict
from pipeline.data.samples import VideoSample
from pipeline.infer.postprocess import localize_segments

CHECKPOINT_FORMAT = "fsenet-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message says why and what to do."""


def save_checkpoint(path: Path, payload: dict) -> None:
    """torch.save to memory, then an atomic write (a killed run never leaves half a file)."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def read_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint; pass a file written by `train` (RUN_DIR/best.pt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors of many kinds
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}); train again or fix the path") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an fsenet checkpoint")
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {checkpoint.get('version')}, this code reads {CHECKPOINT_VERSION}")
    return checkpoint


@dataclass
class TrainedModel:
    model: FSENet
    config: Config
    class_names: tuple[str, ...]
    feature_spec: dict
    checkpoint: dict

    @property
    def streams(self) -> tuple[str, ...]:
        return self.config.model.streams


def load_trained_model(path: Path, device: str) -> TrainedModel:
    checkpoint = read_checkpoint(path)
    config = config_from_dict(checkpoint["config"])
    model = FSENet(config.model, checkpoint["stream_dims"])
    model.load_state_dict(checkpoint["model_state"])
    model.to(device).eval()
    return TrainedModel(model, config, tuple(checkpoint["class_names"]), checkpoint["feature_spec"], checkpoint)


@torch.no_grad()
def predict_cas(
    model: FSENet, samples: dict[str, VideoSample], video_ids: Sequence[str], device: str, batch_size: int = 8,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, np.ndarray]:
    """Per-video class activation sequences: video id -> (T, C+1) float32 in [0, 1]."""
    model.eval()
    streams = model.config.streams
    lengths = {video_id: samples[video_id].num_snippets for video_id in video_ids}
    result = {}
    for batch_ids in length_sorted_batches(video_ids, lengths, batch_size):
        batch = collate([samples[v] for v in batch_ids], streams, model.config.num_classes, device).to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            output = model(batch.features, batch.padding_mask, batch.face_mask)
        cas = output.cas.float().cpu().numpy()
        for row, video_id in enumerate(batch_ids):
            result[video_id] = cas[row, : lengths[video_id]]
    return result


def segments_from_cas(
    cas_by_video: dict[str, np.ndarray], samples: dict[str, VideoSample], config: Config, class_names: Sequence[str]
) -> dict[str, list[dict]]:
    """ActivityNet-style results: video id -> [{"label", "score", "segment": [start_s, end_s]}]."""
    results = {}
    for video_id, cas in cas_by_video.items():
        sample = samples[video_id]
        segments = localize_segments(cas, sample.snippet_seconds, sample.duration_seconds, config.postprocess)
        results[video_id] = [segment.to_result(class_names) for segment in segments]
    return results
