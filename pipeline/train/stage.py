"""The `train` stage: features + point labels -> a checkpoint, resumable, seeded.

The run folder's files are described in pipeline/train/run_folder.py. Model selection:
average mAP over the validation split's segments when it has any, else the validation
loss. Mixed precision per train.amp_dtype (bf16 where the hardware runs it natively).

Several processes (`torchrun --nproc_per_node N cli.py train ...`, see
pipeline/train/distributed.py): train.batch_size stays the global batch. Every process
draws the same global batches and crops (same seeded generator) and trains on its share of
each (:func:`pipeline.train.distributed.shard_positions`); DistributedDataParallel sums the
gradients so that they equal one process's gradient of the global batch (see
:class:`pipeline.train.shard_loss.ShardLoss`). Rank 0 alone validates, writes the run
folder and shows progress.
"""

from __future__ import annotations

import math
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tqdm import tqdm

from model import LOSS_TERMS, FSENet
from model.streams import GUIDED_STREAMS
from pipeline.config import Config, ConfigError, with_overrides
from pipeline.console import printable, random_weights_warning, to_stderr
from pipeline.data.batching import collate, crop_sample, resident_bytes, resident_features, training_batches
from pipeline.data.samples import SentimentDataset, VideoSample
from pipeline.data.sources import load_dataset
from pipeline.devices import autocast_dtype, device_line, precision_name, set_cpu_threads
from pipeline.output_folder import check_output_folder
from pipeline.train.diagnostics import epoch_diagnostics
from pipeline.train.distributed import DistributedContext
from pipeline.train.run_folder import (
    RunError,
    RunState,
    checkpoint_header,
    record_stop,
    refit_done,
    remove_stale_temp_files_of_run,
    resume,
    save_best,
    save_last,
    save_refit,
    write_run_info,
)
from pipeline.train.schedule import learning_rate_at, stop_reason
from pipeline.train.shard_loss import ShardLoss, dropout_seed, own_shard, wrap_for_processes
from pipeline.train.validate import validation_loss, validation_map

__all__ = ["RunError", "TrainSummary", "run_train"]


@dataclass
class TrainSummary:
    run_dir: Path
    epochs_run: int
    best_epoch: int | None
    best_metric: float | None
    selection_metric: str
    history: list[dict] = field(default_factory=list)
    refit_path: Path | None = None  # RUN_DIR/refit.pt when train.refit made it


@dataclass
class _Training:
    """What one run carries from epoch to epoch."""

    config: Config
    dataset: SentimentDataset
    run_dir: Path
    device: str
    distributed: DistributedContext
    metric: str  # "map" | "loss"
    model: FSENet
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    state: RunState
    header: dict  # what every checkpoint carries besides the weights
    writer: object | None = None  # TensorBoard SummaryWriter on rank 0

    @property
    def train_ids(self) -> list[str]:
        return self.dataset.splits.get("train", [])

    @property
    def validation_ids(self) -> list[str]:
        return self.dataset.splits.get("validation", [])


def keep_features_on_device(config: Config, samples: dict, device: str) -> bool:
    """train.features_on_device: always, never, or auto (on CUDA when they fit in half its free memory)."""
    if config.train.features_on_device != "auto":
        return config.train.features_on_device == "always"
    if torch.device(device).type != "cuda":
        return False  # on the CPU the arrays are already where the model runs
    free_bytes, _ = torch.cuda.mem_get_info(torch.device(device))
    return resident_bytes(samples, config.model.streams) < free_bytes // 2


def pad_multiple(config: Config, device: str) -> int:
    """train.pad_multiple_snippets, with 0 resolved: 64 on CUDA, 1 (no rounding) elsewhere."""
    return config.train.pad_multiple_snippets or (64 if torch.device(device).type == "cuda" else 1)


def restrict_streams(config: Config, dataset: SentimentDataset) -> tuple[Config, str | None]:
    """Train on the configured streams the features have; a note when some are missing."""
    available = dataset.feature_spec.streams
    kept = tuple(name for name in config.model.streams if name in available)
    if not any(name in kept for name in GUIDED_STREAMS):
        raise ConfigError(
            f"the features hold streams {sorted(available)}; FSENet needs {' or '.join(GUIDED_STREAMS)} "
            f"(model.streams = {list(config.model.streams)})"
        )
    if kept == config.model.streams:
        return config, None
    absent = [s for s in config.model.streams if s not in kept]
    note = f"training on streams {list(kept)} (the features have no {absent})"
    return with_overrides(config, {"model": {"streams": list(kept)}}), note


