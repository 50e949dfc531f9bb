"""Learning-rate schedule, early stopping and the diagnostics' ranking AUC (pure functions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.config import TrainConfig
from pipeline.train.diagnostics import ranking_auc
from pipeline.train.schedule import learning_rate_at, patience_exhausted


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


def test_patience_counts_validation_checks():
    config = TrainConfig(validate_every_epochs=5, early_stopping_patience=3)
    assert not patience_exhausted(config, epoch=24, best_epoch=10)
    assert patience_exhausted(config, epoch=25, best_epoch=10)
    assert not patience_exhausted(config, epoch=25, best_epoch=None)
    assert not patience_exhausted(TrainConfig(early_stopping_patience=0), epoch=600, best_epoch=1)


def test_ranking_auc_matches_pair_counting():
    rng = np.random.default_rng(0)
    positive, negative = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairs = (positive[:, None] > negative[None, :]).mean() + 0.5 * (positive[:, None] == negative[None, :]).mean()
    assert ranking_auc(positive, negative) == pytest.approx(pairs)
    assert ranking_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert math.isnan(ranking_auc(np.array([]), negative))
