"""The `train` stage: features + point labels -> a checkpoint, resumable, seeded.

RUN_DIR/config.yaml        the resolved config
RUN_DIR/run.json           what was trained on (features path, annotations, dataset summary)
RUN_DIR/last.pt            written atomically after every epoch: weights, optimiser, RNG
                           states; rerunning the same command resumes from it
RUN_DIR/best.pt            the best epoch on the validation split (never the test split)
RUN_DIR/history.json       per-epoch losses, validation figures, epoch seconds
RUN_DIR/tensorboard/       TensorBoard scalars (loss terms per step, validation per check)

Model selection: average mAP over the validation split's segments when it has any, else
the validation loss. Mixed precision (bf16 by default) on CUDA only.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from cache.atomic import atomic_write_json
from extractors.visual import native_bf16
from model import FSENet, fsenet_loss
from pipeline.batching import Batch, collate, crop_sample, training_batches
from pipeline.config import Config, ConfigError, TrainConfig, config_to_dict, save_config, with_overrides
from pipeline.console import to_stderr
from pipeline.datasets import SentimentDataset, load_dataset
from pipeline.evaluation import evaluate_detections
from pipeline.inference import predict_cas, read_checkpoint, save_checkpoint, segments_from_cas


class RunError(Exception):
    """A run folder that cannot be used as asked."""


@dataclass
class TrainSummary:
    run_dir: Path
    epochs_run: int
    best_epoch: int | None
    best_metric: float | None
    selection_metric: str
    history: list[dict] = field(default_factory=list)


def autocast_dtype(config: TrainConfig, device: str) -> torch.dtype | None:
    """The autocast dtype for `device` (None: full precision).

    auto: bf16 where the hardware runs it natively (CUDA with bf16; CPUs with AVX512-BF16
    or AMX), else full precision. float16 only on CUDA.
    """
    on_cuda = torch.device(device).type == "cuda"
    if config.amp_dtype == "none":
        return None
    if config.amp_dtype == "auto":
        return torch.bfloat16 if native_bf16(device) else None
    if config.amp_dtype == "float16":
        if not on_cuda:
            raise ConfigError("train.amp_dtype=float16 needs a CUDA device; use bfloat16, auto or none on CPU")
        return torch.float16
    return torch.bfloat16


def set_cpu_threads(requested: int) -> None:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(requested or available)


def restrict_streams(config: Config, dataset: SentimentDataset) -> tuple[Config, str | None]:
    """Train on the configured streams the features have; a note when some are missing."""
    available = dataset.feature_spec["streams"]
    kept = tuple(name for name in config.model.streams if name in available)
    if not any(name in kept for name in ("visual", "audio")):
        raise ConfigError(
            f"the features hold streams {sorted(available)}; FSENet needs visual or audio "
            f"(model.streams = {list(config.model.streams)})"
        )
    if kept == config.model.streams:
        return config, None
    note = f"training on streams {list(kept)} (the features have no {[s for s in config.model.streams if s not in kept]})"
    return with_overrides(config, {"model": {"streams": list(kept)}}), note


def _loss(model: FSENet, batch: Batch, config: Config, amp: torch.dtype | None, device: str) -> dict[str, torch.Tensor]:
    with torch.autocast(device_type=torch.device(device).type, dtype=amp or torch.bfloat16, enabled=amp is not None):
        output = model(batch.features, batch.padding_mask, batch.face_mask)
    supervision = config.model.supervision
    return fsenet_loss(
        output,
        config.model,
        point_labels=batch.point_labels if supervision != "video" or batch.point_labels.mask.any() else None,
        video_labels=batch.video_labels,
        segment_masks=batch.segment_masks if supervision == "full" else None,
    )


@torch.no_grad()
def validation_loss(model: FSENet, dataset: SentimentDataset, video_ids: list[str], config: Config, device: str) -> float:
    model.eval()
    total, count = 0.0, 0
    streams, classes = config.model.streams, config.model.num_classes
    for start in range(0, len(video_ids), config.train.batch_size):
        samples = [dataset.samples[v] for v in video_ids[start : start + config.train.batch_size]]
        batch = collate(samples, streams, classes).to(device)
        total += float(_loss(model, batch, config, autocast_dtype(config.train, device), device)["total"]) * len(samples)
        count += len(samples)
    return total / max(count, 1)


def validation_map(model: FSENet, dataset: SentimentDataset, video_ids: list[str], config: Config, device: str) -> float:
    cas = predict_cas(model, dataset.samples, video_ids, device, config.train.batch_size, autocast_dtype(config.train, device))
    predictions = segments_from_cas(cas, dataset.samples, config, dataset.class_names)
    ground_truth = {
        video_id: [
            {"label": dataset.class_names[int(c)], "segment": [float(s), float(e)]}
            for s, e, c in dataset.samples[video_id].segments
        ]
        for video_id in video_ids
    }
    return evaluate_detections(predictions, ground_truth, labels=dataset.class_names).average_map


def _rng_state(generator: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "data": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _comparable(config_dict: dict) -> dict:
    """A run's config without the settings that may change on resume (epochs, threads)."""
    data = json.loads(json.dumps(config_dict))
    data["train"].pop("epochs", None)
    data["train"].pop("num_threads", None)
    return data


