"""The run folder `train` writes and resumes from.

RUN_DIR/config.yaml        the resolved config
RUN_DIR/run.json           what was trained on (features path, annotations, dataset summary)
RUN_DIR/last.pt            written atomically after every epoch: weights, optimiser, RNG
                           states, a digest of the training data; rerunning the same command
                           resumes from it (the same config and the same data only)
RUN_DIR/best.pt            the best epoch on the validation split (never the test split)
RUN_DIR/history.json       per-epoch losses, validation figures, epoch seconds
RUN_DIR/tensorboard/       TensorBoard scalars (loss terms per step, validation per check)
RUN_DIR/refit.pt           with train.refit: a new model trained on train + validation for
                           best.pt's epoch count (same config and seed; same format as best.pt)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cache.atomic import atomic_write_json, remove_stale_temp_files
from pipeline.config import Config, ConfigError, config_to_dict, save_config, saved_config
from pipeline.data.samples import SentimentDataset
from pipeline.infer.checkpoint import CheckpointError, missing_keys, read_checkpoint, save_checkpoint, short_reason
from pipeline.train.distributed import DistributedContext

# The sections a run's training depends on, compared when it resumes: the model, its data, its
# optimisation, and the post-processing that validation mAP (which picks best.pt) runs through.
# The rest may change: extraction (the features are compared by their digest instead:
# training_data_digest), inference (`infer`), what `localize` shows.
TRAINING_SECTIONS: tuple[str, ...] = ("model", "data", "train", "postprocess")
# settings of `train` that may change when a run resumes (they change neither the data nor the model)
RESUMABLE_CHANGES: tuple[str, ...] = ("epochs", "num_threads", "features_on_device", "pad_multiple_snippets",
                                      "diagnostics_splits", "early_stopping_patience", "early_stopping_min_delta",
                                      "early_stopping_start_epoch", "refit")


# what resuming needs in last.pt besides what inference needs: key -> its type
RESUME_KEYS: dict[str, type] = {"config": dict, "model_state": dict, "optimizer_state": dict, "rng_state": dict,
                                "epoch": int, "global_step": int, "history": list}


class RunError(Exception):
    """A run folder that cannot be used as asked."""


class _OtherRun(RunError):
    """last.pt holds another run: `what` differs ("config", "annotations", "features", ...)."""

    def __init__(self, what: str):
        super().__init__(f"holds a run with another {what}")
        self.what = what


@dataclass
class RunState:
    """Where a run stands after `epoch` epochs (0: not started)."""

    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None


def _comparable(config_dict: dict) -> dict | None:
    """What of a run's config its training depends on (TRAINING_SECTIONS, without the
    RESUMABLE_CHANGES), as this version reads it (settings added since it was saved take
    their defaults); None when it no longer loads."""
    try:
        saved = config_to_dict(saved_config(json.loads(json.dumps(config_dict)))[0])
    except ConfigError:
        return None
    data = {name: saved[name] for name in TRAINING_SECTIONS}
    for name in RESUMABLE_CHANGES:
        data["train"].pop(name, None)
    return data


def _update(digest, array: np.ndarray | None) -> None:
    """Feed an array (its dtype, shape and bytes) to a hashlib digest; None counts too."""
    if array is None:
        digest.update(b"none;")
        return
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape};".encode())
    digest.update(array.data)


def training_data_digest(dataset: SentimentDataset) -> dict[str, str]:
    """What a run trains on, as two sha256 digests (hex): "annotations" (the class names,
    each video's points, segments and video labels, the splits) and "features" (each
    video's arrays per stream, face mask and grid). The same data from another path gives
    the same digests; one label moved or one value changed gives others."""
    annotations, features = hashlib.sha256(), hashlib.sha256()
    annotations.update(json.dumps([list(dataset.class_names), dataset.splits], sort_keys=True).encode())
    for video_id in sorted(dataset.samples):
        sample = dataset.samples[video_id]
        for digest in (annotations, features):
            digest.update(json.dumps(video_id).encode())
        for array in (sample.points, sample.point_seconds, sample.segments, sample.video_labels):
            _update(annotations, array)
        features.update(f"{sample.snippet_seconds!r};{sample.duration_seconds!r};".encode())
        for stream in sorted(sample.features):
            features.update(stream.encode())
            _update(features, sample.features[stream])
        _update(features, sample.face_mask)
    return {"annotations": annotations.hexdigest(), "features": features.hexdigest()}


def rng_state(generator: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "data": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _other_data(previous: dict, training_data: dict | None) -> str | None:
    """"annotations", "features" or "annotations and features": what the run in last.pt
    trained on that differs from `training_data` (training_data_digest); None when nothing
    does, or when either side has no digest (a last.pt of an earlier version)."""
    recorded = previous.get("training_data")
    if not isinstance(recorded, dict) or training_data is None:
        return None
    differ = [kind for kind in ("annotations", "features") if recorded.get(kind) != training_data.get(kind)]
    return " and ".join(differ) or None


def _load_resume_state(previous: dict, config: Config, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       generator: torch.Generator, training_data: dict | None = None) -> RunState:
    """RunState from a parsed last.pt, its weights, optimiser and RNG states loaded;
    ValueError/KeyError/TypeError/RuntimeError when it is damaged; RunError for another
    config, or for other training data (other annotations or features: `training_data`)."""
    problem = missing_keys(previous, RESUME_KEYS)
    if problem:
        raise ValueError(problem)
    if _comparable(previous["config"]) != _comparable(config_to_dict(config)):
        raise _OtherRun("config")
    other = _other_data(previous, training_data)
    if other:
        raise _OtherRun(other)
    model.load_state_dict(previous["model_state"])
    optimizer.load_state_dict(previous["optimizer_state"])
    _restore_rng(previous["rng_state"], generator)
    return RunState(previous["epoch"], previous["global_step"], previous["history"], previous.get("best_metric"),
                    previous.get("best_epoch"))


def resume(run_dir: Path, config: Config, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
           generator: torch.Generator, log, training_data: dict | None = None) -> RunState:
    """The state of RUN_DIR/last.pt loaded into model, optimiser and generator; a fresh
    state when there is none. A last.pt of another config or of other training data (the
    `training_data` digests differ: other annotations or features), or one that cannot be
    read (truncated, missing keys, tensors of other shapes), is a RunError saying how to go on."""
    last_path = Path(run_dir) / "last.pt"
    if not last_path.exists():
        return RunState()
    try:
        state = _load_resume_state(read_checkpoint(last_path), config, model, optimizer, generator, training_data)
    except _OtherRun as other:
        if other.what == "config":
            raise RunError(f"{run_dir} holds a run with another config; pass a new --out folder, or the same settings "
                           "to resume") from None
        raise RunError(f"{run_dir} holds a run trained on other {other.what} (the same settings): its best.pt is "
                       "that data's model; pass a new --out folder to train on these, or the same --features and "
                       "--annotations to resume") from None
    except (CheckpointError, KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = (str(error).removeprefix(f"{last_path}: ").split(";")[0] if isinstance(error, CheckpointError)
                  else short_reason(error))
        raise RunError(
            f"{last_path}: cannot resume from it ({reason}); to train this run again from epoch 0, move it away "
            f"(mv '{last_path}' '{last_path}.damaged'; best.pt stays until a better epoch replaces it), "
            "or pass a new --out folder"
        ) from None
    log(f"resuming {run_dir} after epoch {state.epoch}")
    return state


def remove_stale_temp_files_of_run(run_dir: Path, log) -> None:
    """Temp files a killed run left in RUN_DIR (a SIGKILL while last.pt was written leaves
    `.last.pt.tmp-PID-*`, as large as the checkpoint): removed, with a note, when their
    writer is gone (cache/atomic.py remove_stale_temp_files)."""
    removed = remove_stale_temp_files(Path(run_dir))
    if removed:
        megabytes = sum(removed.values()) / 2**20
        log(f"note: removed {len(removed)} temp file(s) ({megabytes:.1f} MiB) an interrupted run left in {run_dir}")


def write_run_info(run_dir: Path, config: Config, features: Path, annotations: Path | None, device: str,
                   distributed: DistributedContext, dataset: SentimentDataset, metric: str) -> None:
    """config.yaml and run.json: what this run trains on and how."""
    save_config(config, run_dir / "config.yaml", "train")
    atomic_write_json(
        run_dir / "run.json",
        {
            "features": str(Path(features).resolve()),
            "annotations": str(Path(annotations).resolve()) if annotations else None,
            "device": device,
            **({"processes": distributed.world_size, "backend": distributed.backend}
               if distributed.is_distributed else {}),
            "class_names": list(dataset.class_names),
            "feature_spec": dataset.feature_spec.to_dict(),
            "splits": {name: len(ids) for name, ids in dataset.splits.items()},
            "selection_metric": metric,
            "problems": dataset.problems,
        },
    )


def record_stop(run_dir: Path, stop: dict) -> None:
    """Add how the run ended to RUN_DIR/run.json: {"epoch", "reason", "best_epoch", "best_metric"}."""
    path = Path(run_dir) / "run.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    atomic_write_json(path, {**info, "stopped": stop})


def checkpoint_header(config: Config, dataset: SentimentDataset) -> dict:
    """What every checkpoint of a run carries besides weights: the model's stream widths,
    the feature spec, the class names, the resolved config and the training data's digests."""
    return {
        "stream_dims": {name: dataset.feature_spec.streams[name] for name in config.model.streams},
        "feature_spec": dataset.feature_spec.to_dict(),
        "class_names": list(dataset.class_names),
        "config": config_to_dict(config),
        "training_data": training_data_digest(dataset),  # resume compares it (other annotations or features)
    }


def save_best(run_dir: Path, header: dict, model: torch.nn.Module, epoch: int, metric: float | None) -> None:
    save_checkpoint(run_dir / "best.pt",
                    {**header, "model_state": model.state_dict(), "epoch": epoch, "best_metric": metric})


def save_refit(run_dir: Path, header: dict, model: torch.nn.Module, epochs: int, videos: int) -> Path:
    """refit.pt: a best.pt-shaped checkpoint of the model refitted on train + validation."""
    path = run_dir / "refit.pt"
    save_checkpoint(path, {**header, "model_state": model.state_dict(), "epoch": epochs, "best_metric": None,
                           "refit": {"epochs": epochs, "training_videos": videos}})
    return path


def refit_done(run_dir: Path, epochs: int) -> bool:
    """True when RUN_DIR/refit.pt exists and was refitted for `epochs` epochs."""
    path = run_dir / "refit.pt"
    if not path.is_file():
        return False
    try:
        return read_checkpoint(path).get("refit", {}).get("epochs") == epochs
    except CheckpointError:
        return False  # damaged: refit again


def save_last(run_dir: Path, header: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
              generator: torch.Generator, state: RunState) -> None:
    """last.pt (everything to resume) and history.json, after epoch `state.epoch`."""
    save_checkpoint(
        run_dir / "last.pt",
        {
            **header,
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "rng_state": rng_state(generator),
            "epoch": state.epoch,
            "global_step": state.step,
            "history": state.history,
            "best_metric": state.best_metric,
            "best_epoch": state.best_epoch,
        },
    )
    atomic_write_json(run_dir / "history.json", state.history)
