"""PSSC (docs/method.md, "PSSC: point-aware sentiment semantics contrast").

For each video and each class c with annotated points p_1^c..p_N^c:
  d_t^c = sum_n cos(f_t, p_n^c)
  U_c+  = the top-K real, non-annotated snippets by W_sent,t * d_t^c
  U_c-  = the union of the other classes' U+ (a video with one class: the K real,
          non-annotated snippets outside U_c+ with the lowest W_sent)
  p_c   = mean of the class-c point embeddings
  L_c   = -log( sum_{U_c+} exp(f . p_c / t) / sum_{U_c+ u U_c-} exp(f . p_c / t) )
The loss sums L_c over the classes of a video and averages over the videos that have
at least one term (:func:`pssc_loss_parts` returns the sum and that count apart).
Selection (top-K, lowest W_sent) carries no gradient; the similarities f . p_c do, to
the snippet and to the point embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from model.bspg import PointLabels, valid_point_mask
from model.temporal_pooling import topk_counts

_MASKED_LOGIT = -1.0e9  # finite, so empty sets give finite (and then discarded) values and gradients


def _rank_select(scores: Tensor, allowed: Tensor, counts: Tensor, lowest: bool) -> Tensor:
    """(B, C, T) bool mask of the ``counts`` (B,) best allowed snippets per row.

    Args:
        scores: (B, C, T) ranking scores.
        allowed: (B, C, T) bool, snippets that may be picked.
        counts: (B,) how many to pick (fewer if fewer are allowed).
        lowest: pick the lowest scores instead of the highest.
    """
    signed = -scores if lowest else scores
    filled = signed.masked_fill(~allowed, float("-inf"))
    order = filled.argsort(dim=-1, descending=True)
    ranks = torch.arange(scores.shape[-1], device=scores.device)
    picked_rank = (ranks.view(1, 1, -1) < counts.view(-1, 1, 1)).expand_as(order)
    picked = torch.zeros_like(allowed).scatter(-1, order, picked_rank)
    return picked & allowed


def pssc_loss(
    embeddings: Tensor,
    w_sent: Tensor,
    point_labels: PointLabels,
    padding_mask: Tensor,
    num_classes: int,
    *,
    topk_divisor: int = 8,
    temperature: float = 0.1,
    single_class_negatives: str = "lowest_w_sent",
) -> Tensor:
    """Point-aware sentiment semantics contrast loss L_sc.

    Args:
        embeddings: (B, T, E) L2-normalised frame embeddings f_t.
        w_sent: (B, T) sentiment intensity W_sent in [0, 1] (used for ranking only).
        point_labels: the points (snippet indices, classes, mask).
        padding_mask: (B, T) bool, True at real snippets; padded snippets are never
            positives, negatives or points.
        num_classes: C.
        topk_divisor: K = max(1, T_b // topk_divisor), capped at the number of real,
            non-annotated snippets (so K < T - N).
        temperature: t.
        single_class_negatives: negatives of a video whose points have one class:
            "lowest_w_sent", "lowest_similarity" (lowest d_t^c, for a model without
            GSP whose W_sent is constant) or "none" (no term for such videos).

    Returns:
        scalar float32 loss (0 when no video has a term).
    """
    total, videos_with_terms = pssc_loss_parts(
        embeddings,
        w_sent,
        point_labels,
        padding_mask,
        num_classes,
        topk_divisor=topk_divisor,
        temperature=temperature,
        single_class_negatives=single_class_negatives,
    )
    return total / videos_with_terms.clamp(min=1.0)


def pssc_loss_parts(
    embeddings: Tensor,
    w_sent: Tensor,
    point_labels: PointLabels,
    padding_mask: Tensor,
    num_classes: int,
    *,
    topk_divisor: int = 8,
    temperature: float = 0.1,
    single_class_negatives: str = "lowest_w_sent",
) -> tuple[Tensor, Tensor]:
    """L_sc before averaging: (sum of the terms over the batch, videos with a term).

    Arguments as :func:`pssc_loss`. Each video's sets and prototypes come from that
    video alone, so the sums and counts of sub-batches add up to the whole batch's.

    Returns:
        two scalar float32 tensors; the count carries no gradient.
    """
    if single_class_negatives not in ("lowest_w_sent", "lowest_similarity", "none"):
        raise ValueError(
            f"single_class_negatives={single_class_negatives!r} is not allowed; "
            "allowed: lowest_w_sent, lowest_similarity, none"
        )
    # similarities / temperature need float32: bf16 would round exp(f . p / 0.1) coarsely
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        return _pssc_parts_float32(
            embeddings.float(),
            w_sent.detach().float(),
            point_labels,
            padding_mask.to(torch.bool),
            num_classes,
            topk_divisor,
            temperature,
            single_class_negatives,
        )


def _pssc_parts_float32(
    features: Tensor,
    ranking_weight: Tensor,
    point_labels: PointLabels,
    padding_mask: Tensor,
    num_classes: int,
    topk_divisor: int,
    temperature: float,
    single_class_negatives: str,
) -> tuple[Tensor, Tensor]:
    num_snippets, width = features.shape[1], features.shape[2]

    valid = valid_point_mask(point_labels, padding_mask, num_classes)  # (B, P)
    indices = point_labels.snippet_indices.clamp(0, num_snippets - 1)
    one_hot = F.one_hot(point_labels.class_ids.clamp(0, num_classes - 1), num_classes).float()
    one_hot = one_hot * valid.unsqueeze(-1)  # (B, P, C)
    point_features = features.gather(1, indices.unsqueeze(-1).expand(-1, -1, width))  # (B, P, E)

    points_per_class = one_hot.sum(dim=1)  # (B, C)
    has_class = points_per_class > 0
    prototypes = torch.einsum("bpc,bpe->bce", one_hot, point_features) / points_per_class.clamp(
        min=1.0
    ).unsqueeze(-1)  # (B, C, E)

    times = torch.arange(num_snippets, device=features.device)
    is_point = ((indices.unsqueeze(-1) == times) & valid.unsqueeze(-1)).any(dim=1)  # (B, T)
    candidates = padding_mask & ~is_point
    counts = torch.minimum(topk_counts(padding_mask, topk_divisor), candidates.sum(dim=1))  # (B,)

    with torch.no_grad():
        similarity = torch.einsum("bpe,bte->bpt", point_features, features)  # cos(f_t, p_n)
        class_similarity = torch.einsum("bpc,bpt->bct", one_hot, similarity)  # d_t^c (B, C, T)
        allowed = candidates.unsqueeze(1) & has_class.unsqueeze(-1)  # (B, C, T)
        positives = _rank_select(
            ranking_weight.unsqueeze(1) * class_similarity, allowed, counts, lowest=False
        )
        other_positives = (positives.sum(dim=1, keepdim=True) - positives.long()) > 0
        classes_present = has_class.sum(dim=1)  # (B,)
        if single_class_negatives == "none":
            lonely_negatives = torch.zeros_like(positives)
        else:
            if single_class_negatives == "lowest_w_sent":
                low_scores = ranking_weight.unsqueeze(1).expand(-1, num_classes, -1)
            else:
                low_scores = class_similarity
            lonely_negatives = _rank_select(low_scores, allowed & ~positives, counts, lowest=True)
        single = (classes_present == 1).view(-1, 1, 1)
        negatives = torch.where(single, lonely_negatives, other_positives) & ~positives
        has_term = has_class & positives.any(dim=-1) & negatives.any(dim=-1)  # (B, C)

    logits = torch.einsum("bte,bce->bct", features, prototypes) / temperature  # (B, C, T)
    positive_logits = logits.masked_fill(~positives, _MASKED_LOGIT)
    all_logits = logits.masked_fill(~(positives | negatives), _MASKED_LOGIT)
    terms = torch.logsumexp(all_logits, dim=-1) - torch.logsumexp(positive_logits, dim=-1)  # (B, C)
    terms = torch.where(has_term, terms, torch.zeros_like(terms))
    videos_with_terms = has_term.any(dim=1).sum().to(terms.dtype)
    return terms.sum(), videos_with_terms
