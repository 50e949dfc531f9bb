"""Frame-level targets: BSPG pseudo-labels and their ablation / full-supervision variants.

All functions are pure and vectorised over batch, points and time. A target tensor is
(B, T, C+1) in [0, 1] (channels 0..C-1 sentiment classes, channel C non-sentiment)
with a ``label_mask`` (B, T) bool saying which snippets the frame losses use; targets
are zero where the mask is False.

Point labels come as :class:`PointLabels`: per video up to P points, each a snippet
index and a class id, with a mask for the padded slots.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


class PointLabels(NamedTuple):
    """Point-level annotation of a batch.

    Attributes:
        snippet_indices: (B, P) int64 snippet index of each point on the snippet grid.
        class_ids: (B, P) int64 sentiment class of each point, in [0, C).
        mask: (B, P) bool, True for real points (False for padded slots).
    """

    snippet_indices: Tensor
    class_ids: Tensor
    mask: Tensor


class FrameLabels(NamedTuple):
    """Frame-level targets.

    Attributes:
        targets: (B, T, C+1) float32 targets in [0, 1]; zero where unlabelled.
        label_mask: (B, T) bool, True at snippets the frame losses use.
    """

    targets: Tensor
    label_mask: Tensor


def valid_point_mask(point_labels: PointLabels, padding_mask: Tensor, num_classes: int) -> Tensor:
    """(B, P) bool: real points whose index lies on a real snippet and whose class is in [0, C)."""
    num_snippets = padding_mask.shape[1]
    indices = point_labels.snippet_indices
    inside = (indices >= 0) & (indices < num_snippets)
    on_real = padding_mask.gather(1, indices.clamp(0, num_snippets - 1)) & inside
    known_class = (point_labels.class_ids >= 0) & (point_labels.class_ids < num_classes)
    return point_labels.mask.to(torch.bool) & on_real & known_class


def point_snippets(point_labels: PointLabels, padding_mask: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Where the annotated snippets are.

    Returns:
        is_point: (B, T) bool, True at annotated snippets.
        point_classes: (B, T, C) float32, 1 at (snippet, class) of each point.
    """
    num_snippets = padding_mask.shape[1]
    valid = valid_point_mask(point_labels, padding_mask, num_classes)
    times = torch.arange(num_snippets, device=padding_mask.device)
    at_point = (point_labels.snippet_indices.unsqueeze(-1) == times) & valid.unsqueeze(-1)  # (B, P, T)
    one_hot = F.one_hot(point_labels.class_ids.clamp(0, num_classes - 1), num_classes).float()
    point_classes = torch.einsum("bpt,bpc->btc", at_point.float(), one_hot).clamp(max=1.0)
    return at_point.any(dim=1), point_classes


def point_mounds(
    point_labels: PointLabels,
    padding_mask: Tensor,
    num_classes: int,
    window: int,
    beta: float,
    overlap: str = "max",
) -> tuple[Tensor, Tensor]:
    """Spread each point into a mound s_t = beta + (1 - beta)(1 - |t - t_p| / w), |t - t_p| <= w.

    Args:
        point_labels: the points.
        padding_mask: (B, T) bool, True at real snippets.
        num_classes: C.
        window: w in snippets (w = 0 labels the point snippet alone, with s = 1).
        beta: mound floor in [0, 1].
        overlap: "max": each class channel is the max over its class's mounds;
            "nearest": only the nearest point's mound counts (ties: the earlier point).

    Returns:
        mound: (B, T, C) float32 class strengths s in [0, 1] (0 outside windows).
        in_window: (B, T) bool, True at real snippets within w of some point.
    """
    batch, num_snippets = padding_mask.shape
    if point_labels.snippet_indices.shape[1] == 0:
        empty = torch.zeros(batch, num_snippets, num_classes, device=padding_mask.device)
        return empty, torch.zeros_like(padding_mask, dtype=torch.bool)
    valid = valid_point_mask(point_labels, padding_mask, num_classes)  # (B, P)
    times = torch.arange(num_snippets, device=padding_mask.device)
    distance = (times - point_labels.snippet_indices.unsqueeze(-1)).abs()  # (B, P, T)
    reached = (distance <= window) & valid.unsqueeze(-1)
    ramp = 1.0 - distance.float() / max(window, 1)
    strength = torch.where(reached, beta + (1.0 - beta) * ramp, torch.zeros_like(ramp))  # (B, P, T)
    one_hot = F.one_hot(point_labels.class_ids.clamp(0, num_classes - 1), num_classes).float()  # (B, P, C)
    if overlap == "max":
        mound = (strength.unsqueeze(-1) * one_hot.unsqueeze(2)).amax(dim=1)  # (B, T, C)
    elif overlap == "nearest":
        far = num_snippets + window + 1
        masked_distance = torch.where(reached, distance, torch.full_like(distance, far))
        nearest = masked_distance.argmin(dim=1, keepdim=True)  # (B, 1, T)
        nearest_strength = strength.gather(1, nearest).squeeze(1)  # (B, T)
        nearest_class = one_hot.gather(1, nearest.squeeze(1).unsqueeze(-1).expand(-1, -1, num_classes))
        mound = nearest_strength.unsqueeze(-1) * nearest_class
    else:
        raise ValueError(f"overlap={overlap!r} is not allowed; allowed: max, nearest")
    in_window = reached.any(dim=1) & padding_mask
    return mound * padding_mask.unsqueeze(-1), in_window


