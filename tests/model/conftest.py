"""Shared builders for the model tests: small random batches on one snippet grid."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from model import FSENet, FSENetConfig, PointLabels

SMALL_DIMS = {"visual": 12, "audio": 6, "face": 10}


def small_config(**overrides: object) -> FSENetConfig:
    """A narrow FSENet (d = 16, 2 heads, no dropout) with method.md's other defaults."""
    settings: dict[str, object] = {"d_model": 16, "num_heads": 2, "dropout": 0.0}
    settings.update(overrides)
    return FSENetConfig(**settings)  # type: ignore[arg-type]


def random_features(
    batch: int, num_snippets: int, streams: tuple[str, ...], generator: torch.Generator
) -> dict[str, torch.Tensor]:
    return {
        name: torch.randn(batch, num_snippets, SMALL_DIMS[name], generator=generator) for name in streams
    }


@pytest.fixture
def make_model() -> Callable[..., FSENet]:
    """make_model(seed=0, **config_overrides) -> an FSENet in eval mode on SMALL_DIMS."""

    def build(seed: int = 0, **overrides: object) -> FSENet:
        torch.manual_seed(seed)
        config = small_config(**overrides)
        return FSENet(config, SMALL_DIMS).eval()

    return build


@pytest.fixture
def two_video_batch() -> dict[str, object]:
    """Two videos of 24 and 17 real snippets (padded to 24), with face masks and points."""
    generator = torch.Generator().manual_seed(1)
    batch, num_snippets = 2, 24
    features = random_features(batch, num_snippets, ("visual", "audio", "face"), generator)
    padding_mask = torch.ones(batch, num_snippets, dtype=torch.bool)
    padding_mask[1, 17:] = False
    face_mask = (torch.rand(batch, num_snippets, generator=generator) > 0.3).float()
    face_mask[0, 3] = 0.5
    points = PointLabels(
        snippet_indices=torch.tensor([[4, 15, 20], [2, 9, 0]]),
        class_ids=torch.tensor([[0, 1, 0], [1, 1, 0]]),
        mask=torch.tensor([[True, True, True], [True, True, False]]),
    )
    return {
        "features": features,
        "padding_mask": padding_mask,
        "face_mask": face_mask,
        "points": points,
    }


@pytest.fixture
def make_config() -> Callable[..., FSENetConfig]:
    """make_config(**overrides) -> the narrow test config."""
    return small_config
