"""PSSC: clustering by class lowers the loss; padding, points and empty sets are handled."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from model import PointLabels, pssc_loss

NUM_SNIPPETS = 64


def clustered_embeddings(generator: torch.Generator, spread: float = 0.3) -> torch.Tensor:
    """Class 0 in snippets 5..20 near one direction, class 1 in 35..50 near another."""
    width = 16
    centres = F.normalize(torch.randn(3, width, generator=generator), dim=-1)
    owner = torch.full((NUM_SNIPPETS,), 2)
    owner[5:21] = 0
    owner[35:51] = 1
    embeddings = centres[owner] + spread * torch.randn(NUM_SNIPPETS, width, generator=generator)
    return F.normalize(embeddings, dim=-1).unsqueeze(0)


def two_class_points() -> PointLabels:
    return PointLabels(
        snippet_indices=torch.tensor([[8, 12, 17, 38, 43, 48]]),
        class_ids=torch.tensor([[0, 0, 0, 1, 1, 1]]),
        mask=torch.ones(1, 6, dtype=torch.bool),
    )


def test_lower_when_embeddings_cluster_by_class_than_when_shuffled() -> None:
    generator = torch.Generator().manual_seed(0)
    embeddings = clustered_embeddings(generator)
    w_sent = torch.ones(1, NUM_SNIPPETS)
    padding_mask = torch.ones(1, NUM_SNIPPETS, dtype=torch.bool)
    points = two_class_points()
    clustered = pssc_loss(embeddings, w_sent, points, padding_mask, 2)
    shuffled = []
    for _ in range(5):
        order = torch.randperm(NUM_SNIPPETS, generator=generator)
        shuffled.append(pssc_loss(embeddings[:, order], w_sent, points, padding_mask, 2))
    mean_shuffled = torch.stack(shuffled).mean()
    assert clustered < 0.5 * mean_shuffled
    assert clustered < 0.2


def test_padding_and_embeddings_beyond_the_video_change_nothing() -> None:
    generator = torch.Generator().manual_seed(1)
    embeddings = clustered_embeddings(generator)
    w_sent = torch.rand(1, NUM_SNIPPETS, generator=generator)
    points = two_class_points()
    short = pssc_loss(embeddings[:, :56], w_sent[:, :56], points, torch.ones(1, 56, dtype=torch.bool), 2)
    padding_mask = torch.ones(1, NUM_SNIPPETS, dtype=torch.bool)
    padding_mask[:, 56:] = False
    noisy = embeddings.clone()
    noisy[:, 56:] = F.normalize(torch.randn(1, 8, 16, generator=generator), dim=-1) * 5
    noisy_w = w_sent.clone()
    noisy_w[:, 56:] = 10.0
    padded = pssc_loss(noisy, noisy_w, points, padding_mask, 2)
    torch.testing.assert_close(short, padded)


def test_single_class_video_and_degenerate_cases_stay_finite() -> None:
    generator = torch.Generator().manual_seed(2)
    embeddings = clustered_embeddings(generator).requires_grad_(True)
    w_sent = torch.rand(1, NUM_SNIPPETS, generator=generator)
    padding_mask = torch.ones(1, NUM_SNIPPETS, dtype=torch.bool)
    one_class = PointLabels(torch.tensor([[8, 12]]), torch.tensor([[0, 0]]), torch.tensor([[True, True]]))
    loss = pssc_loss(embeddings, w_sent, one_class, padding_mask, 2)
    assert loss > 0
    loss.backward()
    assert torch.isfinite(embeddings.grad).all()
    assert pssc_loss(embeddings, w_sent, one_class, padding_mask, 2, single_class_negatives="none") == 0
    no_points = PointLabels(torch.tensor([[8]]), torch.tensor([[0]]), torch.tensor([[False]]))
    assert pssc_loss(embeddings, w_sent, no_points, padding_mask, 2) == 0
    # a video made only of its points has no candidates left: no term, no NaN
    tiny = pssc_loss(embeddings[:, :2], w_sent[:, :2],
                     PointLabels(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]), torch.ones(1, 2, dtype=torch.bool)),
                     torch.ones(1, 2, dtype=torch.bool), 2)
    assert tiny == 0


def unit(degrees: float) -> list[float]:
    radians = math.radians(degrees)
    return [math.cos(radians), math.sin(radians)]


def test_matches_hand_computed_sets() -> None:
    """T = 16, so K = 2; points: class 0 at snippet 0 (0 deg), class 1 at snippet 8 (90 deg).

    Class 0 ranks W_sent * cos: snippets 1 (10 deg) and 2 (20 deg); snippet 3 (5 deg) is
    closer but its W_sent is 0.1. Class 1 ranks snippets 9 (80 deg) and 10 (70 deg).
    Each class's negatives are the other's positives; prototypes are the point embeddings.
    """
    angles = [225.0] * 16
    angles[0], angles[1], angles[2], angles[3] = 0.0, 10.0, 20.0, 5.0
    angles[8], angles[9], angles[10] = 90.0, 80.0, 70.0
    embeddings = torch.tensor([[unit(angle) for angle in angles]])
    w_sent = torch.ones(1, 16)
    w_sent[0, 3] = 0.1
    points = PointLabels(torch.tensor([[0, 8]]), torch.tensor([[0, 1]]), torch.ones(1, 2, dtype=torch.bool))
    loss = pssc_loss(embeddings, w_sent, points, torch.ones(1, 16, dtype=torch.bool), 2, temperature=0.5)

    def term(prototype: float, positives: list[float], negatives: list[float]) -> float:
        scores = [math.exp(math.cos(math.radians(angle - prototype)) / 0.5) for angle in positives + negatives]
        return -math.log(sum(scores[: len(positives)]) / sum(scores))

    expected = term(0.0, [10.0, 20.0], [80.0, 70.0]) + term(90.0, [80.0, 70.0], [10.0, 20.0])
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    # had W_sent been ignored, snippet 3 would replace snippet 2 among class 0's positives
    ignoring_w_sent = term(0.0, [10.0, 5.0], [80.0, 70.0]) + term(90.0, [80.0, 70.0], [10.0, 5.0])
    assert loss.item() != pytest.approx(ignoring_w_sent, rel=1e-3)
    # had the point snippets been candidates, snippets 0 and 8 (cos 1) would be positives
    with_points = term(0.0, [0.0, 10.0], [90.0, 80.0]) + term(90.0, [90.0, 80.0], [0.0, 10.0])
    assert loss.item() != pytest.approx(with_points, rel=1e-3)
