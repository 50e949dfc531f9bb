"""masked_topk_mean: per-video k over real snippets only."""

from __future__ import annotations

import torch

from model import masked_topk_mean
from model.temporal_pooling import topk_counts


def test_per_video_k_over_real_snippets() -> None:
    scores = torch.zeros(2, 16, 1)
    scores[0, :, 0] = torch.arange(16, dtype=torch.float32)  # 16 real: k = 2 -> mean(15, 14)
    scores[1, :, 0] = torch.arange(16, dtype=torch.float32)
    padding_mask = torch.ones(2, 16, dtype=torch.bool)
    padding_mask[1, 7:] = False  # 7 real: k = max(1, 0) = 1 -> 6, although padding holds 15
    assert topk_counts(padding_mask, 8).tolist() == [2, 1]
    torch.testing.assert_close(masked_topk_mean(scores, padding_mask, 8), torch.tensor([[14.5], [6.0]]))


def test_gradient_reaches_only_the_top_k() -> None:
    scores = torch.tensor([[[0.1], [0.9], [0.5], [0.7]]], requires_grad=True)
    pooled = masked_topk_mean(scores, torch.ones(1, 4, dtype=torch.bool), 2)  # k = 2
    pooled.sum().backward()
    assert scores.grad[0, :, 0].tolist() == [0.0, 0.5, 0.0, 0.5]