def run_train(
    features: Path,
    annotations: Path | None,
    run_dir: Path,
    config: Config,
    device: str,
    show_progress: bool = True,
    log=to_stderr,
) -> TrainSummary:
    set_cpu_threads(config.train.num_threads)
    dataset = load_dataset(Path(features), config.data, annotations)
    for line in dataset.problems[:20]:
        log(f"warning: {line}")
    if len(dataset.problems) > 20:
        log(f"warning: ... {len(dataset.problems) - 20} more problems (all in {Path(run_dir) / 'run.json'})")
    if dataset.feature_spec.get("random_weights"):
        log("warning: these features were extracted with RANDOM extractor weights; the model learns from noise-like features")
    config, note = restrict_streams(config, dataset)
    if note:
        log(f"note: {note}")
    config = with_overrides(config, {"model": {"num_classes": len(dataset.class_names)}})
    train_ids, validation_ids = dataset.splits.get("train", []), dataset.splits.get("validation", [])
    if not train_ids:
        raise RunError(f"{features}: no annotated training videos; check the annotations and class names")
    with_segments = [v for v in validation_ids if len(dataset.samples[v].segments)]
    metric = config.train.selection_metric
    if metric == "auto":
        metric = "map" if with_segments else "loss"
    if metric == "map" and not with_segments:
        raise RunError("train.selection_metric=map needs segments on the validation videos; use loss or auto")

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    stream_dims = {name: dataset.feature_spec["streams"][name] for name in config.model.streams}
    torch.manual_seed(config.train.seed)
    generator = torch.Generator().manual_seed(config.train.seed)
    model = FSENet(config.model, stream_dims).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.learning_rate, weight_decay=config.train.weight_decay)
    start_epoch, history, best_metric, best_epoch, step = 0, [], None, None, 0
    if last_path.exists():
        previous = read_checkpoint(last_path)
        if _comparable(previous["config"]) != _comparable(config_to_dict(config)):
            raise RunError(
                f"{run_dir} holds a run with another config; pass a new --out folder, or the same settings to resume"
            )
        model.load_state_dict(previous["model_state"])
        optimizer.load_state_dict(previous["optimizer_state"])
        _restore_rng(previous["rng_state"], generator)
        start_epoch, step = previous["epoch"], previous["global_step"]
        history, best_metric, best_epoch = previous["history"], previous["best_metric"], previous["best_epoch"]
        log(f"resuming {run_dir} after epoch {start_epoch}")
    save_config(config, run_dir / "config.yaml", "train")
    atomic_write_json(
        run_dir / "run.json",
        {
            "features": str(Path(features).resolve()),
            "annotations": str(Path(annotations).resolve()) if annotations else None,
            "device": device,
            "class_names": list(dataset.class_names),
            "feature_spec": dataset.feature_spec,
            "splits": {name: len(ids) for name, ids in dataset.splits.items()},
            "selection_metric": metric,
            "problems": dataset.problems,
        },
    )

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=step)
    amp = autocast_dtype(config.train, device)
    base_payload = {
        "stream_dims": stream_dims,
        "feature_spec": dataset.feature_spec,
        "class_names": list(dataset.class_names),
        "config": config_to_dict(config),
    }
    train_lengths = [dataset.samples[video_id].num_snippets for video_id in train_ids]
    epochs = range(start_epoch, config.train.epochs)
    bar = tqdm(epochs, initial=start_epoch, total=config.train.epochs, unit="epoch", desc="train", disable=not show_progress, file=sys.stderr)
    for epoch in bar:
        model.train()
        started = time.perf_counter()
        sums: dict[str, float] = {}
        batches = 0
        for indices in training_batches(train_lengths, config.train.batch_size, config.train.length_bucket_batches, generator):
            samples = [
                crop_sample(dataset.samples[train_ids[i]], config.train.max_train_snippets, generator) for i in indices
            ]
            batch = collate(samples, config.model.streams, config.model.num_classes).to(device)
            losses = _loss(model, batch, config, amp, device)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            if config.train.grad_clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip_norm)
            optimizer.step()
            step += 1
            for name, value in losses.items():
                value = float(value.detach())
                sums[name] = sums.get(name, 0.0) + value
                writer.add_scalar(f"loss/{name}", value, step)
            batches += 1
        record = {"epoch": epoch + 1, "seconds": time.perf_counter() - started}
        record.update({f"loss_{name}": total / batches for name, total in sums.items()})
        if not math.isfinite(record["loss_total"]):
            raise RunError(f"the loss became {record['loss_total']} at epoch {epoch + 1}; lower train.learning_rate")
        if (epoch + 1) % config.train.validate_every_epochs == 0 or epoch + 1 == config.train.epochs:
            if validation_ids:
                value = (
                    validation_map(model, dataset, with_segments, config, device)
                    if metric == "map"
                    else validation_loss(model, dataset, validation_ids, config, device)
                )
                record[f"validation_{metric}"] = value
                writer.add_scalar(f"validation/{metric}", value, step)
                better = best_metric is None or (value > best_metric if metric == "map" else value < best_metric)
                if better:
                    best_metric, best_epoch = value, epoch + 1
                    save_checkpoint(best_path, {**base_payload, "model_state": model.state_dict(), "epoch": epoch + 1, "best_metric": value})
        history.append(record)
        bar.set_postfix(loss=f"{record['loss_total']:.4f}", **({f"best_val_{metric}": f"{best_metric:.4f}"} if best_metric is not None else {}))
        save_checkpoint(
            last_path,
            {
                **base_payload,
                "model_state": model.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "rng_state": _rng_state(generator),
                "epoch": epoch + 1,
                "global_step": step,
                "history": history,
                "best_metric": best_metric,
                "best_epoch": best_epoch,
            },
        )
        atomic_write_json(run_dir / "history.json", history)
    writer.close()
    if not validation_ids:
        # No validation split: the last epoch is the model (said in run.json).
        save_checkpoint(best_path, {**base_payload, "model_state": model.state_dict(), "epoch": config.train.epochs, "best_metric": None})
    return TrainSummary(run_dir, config.train.epochs - start_epoch, best_epoch, best_metric, metric, history)

