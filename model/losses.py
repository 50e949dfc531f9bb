"""FSENet's training losses.

L_total = L_base + lambda1 (L_frame + L_frame_glo) + lambda2 L_sc   (docs/method.md, "Losses and training")

All terms are computed in float32 (also under autocast), vectorised over batch and
time, and respect the padding mask. :func:`fsenet_loss` returns every term.

Every term is a sum over the batch divided by a count (videos, labelled snippets, videos
with a contrast term): :func:`fsenet_loss_parts` returns the two apart, so a trainer that
splits one batch over several processes can add the counts of all of them first and get
exactly the terms of the whole batch (:func:`combine_loss_parts`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from model.bspg import (
    FrameLabels,
    PointLabels,
    bspg_pseudo_labels,
    point_only_labels,
    segment_frame_labels,
    self_threshold_labels,
    valid_point_mask,
)
from model.config import FSENetConfig
from model.fsenet import FSENetOutput
from model.pssc import pssc_loss_parts

_EPS = 1e-6
LOSS_TERMS: tuple[str, ...] = ("base", "frame", "frame_glo", "sc", "total")
PART_TERMS: tuple[str, ...] = ("base", "frame", "frame_glo", "sc")  # the terms "total" combines


class LossPart(NamedTuple):
    """One loss term of a batch before its average: term = total / max(count, 1).

    Attributes:
        total: scalar float32, the term summed over the batch (carries the gradient).
        count: scalar float32, what the term is averaged over (no gradient).
    """

    total: Tensor
    count: Tensor


def focal_bce(
    probabilities: Tensor, targets: Tensor, label_mask: Tensor, gamma: float = 2.0, form: str = "quality"
) -> Tensor:
    """Focal binary cross-entropy with soft targets, over labelled snippets.

    See :func:`focal_bce_part`; this is its total over its count (0 when nothing is labelled).
    """
    return _average(focal_bce_part(probabilities, targets, label_mask, gamma, form))


def focal_bce_part(
    probabilities: Tensor, targets: Tensor, label_mask: Tensor, gamma: float = 2.0, form: str = "quality"
) -> LossPart:
    """Focal binary cross-entropy with soft targets, over labelled snippets, before averaging.

    form "split":   loss_{t,k} = -[ y^ (1 - p)^gamma log p + (1 - y^) p^gamma log(1 - p) ];
    form "quality": loss_{t,k} = -|y^ - p|^gamma [ y^ log p + (1 - y^) log(1 - p) ]
    (the same on targets 0 and 1; on a soft target only "quality" is smallest at p = y^),
    summed over the K channels and averaged over the labelled snippets of the batch.

    Args:
        probabilities: (B, T, K) scores p in [0, 1].
        targets: (B, T, K) targets y^ in [0, 1].
        label_mask: (B, T) bool, snippets that count.
        gamma: focusing exponent (0 gives plain BCE).
        form: "split" or "quality" (model.loss.focal_form).

    Returns:
        :class:`LossPart`: the loss summed over the labelled snippets of the batch, and
        their number.
    """
    p = probabilities.float().clamp(_EPS, 1.0 - _EPS)
    y = targets.float()
    if form == "quality":
        per_channel = -(y - p).abs().pow(gamma) * (y * torch.log(p) + (1.0 - y) * torch.log1p(-p))
    else:
        per_channel = -(y * (1.0 - p).pow(gamma) * torch.log(p) + (1.0 - y) * p.pow(gamma) * torch.log1p(-p))
    mask = label_mask.to(per_channel.dtype)
    per_snippet = per_channel.sum(dim=-1) * mask
    return LossPart(per_snippet.sum(), mask.sum().detach())


def _average(part: LossPart) -> Tensor:
    return part.total / part.count.clamp(min=1.0)


def video_base_loss(video_scores: Tensor, video_labels: Tensor, include_background: bool = True) -> Tensor:
    """L_base averaged over the videos of the batch (see :func:`video_base_loss_part`)."""
    return _average(video_base_loss_part(video_scores, video_labels, include_background))


def video_base_loss_part(video_scores: Tensor, video_labels: Tensor, include_background: bool = True) -> LossPart:
    """L_base = -sum_c q_c log p_c with both sides normalised over classes, per video.

    Args:
        video_scores: (B, C+1) top-k averaged CAS scores in [0, 1].
        video_labels: (B, C) multi-hot (or soft) sentiment classes present in each video.
        include_background: the target also marks non-sentiment as present; False
            drops channel C from both sides.

    Returns:
        :class:`LossPart`: the sum over the videos of the batch, and their number.
    """
    labels = video_labels.float()
    scores = video_scores.float()
    if include_background:
        labels = torch.cat([labels, torch.ones_like(labels[:, :1])], dim=-1)
    else:
        scores = scores[:, : labels.shape[1]]
    target = labels / labels.sum(dim=-1, keepdim=True).clamp(min=_EPS)
    predicted = scores / scores.sum(dim=-1, keepdim=True).clamp(min=_EPS)
    per_video = -(target * torch.log(predicted.clamp(min=_EPS))).sum(dim=-1)  # (B,)
    return LossPart(per_video.sum(), per_video.new_tensor(float(per_video.shape[0])))


def mean_base_loss_part(cas: Tensor, targets: Tensor, padding_mask: Tensor) -> LossPart:
    """L_base in the paper's form: -sum_c q_c log p_c with p = avg_t y_t and q = avg_t y^_t
    over each video's real snippets, both normalised over the C+1 channels.

    Args:
        cas: (B, T, C+1) CAS y.
        targets: (B, T, C+1) frame targets y^ for every real snippet.
        padding_mask: (B, T) bool, True at real snippets.

    Returns:
        :class:`LossPart`: the sum over the videos of the batch, and their number.
    """
    real = padding_mask.unsqueeze(-1).float()
    snippets = real.sum(dim=1).clamp(min=1.0)  # (B, 1)
    predicted = (cas.float() * real).sum(dim=1) / snippets  # (B, C+1)
    target = (targets.float() * real).sum(dim=1) / snippets
    predicted = predicted / predicted.sum(dim=-1, keepdim=True).clamp(min=_EPS)
    target = target / target.sum(dim=-1, keepdim=True).clamp(min=_EPS)
    per_video = -(target * torch.log(predicted.clamp(min=_EPS))).sum(dim=-1)  # (B,)
    return LossPart(per_video.sum(), per_video.new_tensor(float(per_video.shape[0])))


def dense_base_targets(
    config: FSENetConfig, output: FSENetOutput, point_labels: PointLabels | None, segment_masks: Tensor | None
) -> Tensor | None:
    """(B, T, C+1) targets of every real snippet for the "mean" L_base: the segment masks
    under full supervision, else the BSPG mounds (tau rule applied) with every snippet
    outside the windows as background; None when neither exists (video supervision)."""
    if config.supervision == "full" and segment_masks is not None:
        return segment_frame_labels(segment_masks, output.padding_mask).targets
    if point_labels is None:
        return None
    settings = config.bspg
    return bspg_pseudo_labels(
        point_labels, output.cas[..., config.num_classes], output.padding_mask, config.num_classes,
        window=settings.window, beta=settings.beta, tau=settings.tau, overlap=settings.overlap,
        outside="background", point_keeps_label=settings.point_keeps_label,
    ).targets


def video_labels_from_points(point_labels: PointLabels, padding_mask: Tensor, num_classes: int) -> Tensor:
    """(B, C) float32 multi-hot: 1 for every class with at least one valid point."""
    valid = valid_point_mask(point_labels, padding_mask, num_classes)  # (B, P)
    one_hot = F.one_hot(point_labels.class_ids.clamp(0, num_classes - 1), num_classes).float()
    counts = (one_hot * valid.unsqueeze(-1).float()).sum(dim=1)  # (B, C); also fine for P = 0
    return (counts > 0).float()


def make_frame_labels(
    config: FSENetConfig,
    output: FSENetOutput,
    point_labels: PointLabels | None = None,
    segment_masks: Tensor | None = None,
) -> FrameLabels | None:
    """The frame targets the configured supervision uses (None under video supervision).

    point supervision: ``config.pseudo_labels`` picks "bspg" (soft mounds + tau),
    "hard" (the model's own scores thresholded), "hard_window" (binary windows + tau) or
    "none" (annotated snippets only); the tau rule
    reads ``output.cas[..., C]``, detached. full supervision: the segment masks.
    """
    padding_mask = output.padding_mask
    num_classes = config.num_classes
    if config.supervision == "video":
        return None
    if config.supervision == "full":
        if segment_masks is None:
            raise ValueError("supervision 'full' needs segment_masks (B, T, C)")
        return segment_frame_labels(segment_masks, padding_mask)
    if point_labels is None:
        raise ValueError("supervision 'point' needs point_labels")
    if config.pseudo_labels == "none":
        return point_only_labels(point_labels, padding_mask, num_classes)
    if config.pseudo_labels == "hard":
        return self_threshold_labels(
            point_labels, output.cas[..., :num_classes], padding_mask, num_classes, config.bspg.hard_threshold
        )
    settings = config.bspg
    return bspg_pseudo_labels(
        point_labels,
        output.cas[..., num_classes],
        padding_mask,
        num_classes,
        window=settings.window,
        beta=settings.beta,
        tau=settings.tau,
        overlap=settings.overlap,
        outside=settings.outside,
        point_keeps_label=settings.point_keeps_label,
        hard_threshold=settings.hard_threshold if config.pseudo_labels == "hard_window" else None,
        foreground_score=output.cas[..., :num_classes].amax(dim=-1),
        mined_fraction=settings.mined_fraction,
    )


def fsenet_loss(
    output: FSENetOutput,
    config: FSENetConfig,
    point_labels: PointLabels | None = None,
    video_labels: Tensor | None = None,
    segment_masks: Tensor | None = None,
) -> dict[str, Tensor]:
    """Every loss term of FSENet for one batch.

    Args:
        output: the model's output (carries the padding mask).
        config: the settings (supervision, pseudo-labels, switches, weights).
        point_labels: points; required for "point" supervision; under "full"
            supervision they enable L_sc (without them L_sc is 0).
        video_labels: (B, C) multi-hot classes per video; required for "video"
            supervision, otherwise derived from the points / segment masks when None.
        segment_masks: (B, T, C) ground-truth segment masks for "full" supervision.

    Returns:
        dict of scalar float32 tensors: "base", "frame", "frame_glo", "sc" and
        "total" = base + lambda_frame * (frame + frame_glo) + lambda_sc * sc.
        Under "video" supervision frame, frame_glo and sc are 0; without GSP
        frame_glo is 0; under "full" supervision without points sc is 0.
        Autocast is switched off inside: every term is float32.
    """
    parts = fsenet_loss_parts(output, config, point_labels, video_labels, segment_masks)
    return combine_loss_parts(parts, config)


def fsenet_loss_parts(
    output: FSENetOutput,
    config: FSENetConfig,
    point_labels: PointLabels | None = None,
    video_labels: Tensor | None = None,
    segment_masks: Tensor | None = None,
) -> dict[str, LossPart]:
    """The terms of :func:`fsenet_loss` before averaging: term name -> (total, count).

    "base" counts videos, "frame" and "frame_glo" labelled snippets, "sc" videos with
    a contrast term. No term couples the videos of a batch otherwise, so the parts of
    disjoint sub-batches add up to the parts of their union.
    """
    with torch.autocast(device_type=output.cas.device.type, enabled=False):
        return _fsenet_loss_parts_float32(output, config, point_labels, video_labels, segment_masks)


def combine_loss_parts(
    parts: dict[str, LossPart], config: FSENetConfig, counts: dict[str, Tensor] | None = None
) -> dict[str, Tensor]:
    """Average each part and add the weighted terms into "total".

    Args:
        parts: :func:`fsenet_loss_parts`' result.
        config: the loss weights.
        counts: normalisers to divide by instead of the parts' own counts (e.g. the
            counts of a whole batch split over processes); None: the parts' own.

    Returns:
        the dict :func:`fsenet_loss` returns.
    """
    weights = config.loss
    terms = {
        name: part.total / (part.count if counts is None else counts[name]).clamp(min=1.0)
        for name, part in parts.items()
    }
    terms["total"] = (terms["base"] + weights.lambda_frame * (terms["frame"] + terms["frame_glo"])
                      + weights.lambda_sc * terms["sc"])
    return terms


def _fsenet_loss_parts_float32(
    output: FSENetOutput,
    config: FSENetConfig,
    point_labels: PointLabels | None,
    video_labels: Tensor | None,
    segment_masks: Tensor | None,
) -> dict[str, LossPart]:
    padding_mask = output.padding_mask
    num_classes = config.num_classes
    weights = config.loss
    zero = output.cas.new_zeros(())
    empty = LossPart(zero, zero)

    if video_labels is None:
        if config.supervision == "video":
            raise ValueError("supervision 'video' needs video_labels (B, C)")
        if config.supervision == "full":
            if segment_masks is None:
                raise ValueError("supervision 'full' needs segment_masks (B, T, C)")
            real = padding_mask.unsqueeze(-1).float()
            video_labels = (segment_masks.float() * real).amax(dim=1).clamp(0.0, 1.0)
        else:
            if point_labels is None:
                raise ValueError("supervision 'point' needs point_labels")
            video_labels = video_labels_from_points(point_labels, padding_mask, num_classes)
    dense_targets = (dense_base_targets(config, output, point_labels, segment_masks) if weights.base_form == "mean"
                     else None)
    if dense_targets is not None:
        base = mean_base_loss_part(output.cas, dense_targets, padding_mask)
    else:
        base = video_base_loss_part(output.video_scores, video_labels, weights.base_includes_background)

    frame = empty
    frame_glo = empty
    contrast = empty
    if config.supervision != "video":
        labels = make_frame_labels(config, output, point_labels, segment_masks)
        if config.use_frame_losses and labels is not None:
            frame = focal_bce_part(output.cas, labels.targets, labels.label_mask, weights.focal_gamma,
                                   weights.focal_form)
            if config.use_gsp:
                frame_glo = focal_bce_part(output.global_cas, labels.targets, labels.label_mask, weights.focal_gamma,
                                           weights.focal_form)
        if point_labels is not None:
            negatives = config.pssc.single_class_negatives
            if negatives == "lowest_w_sent" and not config.use_gsp:
                negatives = "lowest_similarity"
            contrast = LossPart(
                *pssc_loss_parts(
                    output.embeddings,
                    output.w_sent,
                    point_labels,
                    padding_mask,
                    num_classes,
                    topk_divisor=config.pssc.topk_divisor,
                    temperature=config.pssc.temperature,
                    single_class_negatives=negatives,
                )
            )
    return {"base": base, "frame": frame, "frame_glo": frame_glo, "sc": contrast}
