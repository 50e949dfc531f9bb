"""Tests for pipeline/infer/postprocess.py: CAS -> timestamped segments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.config.infer import PostprocessConfig
from pipeline.infer.postprocess import (
    Segment,
    contrast_scores,
    hard_nms,
    localize_segments,
    soft_nms,
    upsample_scores,
)

SNIPPET_SECONDS = 0.64


def planted_cas(num_snippets: int, plants: list[tuple[int, int, int, float]], num_classes: int = 2) -> np.ndarray:
    """(T, C + 1) CAS: low class scores and a high background, except on each planted run
    (class, first snippet, one past the last snippet, class score) where the background is low."""
    cas = np.full((num_snippets, num_classes + 1), 0.05)
    cas[:, num_classes] = 0.9
    for class_index, first, stop, value in plants:
        cas[first:stop, class_index] = value
        cas[first:stop, num_classes] = 0.1
    return cas


def best_segment_of(segments: list[Segment], class_index: int) -> Segment:
    return max((s for s in segments if s.class_index == class_index), key=lambda s: s.score)


def test_defaults_are_method_md_constants():
    config = PostprocessConfig()
    assert config.video_score_topk_divisor == 8 and config.class_score_threshold == 0.5
    assert config.upsample_factor == 24
    np.testing.assert_allclose(config.cas_thresholds, np.arange(0, 0.25, 0.025))
    np.testing.assert_allclose(config.foreground_thresholds, np.arange(0.4, 0.75, 0.025))
    assert len(config.cas_thresholds) == 10 and len(config.foreground_thresholds) == 14
    assert config.outer_margin_fraction == 0.03 and config.video_score_weight == 0.3
    assert config.nms == "hard" and config.nms_tiou_threshold == 0.5


@pytest.mark.parametrize(
    "changes, key",
    [({"nms": "fancy"}, "postprocess.nms"), ({"upsample_factor": 0}, "postprocess.upsample_factor"),
     ({"cas_thresholds": (0.1, 1.5)}, "postprocess.cas_thresholds"),
     ({"soft_nms_sigma": 0.0}, "postprocess.soft_nms_sigma")],
)
def test_config_validation_names_the_key(changes, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        PostprocessConfig(**changes)


def test_planted_segments_of_two_classes_come_back_in_seconds():
    cas = planted_cas(60, [(0, 10, 20, 0.9), (1, 35, 45, 0.8)])
    segments = localize_segments(cas, SNIPPET_SECONDS, 60 * SNIPPET_SECONDS)
    negative, positive = best_segment_of(segments, 0), best_segment_of(segments, 1)
    tolerance = SNIPPET_SECONDS / 2
    assert negative.start_seconds == pytest.approx(10 * SNIPPET_SECONDS, abs=tolerance)
    assert negative.end_seconds == pytest.approx(20 * SNIPPET_SECONDS, abs=tolerance)
    assert positive.start_seconds == pytest.approx(35 * SNIPPET_SECONDS, abs=tolerance)
    assert positive.end_seconds == pytest.approx(45 * SNIPPET_SECONDS, abs=tolerance)
    # The two planted segments are the two best of the video, each with its own class.
    assert {(s.class_index) for s in segments[:2]} == {0, 1}
    assert segments == sorted(segments, key=lambda s: -s.score)
    # Boundaries lie on the bin grid: multiples of s / 24 seconds.
    bins = np.array([[s.start_seconds, s.end_seconds] for s in segments]) / (SNIPPET_SECONDS / 24)
    np.testing.assert_allclose(bins, np.round(bins), atol=1e-6)


def test_only_selected_classes_are_localized():
    cas = planted_cas(40, [(1, 10, 20, 0.9)])
    segments = localize_segments(cas, SNIPPET_SECONDS)
    assert segments and {s.class_index for s in segments} == {1}
    # With the model's own video scores below the threshold, only the argmax class is kept.
    segments = localize_segments(cas, SNIPPET_SECONDS, video_scores=np.array([0.3, 0.2]))
    assert {s.class_index for s in segments} == {0}


def test_outer_inner_contrast_ranks_a_crisp_segment_over_a_flat_one():
    crisp = np.array([0.1] * 10 + [0.9] * 20 + [0.1] * 10)
    flat = np.array([0.9] * 40)
    cumulative = np.stack([np.concatenate([[0.0], np.cumsum(signal)]) for signal in (crisp, flat)])
    rows, starts, stops = np.array([0, 1]), np.array([10, 10]), np.array([30, 30])
    scores = contrast_scores(cumulative, rows, starts, stops, margin_fraction=0.1)  # 2 bins each side
    np.testing.assert_allclose(scores, [0.8, 0.0], atol=1e-12)
    # End to end: the same class value inside, a crisp edge vs. a high surrounding.
    cas = planted_cas(80, [(0, 10, 20, 0.7), (0, 50, 60, 0.7)])
    cas[40:50, 0] = cas[60:70, 0] = 0.6  # the second run sits on a high shoulder
    config = PostprocessConfig(outer_margin_fraction=0.3, cas_thresholds=(0.65,), foreground_thresholds=())
    segments = localize_segments(cas, SNIPPET_SECONDS, config=config)
    assert len(segments) == 2
    assert segments[0].start_seconds < 20 * SNIPPET_SECONDS < segments[1].start_seconds
    assert segments[0].score > segments[1].score


def test_hard_nms_removes_a_duplicate_and_keeps_a_disjoint_segment():
    segments = np.array([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0], [0.0, 5.0]])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    kept = hard_nms(segments, scores, tiou_threshold=0.5)
    # [1, 10] has tIoU 0.9 with [0, 10]: removed; [0, 5] has tIoU exactly 0.5: removed (>=).
    assert kept.tolist() == [0, 2]
    assert hard_nms(segments, scores, tiou_threshold=0.95).tolist() == [0, 1, 2, 3]


def test_soft_nms_decays_rather_than_removes():
    segments = np.array([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0]])
    scores = np.array([0.9, 0.8, 0.7])
    order, decayed = soft_nms(segments, scores, sigma=0.5)
    assert sorted(order.tolist()) == [0, 1, 2]
    by_index = dict(zip(order.tolist(), decayed.tolist(), strict=True))
    assert by_index[0] == pytest.approx(0.9) and by_index[2] == pytest.approx(0.7)
    assert by_index[1] == pytest.approx(0.8 * math.exp(-0.81 / 0.5))
    assert order.tolist() == [0, 2, 1]
    # Through the whole recipe, soft-NMS keeps more segments than hard NMS.
    cas = planted_cas(60, [(0, 10, 20, 0.9)])
    hard = localize_segments(cas, SNIPPET_SECONDS)
    soft = localize_segments(cas, SNIPPET_SECONDS, config=PostprocessConfig(nms="soft"))
    assert len(soft) > len(hard)
    assert best_segment_of(soft, 0).score == pytest.approx(best_segment_of(hard, 0).score)


@pytest.mark.parametrize("alignment", ["center", "start"])
def test_segments_never_exceed_the_video(alignment):
    rng = np.random.default_rng(7)
    num_snippets = 90
    duration = (num_snippets - 1) * SNIPPET_SECONDS + 0.1  # a short partial last snippet
    cas = rng.random((num_snippets, 3))
    cas[-3:, :2] = 0.99  # sentiment right up to the end
    cas[-3:, 2] = 0.01
    config = PostprocessConfig(upsample_alignment=alignment, max_segments_per_video=50)
    segments = localize_segments(cas, SNIPPET_SECONDS, duration, config)
    assert 0 < len(segments) <= 50
    for segment in segments:
        assert 0.0 <= segment.start_seconds < segment.end_seconds <= duration
    assert max(s.end_seconds for s in segments) == pytest.approx(duration)


def test_start_alignment_reproduces_the_authors_interpolation():
    interpolate = pytest.importorskip("scipy.interpolate")
    values = np.random.default_rng(3).random((12, 2))
    authors = interpolate.interp1d(np.arange(12), values, kind="linear", axis=0, fill_value="extrapolate")(
        np.arange(0, 12, 1 / 24)
    )
    np.testing.assert_allclose(upsample_scores(values, 24, "start"), authors, atol=1e-12)
    centred = upsample_scores(values, 24, "center")
    assert centred.min() >= values.min() and centred.max() <= values.max()
    # With an odd factor the middle bin of snippet i is centred on it and takes its value.
    np.testing.assert_allclose(upsample_scores(values, 25, "center")[5 * 25 + 12], values[5], atol=1e-12)


def test_results_entries_use_class_names():
    segment = Segment(1.0, 2.5, 1, 0.75)
    assert segment.to_result(("n", "p")) == {"label": "p", "score": 0.75, "segment": [1.0, 2.5]}


def test_relative_thresholds_follow_the_score_scale():
    """Scaled-down class scores lose their segments under absolute thresholds (everything is
    one run above 0) and keep them under relative ones (fractions of the video's maximum)."""
    cas = planted_cas(60, [(0, 10, 20, 0.8), (0, 40, 45, 0.6)])
    scaled = cas.copy()
    scaled[:, :2] = 0.1 + 0.1 * cas[:, :2]  # every class score in [0.105, 0.18]: above most absolute thresholds
    relative = PostprocessConfig(threshold_mode="relative", cas_thresholds=(0.7, 0.8, 0.9), foreground_thresholds=())
    absolute = PostprocessConfig(cas_thresholds=(0.0, 0.05, 0.1), foreground_thresholds=())
    kept = localize_segments(scaled, SNIPPET_SECONDS, config=relative)
    best = best_segment_of(kept, 0)
    assert best.start_seconds == pytest.approx(10 * SNIPPET_SECONDS, abs=SNIPPET_SECONDS)
    assert best.end_seconds == pytest.approx(20 * SNIPPET_SECONDS, abs=SNIPPET_SECONDS)
    lengths = {round(s.end_seconds - s.start_seconds)
               for s in localize_segments(scaled, SNIPPET_SECONDS, config=absolute)}
    assert lengths == {round(60 * SNIPPET_SECONDS)}


def test_score_and_threshold_mode_are_checked():
    with pytest.raises(ValueError, match="postprocess.score"):
        PostprocessConfig(score="fused")
    with pytest.raises(ValueError, match="postprocess.threshold_mode"):
        PostprocessConfig(threshold_mode="percent")
