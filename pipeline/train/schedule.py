"""The training schedule: learning rate per optimiser step (warm-up, constant or cosine)
and early stopping on the validation checks (pure functions of train.*)."""

from __future__ import annotations

import math

from pipeline.config import TrainConfig


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


def patience_exhausted(config: TrainConfig, epoch: int, best_epoch: int | None) -> bool:
    """True when train.early_stopping_patience validation checks since the best epoch found no better one."""
    patience = config.early_stopping_patience
    return bool(patience) and best_epoch is not None and epoch - best_epoch >= patience * config.validate_every_epochs
