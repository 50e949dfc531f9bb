"""Checkpoints: what `train` writes and `evaluate` / `localize` load.

A checkpoint is one file that carries everything inference needs and nothing that
executes on load: the weights, the resolved config (model, post-processing, grid), the
feature spec the model was trained on (streams and widths, snippet grid, extractor
identities), and the class names. It loads with torch.load(weights_only=True).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch

from cache.atomic import atomic_write_bytes
from model import FSENet
from pipeline.config import Config, config_from_dict
from pipeline.data.feature_spec import FeatureSpec

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
    feature_spec: FeatureSpec
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
    return TrainedModel(model, config, tuple(checkpoint["class_names"]), FeatureSpec.from_dict(checkpoint["feature_spec"]), checkpoint)