def _with_background(sentiment: Tensor) -> Tensor:
    """(B, T, C) sentiment targets -> (B, T, C+1) with background 1 - max_c."""
    background = 1.0 - sentiment.amax(dim=-1, keepdim=True)
    return torch.cat([sentiment, background], dim=-1)


def mine_lowest(score: Tensor, candidates: Tensor, padding_mask: Tensor, fraction: float) -> Tensor:
    """(B, T) bool: per video the ceil(fraction x T_real) candidate snippets of lowest `score`
    (fewer when fewer candidates exist).

    Args:
        score: (B, T) the ranking score (lower = more background-like).
        candidates: (B, T) bool, snippets that may be mined.
        padding_mask: (B, T) bool, True at real snippets (T_real counts them).
        fraction: share of the real snippets to mine, in [0, 1].
    """
    wanted = torch.ceil(fraction * padding_mask.sum(dim=1).float()).long()  # (B,)
    ranked_score = score.masked_fill(~candidates, float("inf"))
    ranks = ranked_score.argsort(dim=1, stable=True).argsort(dim=1)  # (B, T) rank of each snippet
    return candidates & (ranks < wanted.unsqueeze(1))


def bspg_pseudo_labels(
    point_labels: PointLabels,
    background_score: Tensor,
    padding_mask: Tensor,
    num_classes: int,
    *,
    window: int = 7,
    beta: float = 0.6,
    tau: float = 0.95,
    overlap: str = "max",
    outside: str = "unlabelled",
    point_keeps_label: bool = True,
    hard_threshold: float | None = None,
    foreground_score: Tensor | None = None,
    mined_fraction: float = 0.25,
) -> FrameLabels:
    """BSPG pseudo-labels (docs/method.md, "BSPG: boundary-aware pseudo-labels").

    Inside a point's window the point's class gets the mound value s_t and
    non-sentiment gets 1 - s_t (overlaps per ``overlap``; background = 1 - the largest
    class target). Where the model's own non-sentiment score exceeds ``tau`` the
    sentiment targets are zeroed (background target 1), and such a snippet is
    labelled even outside every window. Outside windows: ``outside="unlabelled"``
    masks snippets out (unless the tau rule fires), ``"background"`` labels them
    non-sentiment. With ``point_keeps_label`` the annotated snippet keeps target 1
    for its class whatever the tau rule says.

    Args:
        point_labels: the points (indices on the snippet grid).
        background_score: (B, T) the model's non-sentiment score y_{t,C+1} in [0, 1];
            detached here (targets carry no gradient).
        padding_mask: (B, T) bool, True at real snippets; padded snippets are never labelled.
        num_classes: C.
        window, beta, tau, overlap, outside, point_keeps_label: see
            :class:`model.config.BSPGConfig`.
        hard_threshold: None for the soft mounds; a value in (0, 1] turns them into
            hard targets (1 where s_t >= hard_threshold, else 0), the "hard" variant.
        foreground_score: (B, T) max_c y_{t,c} (detached here), what ``outside="mined"``
            ranks by; None ranks by the background score instead (highest first).
        mined_fraction: with ``outside="mined"``, ceil(fraction x T_real) snippets per
            video outside every window (not points) with the lowest foreground score
            become background targets.

    Returns:
        :class:`FrameLabels` with targets (B, T, C+1) and label_mask (B, T).
    """
    if outside not in ("unlabelled", "background", "mined"):
        raise ValueError(f"outside={outside!r} is not allowed; allowed: unlabelled, background, mined")
    mound, in_window = point_mounds(point_labels, padding_mask, num_classes, window, beta, overlap)
    if hard_threshold is not None:
        mound = (mound >= hard_threshold).float() * in_window.unsqueeze(-1)
    is_point, point_classes = point_snippets(point_labels, padding_mask, num_classes)

    suppressed = (background_score.detach().float() > tau) & padding_mask
    if point_keeps_label:
        suppressed = suppressed & ~is_point
    sentiment = mound.masked_fill(suppressed.unsqueeze(-1), 0.0)
    if point_keeps_label:
        sentiment = torch.where(is_point.unsqueeze(-1), torch.maximum(sentiment, point_classes), sentiment)

    if outside == "background":
        label_mask = padding_mask.clone()
    else:
        label_mask = (in_window | suppressed | is_point) & padding_mask
    if outside == "mined":
        ranking = foreground_score if foreground_score is not None else 1.0 - background_score
        candidates = padding_mask & ~in_window & ~is_point
        label_mask = label_mask | mine_lowest(ranking.detach().float(), candidates, padding_mask, mined_fraction)
    targets = _with_background(sentiment) * label_mask.unsqueeze(-1)
    return FrameLabels(targets=targets, label_mask=label_mask)