def _prepared_dataset(features: Path, annotations: Path | None, config: Config, run_dir: Path,
                      log) -> tuple[SentimentDataset, Config]:
    """The dataset, its problems logged, and the config fitted to it (streams, classes)."""
    dataset = load_dataset(Path(features), config.data, annotations)
    for line in dataset.notes:
        log(f"note: {printable(line)}")
    for line in dataset.problems[:20]:
        log(f"warning: {printable(line)}")
    if len(dataset.problems) > 20:
        log(f"warning: ... {len(dataset.problems) - 20} more problems (all in {Path(run_dir) / 'run.json'})")
    if dataset.feature_spec.random_weights:
        log(random_weights_warning(dataset.feature_spec.random_weight_streams))
    config, note = restrict_streams(config, dataset)
    if note:
        log(f"note: {note}")
    config = with_overrides(config, {"model": {"num_classes": len(dataset.class_names)}})
    if not dataset.splits.get("train"):
        raise RunError(f"{features}: no annotated training videos; check the annotations and class names")
    return dataset, config


def _selection_metric(config: Config, dataset: SentimentDataset) -> str:
    """"map" (validation videos with segments) or "loss", per train.selection_metric."""
    with_segments = [v for v in dataset.splits.get("validation", []) if len(dataset.samples[v].segments)]
    metric = config.train.selection_metric
    if metric == "auto":
        metric = "map" if with_segments else "loss"
    if metric == "map" and not with_segments:
        raise RunError("train.selection_metric=map needs segments on the validation videos; use loss or auto")
    return metric


def _checksum(video_ids: list[str]) -> int:
    """CRC-32 of a list of video ids (exact in a float64, for comparing processes); an id
    from a file name that is not UTF-8 (lone surrogates) counts by its code points."""
    return zlib.crc32("\n".join(video_ids).encode("utf-8", "surrogatepass"))


def _silent(*_lines) -> None:
    """The log of processes other than rank 0."""


def _open_run(features: Path, annotations: Path | None, run_dir: Path, config: Config, device: str,
              distributed: DistributedContext, log) -> _Training:
    """Dataset, model and optimiser, resumed from RUN_DIR/last.pt when present; rank 0
    writes config.yaml and run.json. Every process agrees on the data and the state."""
    dataset, config = _prepared_dataset(features, annotations, config, run_dir, log)
    metric = _selection_metric(config, dataset)
    run_dir = Path(run_dir)
    if distributed.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files_of_run(run_dir, log)
    header = checkpoint_header(config, dataset)
    torch.manual_seed(config.train.seed)
    generator = torch.Generator().manual_seed(config.train.seed)
    model = FSENet(config.model, header["stream_dims"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.learning_rate,
                                 weight_decay=config.train.weight_decay)
    state = resume(run_dir, config, model, optimizer, generator, log, header["training_data"])
    train_ids, validation_ids = dataset.splits.get("train", []), dataset.splits.get("validation", [])
    if not distributed.agree([state.epoch, state.step, _checksum(train_ids), _checksum(validation_ids)]):
        raise RunError(
            "the processes see different training videos or resume states; --features, --annotations and --out "
            "must be the same folders for every process (on several machines: a shared filesystem)"
        )
    if distributed.is_main:
        write_run_info(run_dir, config, features, annotations, device, distributed, dataset, metric)
    distributed.barrier()  # every process has read last.pt before rank 0 may replace it
    return _Training(config, dataset, run_dir, device, distributed, metric, model, optimizer, generator, state, header)


def train_one_epoch(run: _Training, step_loss: torch.nn.Module, train_samples: dict[str, VideoSample],
                    epoch: int) -> dict[str, float]:
    """One pass over the training videos; returns the mean of each loss term."""
    config, distributed = run.config, run.distributed
    step_loss.train()
    if distributed.is_distributed:
        torch.manual_seed(dropout_seed(config.train.seed, epoch, distributed.rank))
    train_ids = run.train_ids
    lengths = [run.dataset.samples[video_id].num_snippets for video_id in train_ids]
    batch_multiple = pad_multiple(config, run.device)
    steps_per_epoch = len(training_batches(lengths, config.train.batch_size, config.train.length_bucket_batches,
                                           torch.Generator().manual_seed(0)))
    sums: dict[str, float] = {}
    batches = 0
    for indices in training_batches(lengths, config.train.batch_size, config.train.length_bucket_batches,
                                    run.generator):
        # every process draws the crops of the whole global batch: the generator stays in step everywhere
        samples = [crop_sample(train_samples[train_ids[i]], config.train.max_train_snippets, run.generator)
                   for i in indices]
        shard, weight = own_shard(samples, distributed)
        batch = collate(shard, config.model.streams, config.model.num_classes, run.device,
                        batch_multiple).to(run.device)
        losses = step_loss(batch, weight)
        run.optimizer.zero_grad(set_to_none=True)
        for group in run.optimizer.param_groups:
            group["lr"] = learning_rate_at(config.train, run.state.step, steps_per_epoch)
        # DDP averages the gradients over the processes; times world_size makes that their sum,
        # the gradient of the global batch's loss (each process holds its share of that loss)
        world_size = distributed.world_size
        (losses["total"] * world_size if world_size > 1 else losses["total"]).backward()
        if config.train.grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), config.train.grad_clip_norm)
        run.optimizer.step()
        run.state.step += 1
        values = distributed.sum_over_ranks(torch.stack([losses[name].detach() for name in LOSS_TERMS]))
        for name, value in zip(LOSS_TERMS, values.tolist(), strict=True):
            sums[name] = sums.get(name, 0.0) + value
            if run.writer is not None:
                run.writer.add_scalar(f"loss/{name}", value, run.state.step)
        batches += 1
    return {f"loss_{name}": total / batches for name, total in sums.items()}


