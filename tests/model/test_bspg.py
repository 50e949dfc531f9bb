"""BSPG pseudo-labels and the other frame-target generators, against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from model import (
    PointLabels,
    bspg_pseudo_labels,
    hard_pseudo_labels,
    point_only_labels,
    segment_frame_labels,
)
from model.bspg import mine_lowest, self_threshold_labels

NUM_SNIPPETS = 20
TAU = 0.95


def small_case() -> tuple[PointLabels, torch.Tensor, torch.Tensor]:
    """Class 0 at snippets 5 and 8 (mounds overlap at 6, 7), class 1 at 15; w = 2.

    Mound with w = 2, beta = 0.6: distance 0 -> 1.0, 1 -> 0.8, 2 -> 0.6.
    Background scores above tau at 0 (outside windows), 9 (inside), 15 (a point),
    19 (padding).
    """
    points = PointLabels(
        snippet_indices=torch.tensor([[5, 8, 15, 2]]),
        class_ids=torch.tensor([[0, 0, 1, 1]]),
        mask=torch.tensor([[True, True, True, False]]),  # the last slot is padding
    )
    background = torch.full((1, NUM_SNIPPETS), 0.5)
    background[0, [0, 9, 15, 19]] = 0.99
    padding_mask = torch.ones(1, NUM_SNIPPETS, dtype=torch.bool)
    padding_mask[0, 19] = False
    return points, background, padding_mask


def expected_small_case() -> tuple[torch.Tensor, torch.Tensor]:
    sentiment = torch.zeros(NUM_SNIPPETS, 2)
    for snippet, value in {3: 0.6, 4: 0.8, 5: 1.0, 6: 0.8, 7: 0.8, 8: 1.0, 9: 0.0, 10: 0.6}.items():
        sentiment[snippet, 0] = value  # 6 = max(0.8, 0.6), 7 = max(0.6, 0.8); 9 zeroed by tau
    for snippet, value in {13: 0.6, 14: 0.8, 15: 1.0, 16: 0.8, 17: 0.6}.items():
        sentiment[snippet, 1] = value  # 15 keeps its label although its background is 0.99
    labelled = torch.zeros(NUM_SNIPPETS, dtype=torch.bool)
    labelled[[0, *range(3, 11), *range(13, 18)]] = True  # 0: outside but background > tau
    background = 1.0 - sentiment.amax(dim=1)
    targets = torch.cat([sentiment, background[:, None]], dim=1) * labelled[:, None]
    return targets, labelled


def test_bspg_matches_hand_computed_small_case() -> None:
    points, background, padding_mask = small_case()
    labels = bspg_pseudo_labels(points, background, padding_mask, 2, window=2, beta=0.6, tau=TAU)
    targets, labelled = expected_small_case()
    assert torch.equal(labels.label_mask[0], labelled)
    torch.testing.assert_close(labels.targets[0], targets)
    # spelled out: the tau rule inside a window, outside windows, the point, padding
    assert labels.targets[0, 9].tolist() == [0.0, 0.0, 1.0]
    assert labels.targets[0, 0].tolist() == [0.0, 0.0, 1.0] and labels.label_mask[0, 0]
    assert not labels.label_mask[0, 18] and not labels.label_mask[0, 1] and not labels.label_mask[0, 11]
    assert labels.targets[0, 15].tolist() == [0.0, 1.0, 0.0]
    assert not labels.label_mask[0, 19]  # padded, although its background score is above tau


def test_default_window_mound_values() -> None:
    points = PointLabels(torch.tensor([[10]]), torch.tensor([[1]]), torch.tensor([[True]]))
    padding_mask = torch.ones(1, 30, dtype=torch.bool)
    labels = bspg_pseudo_labels(points, torch.zeros(1, 30), padding_mask, 2)
    class_one = labels.targets[0, :, 1]
    for distance in range(8):
        expected = 0.6 + 0.4 * (1 - distance / 7)
        assert class_one[10 + distance].item() == pytest.approx(expected)
        assert class_one[10 - distance].item() == pytest.approx(expected)
        assert labels.targets[0, 10 + distance, 2].item() == pytest.approx(1 - expected)
    assert labels.label_mask[0].nonzero().flatten().tolist() == list(range(3, 18))


def test_overlapping_mounds_of_two_classes_keep_both_channels() -> None:
    points = PointLabels(torch.tensor([[4, 7]]), torch.tensor([[0, 1]]), torch.tensor([[True, True]]))
    padding_mask = torch.ones(1, 12, dtype=torch.bool)
    labels = bspg_pseudo_labels(points, torch.zeros(1, 12), padding_mask, 2, window=2)
    # snippet 5: class 0 at distance 1 (0.8), class 1 at distance 2 (0.6); background 1 - 0.8
    torch.testing.assert_close(labels.targets[0, 5], torch.tensor([0.8, 0.6, 0.2]))
    nearest = bspg_pseudo_labels(points, torch.zeros(1, 12), padding_mask, 2, window=2, overlap="nearest")
    torch.testing.assert_close(nearest.targets[0, 5], torch.tensor([0.8, 0.0, 0.2]))
    torch.testing.assert_close(nearest.targets[0, 6], torch.tensor([0.0, 0.8, 0.2]))


def test_outside_background_and_point_without_priority() -> None:
    points, background, padding_mask = small_case()
    labels = bspg_pseudo_labels(
        points, background, padding_mask, 2, window=2, outside="background", point_keeps_label=False
    )
    assert torch.equal(labels.label_mask, padding_mask)
    assert labels.targets[0, 1].tolist() == [0.0, 0.0, 1.0]
    assert labels.targets[0, 15].tolist() == [0.0, 0.0, 1.0]  # the tau rule now wins at the point


def test_targets_carry_no_gradient_to_the_background_score() -> None:
    points, background, padding_mask = small_case()
    background.requires_grad_(True)
    labels = bspg_pseudo_labels(points, background, padding_mask, 2, window=2)
    assert not labels.targets.requires_grad


def test_hard_variant_binarises_windows() -> None:
    points, background, padding_mask = small_case()
    labels = hard_pseudo_labels(points, background, padding_mask, 2, window=2, tau=TAU)
    expected_targets, labelled = expected_small_case()
    expected_sentiment = (expected_targets[:, :2] > 0).float()
    assert torch.equal(labels.label_mask[0], labelled)
    torch.testing.assert_close(labels.targets[0, :, :2], expected_sentiment)
    torch.testing.assert_close(labels.targets[0, labelled, 2], 1 - expected_sentiment[labelled].amax(1))
    # a threshold above the window's edge value labels the edge as background
    strict = hard_pseudo_labels(points, background, padding_mask, 2, window=2, hard_threshold=0.7)
    assert strict.targets[0, 3].tolist() == [0.0, 0.0, 1.0] and strict.label_mask[0, 3]


def test_point_only_labels() -> None:
    points, _, padding_mask = small_case()
    labels = point_only_labels(points, padding_mask, 2)
    assert labels.label_mask[0].nonzero().flatten().tolist() == [5, 8, 15]
    assert labels.targets[0, 5].tolist() == [1.0, 0.0, 0.0]
    assert labels.targets[0, 15].tolist() == [0.0, 1.0, 0.0]
    assert labels.targets[0, 6].tolist() == [0.0, 0.0, 0.0]


def test_segment_labels_for_full_supervision() -> None:
    segments = torch.zeros(1, 6, 2)
    segments[0, 1:3, 0] = 1
    segments[0, 4, 1] = 1
    padding_mask = torch.tensor([[True, True, True, True, True, False]])
    labels = segment_frame_labels(segments, padding_mask)
    assert torch.equal(labels.label_mask, padding_mask)
    assert labels.targets[0, :, 2].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert labels.targets[0, 1].tolist() == [1.0, 0.0, 0.0]


def test_vectorised_over_batch() -> None:
    points, background, padding_mask = small_case()
    doubled = PointLabels(*(torch.cat([field, field.flip(0)]) for field in points))
    labels = bspg_pseudo_labels(
        doubled, background.repeat(2, 1), padding_mask.repeat(2, 1), 2, window=2, beta=0.6, tau=TAU
    )
    torch.testing.assert_close(labels.targets[0], labels.targets[1])
    empty = PointLabels(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 0, dtype=torch.long),
                        torch.zeros(1, 0, dtype=torch.bool))
    nothing = bspg_pseudo_labels(empty, background, padding_mask, 2, window=2)
    assert nothing.label_mask[0].nonzero().flatten().tolist() == [0, 9, 15]  # the tau rule only


def test_mine_lowest_picks_the_lowest_candidates_per_video() -> None:
    score = torch.tensor([[0.9, 0.1, 0.5, 0.2, 0.3, 0.0], [0.4, 0.3, 0.2, 0.1, 0.0, 0.0]])
    candidates = torch.tensor([[True, True, True, True, True, False], [True, True, True, True, True, False]])
    padding_mask = torch.tensor([[True] * 6, [True] * 5 + [False]])
    mined = mine_lowest(score, candidates, padding_mask, fraction=0.4)  # ceil(2.4) = 3, ceil(2.0) = 2
    assert mined[0].nonzero().flatten().tolist() == [1, 3, 4]  # 0.0 at snippet 5 is no candidate
    assert mined[1].nonzero().flatten().tolist() == [3, 4]
    assert not mine_lowest(score, candidates, padding_mask, fraction=0.0).any()


def test_mined_outside_rule_adds_low_scoring_background_outside_windows() -> None:
    points, background, padding_mask = small_case()
    foreground = torch.linspace(0.0, 1.0, NUM_SNIPPETS).unsqueeze(0)  # snippet 0 lowest, rising
    unlabelled = bspg_pseudo_labels(points, background, padding_mask, 2, window=2)
    mined = bspg_pseudo_labels(points, background, padding_mask, 2, window=2, outside="mined",
                               foreground_score=foreground, mined_fraction=0.2)  # ceil(0.2 * 19) = 4
    added = mined.label_mask[0] & ~unlabelled.label_mask[0]
    # outside the windows [3, 10] and [13, 17]: 0 (already labelled by tau), then 1, 2, 11, 12 lowest
    assert added.nonzero().flatten().tolist() == [1, 2, 11]
    assert torch.equal(mined.targets[0, added], torch.tensor([[0.0, 0.0, 1.0]] * 3))
    torch.testing.assert_close(mined.targets[0, unlabelled.label_mask[0]],
                               unlabelled.targets[0, unlabelled.label_mask[0]])


def test_hard_labels_threshold_the_models_own_scores() -> None:
    points, _, padding_mask = small_case()  # class 0 points at 5 and 8, class 1 at 15
    scores = torch.zeros(1, NUM_SNIPPETS, 2)
    scores[0, 2:4, 0] = 0.7   # above 0.5 for a class with points
    scores[0, 12, 1] = 0.6
    scores[0, 7, 0] = 0.4     # below the threshold
    labels = self_threshold_labels(points, scores, padding_mask, 2, threshold=0.5)
    assert torch.equal(labels.label_mask, padding_mask)
    assert labels.targets[0, :, 0].nonzero().flatten().tolist() == [2, 3, 5, 8]  # points keep their label
    assert labels.targets[0, :, 1].nonzero().flatten().tolist() == [12, 15]
    assert labels.targets[0, 7].tolist() == [0.0, 0.0, 1.0]
    assert labels.targets[0, 19].tolist() == [0.0, 0.0, 0.0]  # padding
    # a class without a point in the video is never a target
    no_class_1 = PointLabels(points.snippet_indices[:, :2], points.class_ids[:, :2], points.mask[:, :2])
    assert self_threshold_labels(no_class_1, scores, padding_mask, 2).targets[0, :, 1].sum() == 0
