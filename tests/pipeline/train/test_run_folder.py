"""The run folder: a run saved by an earlier version (before a setting existed, or with a
section this version no longer has) resumes; one saved with other training settings is
refused, and one whose inference, display or extraction settings changed resumes."""

from __future__ import annotations

import pytest
import torch

from model import FSENet
from pipeline.config import config_to_dict, load_config, with_overrides
from pipeline.train.run_folder import RunError, RunState, resume, save_last


def _saved_run(run_dir, config_dict: dict, config) -> None:
    torch.manual_seed(0)
    model = FSENet(config.model, {"audio": 4})
    optimizer = torch.optim.Adam(model.parameters())
    header = {"stream_dims": {"audio": 4}, "feature_spec": {}, "class_names": ["n", "p"], "config": config_dict}
    save_last(run_dir, header, model, optimizer, torch.Generator().manual_seed(1), RunState(epoch=3, step=12))


def _fresh(config):
    model = FSENet(config.model, {"audio": 4})
    return model, torch.optim.Adam(model.parameters()), torch.Generator()


def test_a_run_saved_before_a_setting_existed_resumes_and_another_config_is_refused(tmp_path):
    config = load_config(None, ["model.streams=audio", "model.d_model=8", "model.num_heads=2"])
    older = config_to_dict(config)
    del older["data"]["split_seed"]  # as if saved by a version without this setting (its default is kept)
    _saved_run(tmp_path, older, config)
    state = resume(tmp_path, config, *_fresh(config), log=lambda message: None)
    assert (state.epoch, state.step) == (3, 12)

    other = with_overrides(config, {"data": {"split_seed": 5}})
    with pytest.raises(RunError, match="another config"):
        resume(tmp_path, other, *_fresh(other), log=lambda message: None)


def test_a_run_saved_with_the_synth_section_of_earlier_versions_resumes(tmp_path):
    config = load_config(None, ["model.streams=audio", "model.d_model=8", "model.num_heads=2"])
    older = {**config_to_dict(config), "synth": {"seed": 0, "num_videos": 300, "streams": ["visual", "audio", "face"]}}
    _saved_run(tmp_path, older, config)
    state = resume(tmp_path, config, *_fresh(config), log=lambda message: None)
    assert state.epoch == 3


def test_a_run_resumes_when_only_what_training_does_not_depend_on_changed(tmp_path):
    config = load_config(None, ["model.streams=audio", "model.d_model=8", "model.num_heads=2"])
    _saved_run(tmp_path, config_to_dict(config), config)
    for changed in ({"localize": {"min_score": 0.5, "video": "copy"}},
                    {"infer": {"batch_size": 2, "amp_dtype": "none"}},
                    {"visual": {"batch_clips": 4}, "extract": {"workers": 2}}, {"train": {"epochs": 900}}):
        other = with_overrides(config, changed)
        assert resume(tmp_path, other, *_fresh(other), log=lambda message: None).epoch == 3, changed
    for changed in ({"model": {"dropout": 0.2}}, {"postprocess": {"score": "cas"}}, {"train": {"learning_rate": 0.1}},
                    {"data": {"validation_fraction": 0.2}}):
        other = with_overrides(config, changed)
        with pytest.raises(RunError, match="another config"):
            resume(tmp_path, other, *_fresh(other), log=lambda message: None)