def hard_pseudo_labels(
    point_labels: PointLabels,
    background_score: Tensor,
    padding_mask: Tensor,
    num_classes: int,
    *,
    window: int = 7,
    beta: float = 0.6,
    tau: float = 0.95,
    hard_threshold: float = 0.5,
    overlap: str = "max",
    outside: str = "unlabelled",
    point_keeps_label: bool = True,
) -> FrameLabels:
    """The "hard-threshold pseudo-labels" ablation: BSPG with binary windows.

    Same windows, overlap, tau and outside rules as :func:`bspg_pseudo_labels`, but a
    snippet's class target is 1 where the mound s_t >= ``hard_threshold`` (0 and
    background 1 elsewhere in the window) instead of the soft s_t. With the defaults
    (beta = 0.6 >= 0.5) every snippet within w of a point gets a hard 1.
    """
    return bspg_pseudo_labels(
        point_labels,
        background_score,
        padding_mask,
        num_classes,
        window=window,
        beta=beta,
        tau=tau,
        overlap=overlap,
        outside=outside,
        point_keeps_label=point_keeps_label,
        hard_threshold=hard_threshold,
    )


def self_threshold_labels(
    point_labels: PointLabels, class_scores: Tensor, padding_mask: Tensor, num_classes: int, threshold: float = 0.5
) -> FrameLabels:
    """The paper's "hard-threshold pseudo-labels" ablation: the model's own frame scores, thresholded.

    For each class with a point in the video the target is 1 where its (detached) score
    y_{t,c} >= ``threshold``, else 0; classes without a point get 0; background is
    1 - the max class target; every real snippet is labelled and each point snippet
    keeps target 1 for its class.

    Args:
        point_labels: the points.
        class_scores: (B, T, C) the model's class scores y_{t,c}.
        padding_mask: (B, T) bool, True at real snippets.
        num_classes: C.
        threshold: the hard threshold.
    """
    is_point, point_classes = point_snippets(point_labels, padding_mask, num_classes)
    present = point_classes.amax(dim=1, keepdim=True)  # (B, 1, C) classes the points name
    sentiment = (class_scores.detach().float() >= threshold).float() * present
    sentiment = torch.where(is_point.unsqueeze(-1), torch.maximum(sentiment, point_classes), sentiment)
    label_mask = padding_mask.to(torch.bool)
    targets = _with_background(sentiment) * label_mask.unsqueeze(-1)
    return FrameLabels(targets=targets, label_mask=label_mask)


def point_only_labels(point_labels: PointLabels, padding_mask: Tensor, num_classes: int) -> FrameLabels:
    """The "no pseudo-labels" ablation: only annotated snippets are labelled.

    Each point's snippet gets target 1 for its class and 0 for non-sentiment; every
    other snippet is unlabelled (no tau rule, no windows).
    """
    is_point, point_classes = point_snippets(point_labels, padding_mask, num_classes)
    label_mask = is_point & padding_mask
    targets = _with_background(point_classes) * label_mask.unsqueeze(-1)
    return FrameLabels(targets=targets, label_mask=label_mask)


def segment_frame_labels(segment_masks: Tensor, padding_mask: Tensor) -> FrameLabels:
    """Full supervision: targets straight from segment masks.

    Args:
        segment_masks: (B, T, C) bool or float in [0, 1], 1 where a snippet lies in a
            ground-truth segment of class c.
        padding_mask: (B, T) bool, True at real snippets (all of them are labelled).

    Returns:
        :class:`FrameLabels`: class channels = the masks, non-sentiment = 1 - max_c.
    """
    label_mask = padding_mask.to(torch.bool)
    sentiment = segment_masks.float().clamp(0.0, 1.0)
    targets = _with_background(sentiment) * label_mask.unsqueeze(-1)
    return FrameLabels(targets=targets, label_mask=label_mask)
