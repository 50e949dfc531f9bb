"""The config sections' checks: one line naming the key, what is allowed and what was given."""

from __future__ import annotations

import math

import pytest

from model.setting_checks import check_bool, check_choice, check_int, check_names, check_number, require


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: check_int("train.epochs", 0, 1), "train.epochs must be an integer >= 1, got 0"),
        (lambda: check_int("model.fci_stages", 3, 1, 2), "model.fci_stages must be an integer in [1, 2], got 3"),
        (lambda: check_int("train.epochs", 2.0, 1), "train.epochs must be an integer >= 1, got 2.0"),
        (lambda: check_int("model.use_fci", True, 0), "model.use_fci must be an integer >= 0, got True"),
        (lambda: check_int("extract.workers", -1, 0, note="0: one per core"),
         "extract.workers must be an integer >= 0 (0: one per core), got -1"),
        (lambda: check_number("model.dropout", 1.0, 0, 1, high_open=True),
         "model.dropout must be a number in [0, 1), got 1.0"),
        (lambda: check_number("postprocess.nms_tiou_threshold", 0.0, 0, 1, low_open=True),
         "postprocess.nms_tiou_threshold must be a number in (0, 1], got 0.0"),
        (lambda: check_number("train.learning_rate", 0, 0, low_open=True),
         "train.learning_rate must be a number > 0, got 0"),
        (lambda: check_number("localize.min_score", math.nan, 0), "localize.min_score must be a number >= 0, got nan"),
        (lambda: check_number("localize.min_score", math.inf, 0), "localize.min_score must be a number >= 0, got inf"),
        (lambda: check_number("data.release_audio_scale", "x"), "data.release_audio_scale must be a number, got 'x'"),
        (lambda: check_number("audio.fmax", 9000.0, 0, 8000.0), "audio.fmax must be a number in [0, 8000], got 9000.0"),
        (lambda: check_choice("postprocess.nms", "fast", ("hard", "soft")),
         "postprocess.nms must be one of hard, soft, got 'fast'"),
        (lambda: check_bool("model.use_gsp", 1), "model.use_gsp must be true or false, got 1"),
        (lambda: check_names("extract.streams", (), ("audio",), what="stream"),
         "extract.streams must name at least one stream"),
        (lambda: check_names("extract.streams", ("audio", "smell"), ("audio", "face"), what="stream"),
         "extract.streams: unknown stream 'smell'; choose from audio, face"),
        (lambda: check_names("data.class_names", ("a", "a"), what="class"),
         "data.class_names lists a class twice: ['a', 'a']"),
        (lambda: check_names("data.class_names", ("a", " "), what="class"),
         "data.class_names must list non-empty class names, got ['a', ' ']"),
        (lambda: check_names("model.streams", ["audio"], what="stream"),
         "model.streams must be a list of stream names, got ['audio']"),
        (lambda: require(False, "audio.fmin must be below audio.fmax"), "audio.fmin must be below audio.fmax"),
    ],
)
def test_a_value_not_allowed_is_one_line_naming_key_range_and_value(check, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check()
    assert str(caught.value) == message


def test_allowed_values_pass() -> None:
    check_int("train.epochs", 1, 1)
    check_int("model.fci_stages", 2, 1, 2)
    check_number("model.dropout", 0, 0, 1, high_open=True)
    check_number("postprocess.nms_tiou_threshold", 1.0, 0, 1, low_open=True)
    check_number("data.release_audio_offset", -50.0)
    check_choice("postprocess.nms", "soft", ("hard", "soft"))
    check_bool("model.use_gsp", False)
    check_names("data.streams", (), ("audio",), what="stream", empty_ok=True)
    check_names("extract.streams", ("audio", "face"), ("audio", "face"), what="stream")
    require(True, "never raised")