def validate(run: _Training, epoch: int) -> float:
    """The selection metric on the validation split (computed on rank 0, shared with all);
    best.pt is saved when it improves."""
    value = None
    if run.distributed.is_main:  # the others wait in the broadcast
        if run.metric == "map":
            scored = [v for v in run.validation_ids if len(run.dataset.samples[v].segments)]
            value = validation_map(run.model, run.dataset, scored, run.config, run.device)
        else:
            value = validation_loss(run.model, run.dataset, run.validation_ids, run.config, run.device)
    value = run.distributed.broadcast_from_main(value)  # every process agrees on the best epoch
    if run.writer is not None:
        run.writer.add_scalar(f"validation/{run.metric}", value, run.state.step)
    state = run.state
    if state.best_metric is None or (value > state.best_metric if run.metric == "map" else value < state.best_metric):
        state.best_metric, state.best_epoch = value, epoch
        if run.distributed.is_main:
            save_best(run.run_dir, run.header, run.model, epoch, value)
    return value


def _train_samples(run: _Training) -> dict[str, VideoSample]:
    samples = {video_id: run.dataset.samples[video_id] for video_id in run.train_ids}
    if keep_features_on_device(run.config, samples, run.device):
        samples = resident_features(samples, run.config.model.streams, run.device)
    return samples


def _run_epoch(run: _Training, step_loss: torch.nn.Module, train_samples: dict[str, VideoSample],
               epoch: int) -> dict:
    """Train one epoch, validate when due (with train.diagnostics_splits), record it and save last.pt."""
    config, state = run.config, run.state
    started = time.perf_counter()
    losses = train_one_epoch(run, step_loss, train_samples, epoch)
    record = {"epoch": epoch + 1, "seconds": time.perf_counter() - started, **losses}
    if not math.isfinite(record["loss_total"]):
        raise RunError(f"the loss became {record['loss_total']} at epoch {epoch + 1}; lower train.learning_rate")
    checks_now = (epoch + 1) % config.train.validate_every_epochs == 0 or epoch + 1 == config.train.epochs
    if run.validation_ids and checks_now:
        record[f"validation_{run.metric}"] = validate(run, epoch + 1)
        if config.train.diagnostics_splits and run.distributed.is_main:
            record.update(
                epoch_diagnostics(run.model, run.dataset, config, run.device, config.train.diagnostics_splits)
            )
    state.history.append(record)
    reason = stop_reason(config.train, state.history, run.metric)
    if reason:
        record["stop"] = reason
    state.epoch = epoch + 1
    if run.distributed.is_main:
        save_last(run.run_dir, run.header, run.model, run.optimizer, run.generator, state)
    return record


