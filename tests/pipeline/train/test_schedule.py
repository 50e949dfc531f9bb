"""Learning-rate schedule, early stopping and the diagnostics' ranking AUC (pure functions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.config.train import TrainConfig
from pipeline.train.diagnostics import ranking_auc
from pipeline.train.schedule import gain_epoch, learning_rate_at, stop_reason


def test_constant_schedule_with_warm_up():
    config = TrainConfig(learning_rate=0.01, warmup_epochs=2, epochs=10)
    rates = [learning_rate_at(config, step, steps_per_epoch=5) for step in range(12)]
    assert rates[:10] == pytest.approx([0.01 * (i + 1) / 10 for i in range(10)])
    assert rates[10:] == [0.01, 0.01]


def test_cosine_schedule_ends_at_the_floor():
    config = TrainConfig(learning_rate=0.01, lr_schedule="cosine", lr_min_fraction=0.1, epochs=4)
    steps = 4 * 3
    assert learning_rate_at(config, 0, 3) == pytest.approx(0.01)
    assert learning_rate_at(config, steps // 2, 3) == pytest.approx(0.01 * (0.1 + 0.9 * 0.5))
    assert learning_rate_at(config, steps, 3) == pytest.approx(0.001)
    rates = [learning_rate_at(config, step, 3) for step in range(steps)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def checks(values: list[float], every: int = 5) -> list[dict]:
    """history.json records: one per epoch, a validation mAP every `every` epochs."""
    records = []
    for index, value in enumerate(values):
        records += [{"epoch": index * every + e} for e in range(1, every)]
        records += [{"epoch": (index + 1) * every, "validation_map": value}]
    return records


def test_patience_counts_validation_checks_after_the_last_gain():
    config = TrainConfig(validate_every_epochs=5, early_stopping_patience=3, early_stopping_start_epoch=0,
                         early_stopping_min_delta=0.0)
    assert stop_reason(config, checks([0.1, 0.3, 0.2, 0.2])[:-1], "map") is None  # epoch 19: 9 epochs since 10
    assert stop_reason(config, checks([0.1, 0.3, 0.2, 0.2, 0.2]), "map") is not None  # epoch 25: 3 checks since 10
    assert "epoch 25" in stop_reason(config, checks([0.1, 0.3, 0.2, 0.2, 0.2]), "map")
    assert stop_reason(config, [{"epoch": e} for e in range(1, 40)], "map") is None  # never validated
    never = TrainConfig(early_stopping_patience=0, early_stopping_start_epoch=0)
    assert stop_reason(never, checks([0.5] + [0.1] * 50), "map") is None


def test_gains_under_min_delta_do_not_renew_patience():
    config = TrainConfig(validate_every_epochs=5, early_stopping_patience=2, early_stopping_start_epoch=0,
                         early_stopping_min_delta=0.01)
    creeping = checks([0.30, 0.305, 0.309, 0.312])  # +0.005 a check: below min_delta until 0.312 (> 0.30 + 0.01)
    assert gain_epoch(config, creeping[:-1], "map") == 5
    assert stop_reason(config, creeping[:-1], "map") is not None  # epoch 15: two checks since 5
    assert gain_epoch(config, creeping, "map") == 20
    falling_loss = [{"epoch": 5, "validation_loss": 2.0}, {"epoch": 10, "validation_loss": 1.995},
                    {"epoch": 15, "validation_loss": 1.5}]
    assert gain_epoch(config, falling_loss, "loss") == 15  # lower is better for the loss


def test_no_early_stop_before_the_start_epoch():
    config = TrainConfig(validate_every_epochs=10, early_stopping_patience=3, early_stopping_start_epoch=100,
                         early_stopping_min_delta=0.005)
    flat = checks([0.5] * 12, every=10)  # the best at epoch 10, flat after
    assert stop_reason(config, flat[:99], "map") is None  # epoch 99
    assert stop_reason(config, flat[:100], "map") is not None  # epoch 100, 9 checks after the gain


def test_ranking_auc_matches_pair_counting():
    rng = np.random.default_rng(0)
    positive, negative = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairs = (positive[:, None] > negative[None, :]).mean() + 0.5 * (positive[:, None] == negative[None, :]).mean()
    assert ranking_auc(positive, negative) == pytest.approx(pairs)
    assert ranking_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert math.isnan(ranking_auc(np.array([]), negative))
