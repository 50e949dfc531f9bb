"""Losses: hand-computed focal and base terms, the total, and the supervision / loss switches."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from model import (
    BSPGConfig,
    LossConfig,
    PointLabels,
    focal_bce,
    fsenet_loss,
    make_frame_labels,
    video_base_loss,
)


def test_focal_bce_hand_values() -> None:
    probabilities = torch.tensor([[[0.8, 0.1], [0.5, 0.5]]])
    targets = torch.tensor([[[1.0, 0.3], [0.0, 0.0]]])
    label_mask = torch.tensor([[True, False]])
    first = -(0.2**2) * math.log(0.8)
    second = -(0.3 * 0.9**2 * math.log(0.1) + 0.7 * 0.1**2 * math.log(0.9))
    assert focal_bce(probabilities, targets, label_mask, 2.0, "split").item() == pytest.approx(first + second, rel=1e-5)
    quality_second = -(0.2**2) * (0.3 * math.log(0.1) + 0.7 * math.log(0.9))
    assert focal_bce(probabilities, targets, label_mask, 2.0, "quality").item() == pytest.approx(
        first + quality_second, rel=1e-5)
    # gamma 0 is binary cross-entropy, summed over channels, averaged over labelled snippets
    probabilities = torch.rand(2, 5, 3)
    targets = torch.rand(2, 5, 3)
    label_mask = torch.rand(2, 5) > 0.4
    label_mask[0, 0] = True
    expected = F.binary_cross_entropy(probabilities, targets, reduction="none").sum(-1)[label_mask].mean()
    for form in ("split", "quality"):
        torch.testing.assert_close(focal_bce(probabilities, targets, label_mask, 0.0, form), expected)
    assert focal_bce(probabilities, targets, torch.zeros_like(label_mask), 2.0) == 0


@pytest.mark.parametrize("target", [0.6, 0.8, 0.3])
def test_only_the_quality_form_fits_a_soft_target_where_it_is(target: float) -> None:
    """A BSPG mound's soft target: the "quality" focal loss is smallest at p = target, the
    "split" one between the target and 0.5; on targets 0 and 1 the two are the same loss."""
    p = torch.linspace(0.001, 0.999, 999).view(1, -1, 1)
    y = torch.full_like(p, target)
    mask = torch.ones(1, p.shape[1], dtype=torch.bool)

    def best_p(form: str) -> float:
        per_snippet = [focal_bce(p[:, i:i + 1], y[:, i:i + 1], mask[:, :1], 2.0, form) for i in range(p.shape[1])]
        return float(p[0, int(torch.stack(per_snippet).argmin()), 0])

    assert best_p("quality") == pytest.approx(target, abs=0.002)
    assert abs(best_p("split") - 0.5) < abs(target - 0.5) - 0.03
    for hard in (0.0, 1.0):
        y_hard = torch.full_like(p, hard)
        torch.testing.assert_close(focal_bce(p, y_hard, mask, 2.0, "split"), focal_bce(p, y_hard, mask, 2.0, "quality"))


def test_the_loss_section_chooses_the_frame_losses_form(make_config: Callable, make_model: Callable,
                                                        two_video_batch: dict) -> None:
    model = make_model()
    output = model(two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    split = fsenet_loss(output, make_config(loss=LossConfig(focal_form="split")), two_video_batch["points"])
    quality = fsenet_loss(output, make_config(loss=LossConfig(focal_form="quality")), two_video_batch["points"])
    assert LossConfig().focal_form == "quality"
    assert split["frame"] != quality["frame"] and split["frame_glo"] != quality["frame_glo"]
    torch.testing.assert_close(split["base"], quality["base"])


def test_video_base_loss_hand_values() -> None:
    scores = torch.tensor([[0.6, 0.2, 0.2]])
    labels = torch.tensor([[1.0, 0.0]])
    expected = -(0.5 * math.log(0.6) + 0.5 * math.log(0.2))  # targets [1, 0, 1] / 2
    assert video_base_loss(scores, labels).item() == pytest.approx(expected, rel=1e-5)
    without_background = -math.log(0.6 / 0.8)
    assert video_base_loss(scores, labels, include_background=False).item() == pytest.approx(without_background)


def test_total_combines_the_terms_with_lambdas(make_model: Callable, two_video_batch: dict) -> None:
    model = make_model(loss=LossConfig(lambda_frame=0.7, lambda_sc=0.3))
    output = model(two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    losses = fsenet_loss(output, model.config, two_video_batch["points"])
    assert set(losses) == {"base", "frame", "frame_glo", "sc", "total"}
    assert all(value.dim() == 0 and value > 0 for value in losses.values())
    expected = losses["base"] + 0.7 * (losses["frame"] + losses["frame_glo"]) + 0.3 * losses["sc"]
    torch.testing.assert_close(losses["total"], expected)
    losses["total"].backward()
    silent = [name for name, parameter in model.named_parameters() if parameter.grad is None]
    assert not silent, f"parameters without gradient: {silent}"


def test_use_frame_losses_false_zeroes_them(make_model: Callable, two_video_batch: dict) -> None:
    model = make_model(use_frame_losses=False)
    output = model(two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    losses = fsenet_loss(output, model.config, two_video_batch["points"])
    assert losses["frame"] == 0 and losses["frame_glo"] == 0 and losses["sc"] > 0
    torch.testing.assert_close(losses["total"], losses["base"] + 0.05 * losses["sc"])


def test_pseudo_label_kinds_give_different_targets(make_config: Callable, make_model: Callable,
                                                   two_video_batch: dict) -> None:
    model = make_model()
    output = model(two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    points = two_video_batch["points"]
    kinds = ("bspg", "hard", "hard_window", "none")
    labels = {kind: make_frame_labels(make_config(pseudo_labels=kind), output, points) for kind in kinds}
    frames = {kind: fsenet_loss(output, make_config(pseudo_labels=kind), points)["frame"] for kind in kinds}
    assert torch.equal(labels["bspg"].label_mask, labels["hard_window"].label_mask)
    assert not torch.equal(labels["bspg"].targets, labels["hard_window"].targets)
    assert set(labels["hard_window"].targets.unique().tolist()) <= {0.0, 1.0}
    assert set(labels["hard"].targets.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(labels["hard"].label_mask, two_video_batch["padding_mask"])  # every real snippet
    assert labels["none"].label_mask.sum() == 5  # the five valid points
    assert labels["bspg"].label_mask.sum() > 5
    assert len({round(value.item(), 6) for value in frames.values()}) == 4
    # the BSPG settings of the config reach the generator
    narrow = make_frame_labels(make_config(bspg=BSPGConfig(window=2, outside="unlabelled")), output, points)
    assert narrow.label_mask.sum() == 5 * 5  # five disjoint windows of 2 * 2 + 1 snippets


def test_tau_rule_reads_the_models_background_score(make_config: Callable, make_model: Callable,
                                                    two_video_batch: dict) -> None:
    model = make_model()
    output = model(two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    confident_background = output.cas.clone()
    confident_background[..., 2] = 0.99 * two_video_batch["padding_mask"]
    labels = make_frame_labels(make_config(), output._replace(cas=confident_background), two_video_batch["points"])
    assert torch.equal(labels.label_mask, two_video_batch["padding_mask"])  # every real snippet: background ...
    is_point = labels.targets[..., :2].amax(-1) == 1
    assert is_point.sum() == 5  # ... except the points, which keep their class


def test_video_supervision_uses_l_base_only(make_config: Callable, make_model: Callable,
                                            two_video_batch: dict) -> None:
    config = make_config(supervision="video")
    model = make_model(supervision="video")
    output = model(two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    video_labels = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    losses = fsenet_loss(output, config, video_labels=video_labels)
    assert losses["frame"] == 0 and losses["frame_glo"] == 0 and losses["sc"] == 0
    torch.testing.assert_close(losses["total"], losses["base"])
    torch.testing.assert_close(losses["base"], video_base_loss(output.video_scores, video_labels))
    with pytest.raises(ValueError, match="needs video_labels"):
        fsenet_loss(output, config, point_labels=two_video_batch["points"])


def test_full_supervision_uses_segments(make_config: Callable, make_model: Callable, two_video_batch: dict) -> None:
    config = make_config(supervision="full")
    model = make_model(supervision="full")
    padding_mask = two_video_batch["padding_mask"]
    output = model(two_video_batch["features"], padding_mask, two_video_batch["face_mask"])
    segments = torch.zeros(2, 24, 2)
    segments[0, 2:8, 0] = 1
    segments[1, 5:12, 1] = 1
    labels = make_frame_labels(config, output, segment_masks=segments)
    assert torch.equal(labels.label_mask, padding_mask)
    losses = fsenet_loss(output, config, segment_masks=segments)
    assert losses["frame"] > 0 and losses["sc"] == 0
    expected_base = video_base_loss(output.video_scores, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(losses["base"], expected_base)
    with_points = fsenet_loss(output, config, point_labels=two_video_batch["points"], segment_masks=segments)
    assert with_points["sc"] > 0
    with pytest.raises(ValueError, match="needs segment_masks"):
        fsenet_loss(output, config)


def test_point_supervision_needs_points(make_config: Callable, make_model: Callable, two_video_batch: dict) -> None:
    model = make_model()
    output = model(two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    with pytest.raises(ValueError, match="needs point_labels"):
        fsenet_loss(output, make_config())
    # the video labels come from the points: classes {0, 1} and {1}
    empty = PointLabels(*(field[:, :0] for field in two_video_batch["points"]))
    losses = fsenet_loss(output, make_config(), empty, video_labels=torch.ones(2, 2))
    assert losses["frame"] >= 0 and torch.isfinite(losses["total"])


def test_mean_base_loss_is_the_papers_form() -> None:
    from model.losses import mean_base_loss_part

    cas = torch.tensor([[[0.2, 0.0, 0.8], [0.6, 0.2, 0.2], [0.9, 0.9, 0.9]]])
    targets = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5]]])
    padding_mask = torch.tensor([[True, True, False]])  # the third snippet is padding
    part = mean_base_loss_part(cas, targets, padding_mask)
    predicted = torch.tensor([0.4, 0.1, 0.5])  # mean over the two real snippets, sums to 1
    target = torch.tensor([0.5, 0.0, 0.5])
    torch.testing.assert_close(part.total, -(target * predicted.log()).sum())
    assert part.count == 1


def test_base_form_mean_reaches_the_loss(make_config: Callable, make_model: Callable, two_video_batch: dict) -> None:
    model = make_model()
    output = model(two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    topk = fsenet_loss(output, make_config(), two_video_batch["points"])
    mean = fsenet_loss(output, make_config(loss=LossConfig(base_form="mean")), two_video_batch["points"])
    assert mean["base"] != topk["base"]
    torch.testing.assert_close(mean["frame"], topk["frame"])
