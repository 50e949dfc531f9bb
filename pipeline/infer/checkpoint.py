"""Checkpoints: what `train` writes and `evaluate` / `localize` load.

A checkpoint is one file that carries everything inference needs and nothing that
executes on load: the weights, the resolved config (model, post-processing, grid), the
feature spec the model was trained on (streams and widths, snippet grid, extractor
identities), and the class names. It loads with torch.load(weights_only=True).
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cache.atomic import atomic_write_bytes
from extractors.weights import inflated_size_problem
from model import FSENet
from pipeline.config import Config, ConfigError, config_from_dict, saved_config, with_overrides
from pipeline.config.infer import InferConfig
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
    bomb = inflated_size_problem(path)  # before torch.load inflates anything
    if bomb:
        raise CheckpointError(f"{path}: not a readable checkpoint: {bomb}; pass a file written by `train`")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors of many kinds
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(error).__name__}); train again or fix the path"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an fsenet checkpoint")
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {checkpoint.get('version')}, this "
                              f"code reads {CHECKPOINT_VERSION}")
    return checkpoint


@dataclass
class TrainedModel:
    model: FSENet
    config: Config  # the checkpoint's, with the caller's post-processing settings over its own and the caller's infer
    class_names: tuple[str, ...]
    feature_spec: FeatureSpec
    checkpoint: dict
    notes: list[str] = field(default_factory=list)  # what loading decided, one line each (legacy defaults, overrides)

    @property
    def streams(self) -> tuple[str, ...]:
        return self.config.model.streams


# what inference needs in a checkpoint: key -> its type
INFERENCE_KEYS: dict[str, type] = {"config": dict, "stream_dims": dict, "model_state": dict, "class_names": list,
                                   "feature_spec": dict}


def missing_keys(checkpoint: dict, required: dict[str, type]) -> str | None:
    """None when `checkpoint` has every key of `required` with its type, else which not."""
    wrong = [key for key, kind in required.items() if not isinstance(checkpoint.get(key), kind)]
    return f"missing or malformed {', '.join(repr(key) for key in wrong)}" if wrong else None


def short_reason(error: BaseException) -> str:
    """An exception's message on one line (load_state_dict's lists every tensor on its own line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Error(s) in loading state_dict")] or lines
    text = "; ".join(lines) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# Inference settings whose default changed after checkpoints were saved without them: a
# checkpoint that lacks the key keeps the behaviour it was trained and selected with.
# before postprocess.score existed, segments came from the raw CAS
LEGACY_POSTPROCESS: dict[str, object] = {"score": "cas"}


def _checkpoint_config(checkpoint: dict, postprocess_overrides: dict, infer: InferConfig) -> tuple[Config, list[str]]:
    """The checkpoint's config: legacy defaults for post-processing keys it lacks, then the
    caller's post-processing settings (inference-time: they win over the checkpoint's), and
    the caller's `infer` section in place of the checkpoint's (how this machine runs it)."""
    data = dict(checkpoint["config"])
    saved = data.get("postprocess") if isinstance(data.get("postprocess"), dict) else {}
    legacy = {key: value for key, value in LEGACY_POSTPROCESS.items() if key not in saved}
    data["postprocess"] = {**saved, **legacy}
    config, notes = saved_config(data)
    notes += [f"note: this checkpoint predates postprocess.{key}; it keeps {value!r}, as it was trained and selected "
              f"with (--set postprocess.{key}=... to change it)" for key, value in legacy.items()
              if key not in postprocess_overrides]
    if postprocess_overrides:
        config = with_overrides(config, {"postprocess": postprocess_overrides})
        shown = ", ".join(f"{key}={value}" for key, value in sorted(postprocess_overrides.items()))
        notes.append(f"note: post-processing from the command line over the checkpoint's: {shown}")
    return dataclasses.replace(config, infer=infer), notes


def _build_model(checkpoint: dict, device: str, postprocess_overrides: dict, infer: InferConfig) -> TrainedModel:
    config, notes = _checkpoint_config(checkpoint, postprocess_overrides, infer)
    class_names = tuple(str(name) for name in checkpoint["class_names"])
    if len(class_names) != config.model.num_classes:
        raise ValueError(f"{len(class_names)} class names for a model of {config.model.num_classes} classes")
    model = FSENet(config.model, {str(k): int(v) for k, v in checkpoint["stream_dims"].items()})
    model.load_state_dict(checkpoint["model_state"])
    model.to(device).eval()
    return TrainedModel(model, config, class_names, FeatureSpec.from_dict(checkpoint["feature_spec"]),
                        checkpoint, notes)


def load_trained_model(path: Path, device: str, postprocess_overrides: dict | None = None,
                       infer: InferConfig | None = None) -> TrainedModel:
    """The model of a checkpoint written by `train`; CheckpointError (one line) when the
    file is not one, or its contents do not make a model (missing keys, tensors of other
    shapes than its config describes).

    postprocess_overrides: ``postprocess`` settings the user gave (``--set postprocess.KEY=...``
    or a --config file's postprocess section); post-processing is inference-time, so they
    replace the checkpoint's values (said in ``TrainedModel.notes``). An invalid one is a ConfigError.
    infer: this machine's `infer` section (default: its defaults); ``TrainedModel.config.infer`` is it.
    """
    checkpoint = read_checkpoint(path)
    problem = missing_keys(checkpoint, INFERENCE_KEYS)
    postprocess_overrides = dict(postprocess_overrides or {})
    if postprocess_overrides:
        config_from_dict({"postprocess": postprocess_overrides})  # the user's mistake is theirs, not the checkpoint's
    try:
        if problem:
            raise ValueError(problem)
        return _build_model(checkpoint, device, postprocess_overrides, infer or InferConfig())
    except (ConfigError, KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: damaged or incompatible checkpoint ({short_reason(error)}); "
                              "pass a checkpoint written by `train`, or train again") from None
