"""The video-level class scores come from the raw class CAS, whatever score segments are found on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.config.infer import PostprocessConfig
from pipeline.infer.postprocess import select_classes
from pipeline.infer.predict import localization_scores, video_scores_from_output


def two_class_video() -> tuple[np.ndarray, np.ndarray]:
    """CAS (T, 3) of a video with a negative stretch where the background is low and a
    positive stretch the model also scores as fairly likely background (0.5)."""
    cas = np.full((80, 3), 0.05)
    cas[:, 2] = 0.9
    cas[5:25, 0], cas[5:25, 2] = 0.9, 0.1
    cas[50:70, 1], cas[50:70, 2] = 0.8, 0.5
    return cas.astype(np.float32), np.full(80, 0.7, dtype=np.float32)


def test_both_classes_pass_the_threshold_on_the_raw_cas_while_segments_use_the_fused_score():
    cas, w_sent = two_class_video()
    settings = PostprocessConfig(score="cas_fg")
    scores = video_scores_from_output(cas, w_sent, settings)
    assert scores.class_scores == pytest.approx([0.9, 0.8], abs=1e-6)  # top-10 means of the raw class CAS
    assert list(select_classes(scores.class_scores, settings.class_score_threshold)) == [0, 1]
    assert scores.snippet_scores[60] == pytest.approx([0.05 * 0.5, 0.8 * 0.5, 0.5])  # y_c (1 - y_bg), y_bg
    before = video_scores_from_output(cas, w_sent, dataclasses.replace(settings, class_scores_from="localized"))
    assert list(select_classes(before.class_scores, settings.class_score_threshold)) == [0]  # the positive class lost


def test_localization_scores_of_each_kind():
    cas, w_sent = two_class_video()
    assert np.array_equal(localization_scores(cas, w_sent, "cas"), cas)
    fused = localization_scores(cas, w_sent, "global")
    assert fused[10] == pytest.approx([0.7 * 0.9, 0.7 * 0.05, 0.3 * 0.1])
    with pytest.raises(ValueError, match="allowed: cas, cas_fg, global"):
        localization_scores(cas, w_sent, "softmax")