def refit(run: _Training, amp: torch.dtype | None, log) -> Path | None:
    """train.refit: a new model (same config and seed) trained on train + validation for
    the best epoch's count, saved as RUN_DIR/refit.pt; None when there is nothing to refit
    (no validation split or no best epoch). Not resumable: a rerun refits again unless
    refit.pt already holds that many epochs."""
    epochs = run.state.best_epoch
    if not run.validation_ids or epochs is None:
        log("note: train.refit needs a validation split that picked an epoch; no refit.pt written")
        return None
    if refit_done(run.run_dir, epochs):
        return run.run_dir / "refit.pt"
    videos = run.train_ids + run.validation_ids
    log(f"refit: training a new model on {len(videos)} videos (train + validation) for {epochs} epochs")
    config = with_overrides(run.config, {"train": {"epochs": epochs}})
    dataset = replace(run.dataset, splits={**run.dataset.splits, "train": sorted(videos), "validation": []})
    torch.manual_seed(config.train.seed)
    model = FSENet(config.model, run.header["stream_dims"]).to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.learning_rate,
                                 weight_decay=config.train.weight_decay)
    generator = torch.Generator().manual_seed(config.train.seed)
    refit_run = _Training(config, dataset, run.run_dir, run.device, run.distributed, run.metric, model, optimizer,
                          generator, RunState(), run.header)
    step_loss = wrap_for_processes(ShardLoss(model, config, amp, run.distributed), run.distributed)
    train_samples = _train_samples(refit_run)
    for epoch in range(epochs):
        losses = train_one_epoch(refit_run, step_loss, train_samples, epoch)
        if not math.isfinite(losses["loss_total"]):
            raise RunError(f"refit: the loss became {losses['loss_total']} at epoch "
                           f"{epoch + 1}; lower train.learning_rate")
    path = run.run_dir / "refit.pt"
    if run.distributed.is_main:
        save_refit(run.run_dir, run.header, model, epochs, len(videos))
    return path


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
    if config.train.batch_size < distributed.world_size:
        raise RunError(
            f"train.batch_size={config.train.batch_size} is the global batch (videos per step over all processes); "
            f"with {distributed.world_size} processes it must be at least {distributed.world_size}"
        )
    if not distributed.is_main:
        show_progress, log = False, _silent
    check_output_folder(Path(run_dir), "--out")  # before the data is read
    set_cpu_threads(config.train.num_threads, distributed.local_world_size)
    run = _open_run(features, annotations, run_dir, config, device, distributed, log)
    config, state = run.config, run.state
    amp = autocast_dtype(config.train.amp_dtype, device)
    log(device_line(device, precision_name(amp)))
    if distributed.is_main:
        from torch.utils.tensorboard import SummaryWriter

        run.writer = SummaryWriter(str(run.run_dir / "tensorboard"), purge_step=state.step)
    step_loss = wrap_for_processes(ShardLoss(run.model, config, amp, distributed), distributed)
    train_samples = _train_samples(run)
    start_epoch = state.epoch
    bar = tqdm(range(start_epoch, config.train.epochs), initial=start_epoch, total=config.train.epochs, unit="epoch",
               desc="train", disable=not show_progress, file=sys.stderr)
    for epoch in bar:
        if state.history and state.history[-1].get("stop"):  # resuming a run that stopped itself
            break
        record = _run_epoch(run, step_loss, train_samples, epoch)
        best = {f"best_val_{run.metric}": f"{state.best_metric:.4f}"} if state.best_metric is not None else {}
        bar.set_postfix(loss=f"{record['loss_total']:.4f}", **best)
    bar.close()
    if run.writer is not None:
        run.writer.close()
    if not run.validation_ids and distributed.is_main:
        # No validation split: the last epoch is the model (said in run.json).
        save_best(run.run_dir, run.header, run.model, state.epoch, None)
    reason = ((state.history[-1].get("stop") if state.history else None)
              or f"the schedule ended (train.epochs={config.train.epochs})")
    if state.history and state.history[-1].get("stop"):
        log(reason)
    if distributed.is_main:
        record_stop(run.run_dir, {"epoch": state.epoch, "reason": reason, "best_epoch": state.best_epoch,
                                  "best_metric": state.best_metric})
    refit_path = refit(run, amp, log) if config.train.refit else None
    distributed.barrier()  # rank 0's files are complete when any process returns
    return TrainSummary(run.run_dir, state.epoch - start_epoch, state.best_epoch, state.best_metric, run.metric,
                        state.history, refit_path)
