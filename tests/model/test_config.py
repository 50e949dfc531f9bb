"""FSENetConfig: method.md defaults, validation messages, plain-dict round trip."""

from __future__ import annotations

import dataclasses

import pytest

from model import BSPGConfig, FSENetConfig, LossConfig, PSSCConfig
from pipeline.config import ConfigError, load_config


def test_defaults_are_method_md() -> None:
    config = FSENetConfig()
    assert config.streams == ("visual", "audio", "face")
    assert config.d_model == 512
    assert config.projection_kernel == 3
    assert config.num_classes == 2
    assert config.video_topk_divisor == 8
    assert (config.use_fci, config.fci_stages, config.use_gsp) == (True, 2, True)
    assert (config.pseudo_labels, config.supervision, config.use_frame_losses) == ("bspg", "point", True)
    assert config.bspg == BSPGConfig(
        window=7, beta=0.6, tau=0.95, overlap="max", outside="mined", mined_fraction=0.25, point_keeps_label=True
    )
    assert (config.pssc.topk_divisor, config.pssc.temperature) == (8, 0.1)
    assert config.pssc.single_class_negatives == "lowest_w_sent"
    assert (config.loss.focal_gamma, config.loss.lambda_frame, config.loss.lambda_sc) == (2.0, 1.0, 0.05)


@pytest.mark.parametrize(
    ("kind", "settings", "message"),
    [
        (FSENetConfig, {"fci_stages": 3}, "model.fci_stages must be an integer in [1, 2], got 3"),
        (FSENetConfig, {"pseudo_labels": "soft"},
         "model.pseudo_labels must be one of bspg, hard, hard_window, none, got 'soft'"),
        (FSENetConfig, {"supervision": "weak"}, "model.supervision must be one of point, video, full, got 'weak'"),
        (FSENetConfig, {"streams": ("face",)}, "model.streams"),
        (FSENetConfig, {"streams": ("visual", "depth")}, "'depth'"),
        (FSENetConfig, {"d_model": 30, "num_heads": 8}, "model.num_heads=8"),
        (FSENetConfig, {"projection_kernel": 4}, "model.projection_kernel=4"),
        (FSENetConfig, {"dropout": 1.0}, "model.dropout must be a number in [0, 1), got 1.0"),
        (FSENetConfig, {"use_gsp": 1}, "model.use_gsp must be true or false, got 1"),
        (BSPGConfig, {"beta": 1.5}, "model.bspg.beta must be a number in [0, 1], got 1.5"),
        (BSPGConfig, {"window": -1}, "model.bspg.window must be an integer >= 0, got -1"),
        (BSPGConfig, {"overlap": "sum"}, "model.bspg.overlap must be one of max, nearest, got 'sum'"),
        (PSSCConfig, {"temperature": 0.0}, "model.pssc.temperature must be a number > 0, got 0.0"),
        (LossConfig, {"lambda_sc": -1.0}, "model.loss.lambda_sc must be a number >= 0, got -1.0"),
    ],
)
def test_validation_names_field_value_and_range(kind: type, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=None) as error:
        kind(**settings)
    text = str(error.value)
    assert message in text
    assert "\n" not in text


def test_frozen() -> None:
    config = FSENetConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.d_model = 3  # type: ignore[misc]


def test_the_project_config_builds_the_model_section_and_names_unknown_keys() -> None:
    config = load_config(None, ["model.streams=visual,audio", "model.fci_stages=1", "model.bspg.window=5",
                                "model.pssc.temperature=0.2"]).model
    assert config == FSENetConfig(streams=("visual", "audio"), fci_stages=1, bspg=BSPGConfig(window=5),
                                  pssc=PSSCConfig(temperature=0.2))
    with pytest.raises(ConfigError, match=r"unknown setting model\.bspg\.widow \(did you mean model\.bspg\.window\?\)"):
        load_config(None, ["model.bspg.widow=3"])
