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

Several processes (`torchrun --nproc_per_node N cli.py train ...`, see
pipeline/train/distributed.py): train.batch_size stays the global batch. Every process draws the
same global batches and crops (same seeded generator) and trains on its share of each
(:func:`pipeline.train.distributed.shard_positions`); DistributedDataParallel sums the
gradients so that they equal one process's gradient of the global batch (see
:class:`ShardLoss`). Rank 0 alone validates, writes the run folder and shows progress.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from cache.atomic import atomic_write_json
from extractors.visual import native_bf16
from model import LOSS_TERMS, PART_TERMS, FSENet, LossPart, combine_loss_parts, fsenet_loss_parts
from pipeline.data.batching import Batch, collate, crop_sample, resident_bytes, resident_features, training_batches
from pipeline.config import Config, ConfigError, TrainConfig, config_to_dict, save_config, with_overrides
from pipeline.console import to_stderr
from pipeline.data.samples import SentimentDataset, VideoSample, load_dataset
from pipeline.train.distributed import DistributedContext
from pipeline.infer.metrics import evaluate_detections
from pipeline.infer.checkpoint import predict_cas, read_checkpoint, save_checkpoint, segments_from_cas


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


def set_cpu_threads(requested: int, processes_here: int = 1) -> None:
    """`requested` torch threads; 0: this process's share of the cores it may use."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(requested or max(1, available // processes_here))


def keep_features_on_device(config: TrainConfig, samples: dict, streams, device: str) -> bool:
    """train.features_on_device: always, never, or auto (on CUDA when they fit in half its free memory)."""
    if config.features_on_device != "auto":
        return config.features_on_device == "always"
    if torch.device(device).type != "cuda":
        return False  # on the CPU the arrays are already where the model runs
    free_bytes, _ = torch.cuda.mem_get_info(torch.device(device))
    return resident_bytes(samples, streams) < free_bytes // 2


def pad_multiple(config: TrainConfig, device: str) -> int:
    """train.pad_multiple_snippets, with 0 resolved: 64 on CUDA, 1 (no rounding) elsewhere."""
    return config.pad_multiple_snippets or (64 if torch.device(device).type == "cuda" else 1)


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


def _loss_parts(model: FSENet, batch: Batch, config: Config, amp: torch.dtype | None, device: str) -> dict[str, LossPart]:
    with torch.autocast(device_type=torch.device(device).type, dtype=amp or torch.bfloat16, enabled=amp is not None):
        output = model(batch.features, batch.padding_mask, batch.face_mask)
    supervision = config.model.supervision
    return fsenet_loss_parts(
        output,
        config.model,
        point_labels=batch.point_labels if supervision != "video" or batch.point_labels.mask.any() else None,
        video_labels=batch.video_labels,
        segment_masks=batch.segment_masks if supervision == "full" else None,
    )


def _loss(model: FSENet, batch: Batch, config: Config, amp: torch.dtype | None, device: str) -> dict[str, torch.Tensor]:
    return combine_loss_parts(_loss_parts(model, batch, config, amp, device), config.model)


class ShardLoss(nn.Module):
    """FSENet and its loss on this process's share of a global batch, as one module.

    Every loss term is a sum over videos or snippets divided by a count over the batch
    (videos; labelled snippets; videos with a PSSC term), and nothing else couples the
    videos of a batch (PSSC's sets and prototypes are per video). So each process divides
    its shard's sums by the counts of the whole global batch (summed over the processes
    here, in the forward pass): the terms of all shards add up to exactly the terms one
    process computes on the global batch. `weight` 0 makes a stand-in shard count for
    nothing. For one process this is plain FSENet + fsenet_loss.

    DistributedDataParallel wraps this module rather than FSENet, so that its outputs
    are the loss terms alone: parameters the configured loss never reaches (GSP under
    video supervision, ...) then count as unused instead of being waited for.
    """

    def __init__(self, model: FSENet, config: Config, amp: torch.dtype | None, distributed: DistributedContext):
        super().__init__()
        self.model = model
        self.config = config
        self.amp = amp
        self.distributed = distributed

    def forward(self, batch: Batch, weight: float = 1.0) -> dict[str, torch.Tensor]:
        parts = _loss_parts(self.model, batch, self.config, self.amp, self.distributed.device)
        if weight != 1.0:
            parts = {name: LossPart(part.total * weight, part.count * weight) for name, part in parts.items()}
        counts = self.distributed.sum_over_ranks(torch.stack([parts[name].count for name in PART_TERMS]))
        return combine_loss_parts(parts, self.config.model, dict(zip(PART_TERMS, counts, strict=True)))


def own_shard(global_batch: list[VideoSample], distributed: DistributedContext) -> tuple[list[VideoSample], float]:
    """This process's share of a global batch and its loss weight (1).

    A process whose share is empty (a batch with fewer videos than processes) runs the
    batch's first video with weight 0: it joins the gradient all-reduce and adds nothing.
    """
    shard = distributed.shard(global_batch)
    return (shard, 1.0) if shard else (global_batch[:1], 0.0)


def _wrap_for_processes(step_loss: ShardLoss, distributed: DistributedContext) -> nn.Module:
    """DistributedDataParallel around `step_loss` when several processes train; else itself."""
    if not distributed.is_distributed:
        return step_loss
    device = torch.device(distributed.device)
    # static_graph: the same parameters take part in every step (the config decides which)
    return DistributedDataParallel(
        step_loss, device_ids=[device.index] if device.type == "cuda" else None, static_graph=True
    )


def _dropout_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of the dropout draws of one process in one epoch (several processes only)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, dtype=np.uint64)[0] >> 1)


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


def _checksum(video_ids: list[str]) -> int:
    """CRC-32 of a list of video ids (exact in a float64, for comparing processes)."""
    return zlib.crc32("\n".join(video_ids).encode("utf-8"))


def _silent(*_lines) -> None:
    """The log of processes other than rank 0."""


def _comparable(config_dict: dict) -> dict:
    """A run's config without the settings that may change on resume (epochs, threads)."""
    data = json.loads(json.dumps(config_dict))
    data["train"].pop("epochs", None)
    data["train"].pop("num_threads", None)
    data["train"].pop("features_on_device", None)
    data["train"].pop("pad_multiple_snippets", None)
    return data


