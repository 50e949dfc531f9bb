"""Top-k pooling over time that ignores padded snippets.

Both the video-level scores (top T // 8 CAS values per class) and the PSSC positive
sets use k = max(1, T // divisor) with T the video's *real* length in snippets, so
each video of a padded batch gets its own k.
"""

from __future__ import annotations

import torch
from torch import Tensor


def topk_counts(padding_mask: Tensor, divisor: int) -> Tensor:
    """k = max(1, T_b // divisor) per video.

    Args:
        padding_mask: (B, T) bool, True at real snippets.
        divisor: the "1 / 8" of top-k pooling, as the integer 8.

    Returns:
        (B,) int64 counts.
    """
    lengths = padding_mask.sum(dim=1)
    return torch.clamp(lengths // divisor, min=1)


def masked_topk_mean(scores: Tensor, padding_mask: Tensor, divisor: int) -> Tensor:
    """Mean of the top max(1, T_b // divisor) real snippets of each channel.

    Args:
        scores: (B, T, K) per-snippet scores (any real values).
        padding_mask: (B, T) bool, True at real snippets; padded snippets never
            enter the top-k. Every video needs at least one real snippet.
        divisor: top-k ratio denominator (8 for "top T // 8").

    Returns:
        (B, K) pooled scores, in the dtype of ``scores``.
    """
    num_snippets = scores.shape[1]
    counts = topk_counts(padding_mask, divisor)  # (B,)
    filled = scores.masked_fill(~padding_mask.unsqueeze(-1), float("-inf"))
    ranked, _ = torch.sort(filled, dim=1, descending=True)  # (B, T, K)
    ranks = torch.arange(num_snippets, device=scores.device)
    in_top = (ranks.unsqueeze(0) < counts.unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
    kept = torch.where(in_top, ranked, torch.zeros_like(ranked))
    return kept.sum(dim=1) / counts.unsqueeze(1).to(scores.dtype)
