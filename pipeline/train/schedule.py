"""The training schedule: learning rate per optimiser step (warm-up, constant or cosine)
and early stopping on the validation checks (pure functions of train.*)."""

from __future__ import annotations

import math

from pipeline.config.train import TrainConfig


def learning_rate_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Learning rate of optimiser step `step` (0-based): linear warm-up over
    train.warmup_epochs, then constant or a cosine decay to lr_min_fraction x lr at the last step."""
    warmup_steps = config.warmup_epochs * steps_per_epoch
    if step < warmup_steps:
        return config.learning_rate * (step + 1) / warmup_steps
    if config.lr_schedule == "constant":
        return config.learning_rate
    decay_steps = max(1, config.epochs * steps_per_epoch - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    floor = config.lr_min_fraction
    return config.learning_rate * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def gain_epoch(config: TrainConfig, history: list[dict], metric: str) -> int | None:
    """The last validated epoch whose value beat the reference by at least
    train.early_stopping_min_delta (the first check always counts); the reference is the
    value of that epoch, so small gains do not renew patience. None before the first check.
    metric: "map" (higher is better) or "loss" (lower is better)."""
    key, sign = f"validation_{metric}", (1.0 if metric == "map" else -1.0)
    reference, epoch = None, None
    for record in history:
        if key not in record:
            continue
        value = sign * float(record[key])
        if reference is None or value >= reference + config.early_stopping_min_delta:
            reference, epoch = value, int(record["epoch"])
    return epoch


def stop_reason(config: TrainConfig, history: list[dict], metric: str) -> str | None:
    """Why training stops after the epochs in `history` (None: it goes on).

    Early stopping (train.early_stopping_patience checks, 0: never): never before epoch
    train.early_stopping_start_epoch; then it stops once `patience` validation checks have
    passed since the last gain of at least train.early_stopping_min_delta.
    """
    patience = config.early_stopping_patience
    if not patience or not history:
        return None
    epoch = int(history[-1]["epoch"])
    last_gain = gain_epoch(config, history, metric)
    if epoch < config.early_stopping_start_epoch or last_gain is None:
        return None
    if epoch - last_gain < patience * config.validate_every_epochs:
        return None
    return (f"early stopping after epoch {epoch}: no gain of at least "
            f"{config.early_stopping_min_delta:g} in validation "
            f"{metric} in the {patience} checks since epoch {last_gain} (train.early_stopping_patience, "
            "train.early_stopping_min_delta)")