def run_train(
    features: Path,
    annotations: Path | None,
    run_dir: Path,
    config: Config,
    device: str,
    show_progress: bool = True,
    log=to_stderr,
    distributed: DistributedContext | None = None,
) -> TrainSummary:
    """Train FSENet on `features` into `run_dir` (resuming from its last.pt).

    `distributed`: this process's place under torchrun (None: a single process on
    `device`); the device must be ``distributed.device``.
    """
    distributed = distributed or DistributedContext(device=device)
    if distributed.device != device:
        raise ValueError(f"device {device!r} differs from this process's device {distributed.device!r}")
    world_size = distributed.world_size
    if config.train.batch_size < world_size:
        raise RunError(
            f"train.batch_size={config.train.batch_size} is the global batch (videos per step over all processes); "
            f"with {world_size} processes it must be at least {world_size}"
        )
    if not distributed.is_main:
        show_progress, log = False, _silent
    set_cpu_threads(config.train.num_threads, distributed.local_world_size)
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
    if distributed.is_main:
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
    if not distributed.agree([start_epoch, step, _checksum(train_ids), _checksum(validation_ids)]):
        raise RunError(
            "the processes see different training videos or resume states; --features, --annotations and --out "
            "must be the same folders for every process (on several machines: a shared filesystem)"
        )
    if distributed.is_main:
        save_config(config, run_dir / "config.yaml", "train")
        atomic_write_json(
            run_dir / "run.json",
            {
                "features": str(Path(features).resolve()),
                "annotations": str(Path(annotations).resolve()) if annotations else None,
                "device": device,
                **({"processes": world_size, "backend": distributed.backend} if distributed.is_distributed else {}),
                "class_names": list(dataset.class_names),
                "feature_spec": dataset.feature_spec,
                "splits": {name: len(ids) for name, ids in dataset.splits.items()},
                "selection_metric": metric,
                "problems": dataset.problems,
            },
        )
    distributed.barrier()  # every process has read last.pt before rank 0 may replace it

    writer = None
    if distributed.is_main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=step)
    amp = autocast_dtype(config.train, device)
    step_loss = _wrap_for_processes(ShardLoss(model, config, amp, distributed), distributed)
    base_payload = {
        "stream_dims": stream_dims,
        "feature_spec": dataset.feature_spec,
        "class_names": list(dataset.class_names),
        "config": config_to_dict(config),
    }
    train_lengths = [dataset.samples[video_id].num_snippets for video_id in train_ids]
    train_samples = {video_id: dataset.samples[video_id] for video_id in train_ids}
    if keep_features_on_device(config.train, train_samples, config.model.streams, device):
        train_samples = resident_features(train_samples, config.model.streams, device)
    batch_multiple = pad_multiple(config.train, device)
    epochs = range(start_epoch, config.train.epochs)
    bar = tqdm(epochs, initial=start_epoch, total=config.train.epochs, unit="epoch", desc="train", disable=not show_progress, file=sys.stderr)
    for epoch in bar:
        step_loss.train()
        if distributed.is_distributed:
            torch.manual_seed(_dropout_seed(config.train.seed, epoch, distributed.rank))
        started = time.perf_counter()
        sums: dict[str, float] = {}
        batches = 0
        for indices in training_batches(train_lengths, config.train.batch_size, config.train.length_bucket_batches, generator):
            # every process draws the crops of the whole global batch: the generator stays in step everywhere
            samples = [
                crop_sample(train_samples[train_ids[i]], config.train.max_train_snippets, generator) for i in indices
            ]
            shard, weight = own_shard(samples, distributed)
            batch = collate(shard, config.model.streams, config.model.num_classes, device, batch_multiple).to(device)
            losses = step_loss(batch, weight)
            optimizer.zero_grad(set_to_none=True)
            # DDP averages the gradients over the processes; times world_size makes that their sum,
            # the gradient of the global batch's loss (each process holds its share of that loss)
            (losses["total"] * world_size if world_size > 1 else losses["total"]).backward()
            if config.train.grad_clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip_norm)
            optimizer.step()
            step += 1
            values = distributed.sum_over_ranks(torch.stack([losses[name].detach() for name in LOSS_TERMS]))
            for name, value in zip(LOSS_TERMS, values.tolist(), strict=True):
                sums[name] = sums.get(name, 0.0) + value
                if writer is not None:
                    writer.add_scalar(f"loss/{name}", value, step)
            batches += 1
        record = {"epoch": epoch + 1, "seconds": time.perf_counter() - started}
        record.update({f"loss_{name}": total / batches for name, total in sums.items()})
        if not math.isfinite(record["loss_total"]):
            raise RunError(f"the loss became {record['loss_total']} at epoch {epoch + 1}; lower train.learning_rate")
        if (epoch + 1) % config.train.validate_every_epochs == 0 or epoch + 1 == config.train.epochs:
            if validation_ids:
                value = None
                if distributed.is_main:  # the others wait in the broadcast
                    value = (
                        validation_map(model, dataset, with_segments, config, device)
                        if metric == "map"
                        else validation_loss(model, dataset, validation_ids, config, device)
                    )
                value = distributed.broadcast_from_main(value)  # every process agrees on the best epoch
                record[f"validation_{metric}"] = value
                if writer is not None:
                    writer.add_scalar(f"validation/{metric}", value, step)
                better = best_metric is None or (value > best_metric if metric == "map" else value < best_metric)
                if better:
                    best_metric, best_epoch = value, epoch + 1
                    if distributed.is_main:
                        save_checkpoint(best_path, {**base_payload, "model_state": model.state_dict(), "epoch": epoch + 1, "best_metric": value})
        history.append(record)
        bar.set_postfix(loss=f"{record['loss_total']:.4f}", **({f"best_val_{metric}": f"{best_metric:.4f}"} if best_metric is not None else {}))
        if distributed.is_main:
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
    if writer is not None:
        writer.close()
    if not validation_ids and distributed.is_main:
        # No validation split: the last epoch is the model (said in run.json).
        save_checkpoint(best_path, {**base_payload, "model_state": model.state_dict(), "epoch": config.train.epochs, "best_metric": None})
    distributed.barrier()  # rank 0's files are complete when any process returns
    return TrainSummary(run_dir, config.train.epochs - start_epoch, best_epoch, best_metric, metric, history)

