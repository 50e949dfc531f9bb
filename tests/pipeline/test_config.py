"""The typed config: defaults, YAML, --set, validation messages, round trip."""

import dataclasses
import re
import shlex
import subprocess
import sys
import typing

import pytest
import yaml

from pipeline.config import (
    Config,
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    load_section,
    save_config,
    saved_config,
)
from pipeline.synthetic.release import SynthConfig
from tests.conftest import ROOT


def test_defaults_match_the_method():
    config = load_config()
    assert config.grid.snippet_seconds == pytest.approx(0.64)
    assert config.audio.n_mfcc == 40
    assert config.extract.device == "auto"


def test_yaml_then_set_overrides_in_that_order(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("audio:\n  n_mfcc: 20\n  hop_seconds: 0.02\ngrid:\n  frame_rate: 30\n")
    config = load_config(path, ["audio.n_mfcc=13", "extract.streams=audio"])
    assert config.audio.n_mfcc == 13
    assert config.audio.hop_seconds == 0.02
    assert config.grid.frame_rate == 30.0 and isinstance(config.grid.frame_rate, float)
    assert config.extract.streams == ("audio",)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("audio.n_mfc=20", "unknown setting audio.n_mfc (did you mean audio.n_mfcc?)"),
        ("audio.n_mfcc=many", "audio.n_mfcc: expected int, got 'many'"),
        ("audio.n_mfcc=0", "audio.n_mfcc must be in [1, n_mels=64], got 0"),
        ("extract.streams=audio,smell", "unknown stream 'smell'"),
        ("nonsense", "expected KEY=VALUE"),
        ("audio=3", "audio: expected a mapping"),
        ("visual.random_seed=-5",
         "visual.random_seed must be an integer in [0, 9223372036854775807] (2**63 - 1), got -5"),
    ],
)
def test_bad_settings_stop_with_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("audio:\n  n_mfcc: [1,\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config(path)


def test_saved_config_loads_back_identically(tmp_path):
    config = load_config(None, ["audio.n_mfcc=13", "decode.threads=2"])
    save_config(config, tmp_path / "config.yaml", "extract")
    assert load_config(tmp_path / "config.yaml") == config
    assert config_from_dict(config_to_dict(config)) == config
    assert isinstance(Config(), Config)


def test_config_command_prints_yaml_that_loads_back(tmp_path):
    from tests.conftest import cli

    result = cli("config", "--set", "audio.n_mfcc=13", "--set", "model.bspg.beta=0.5")
    assert result.returncode == 0, result.stderr
    (tmp_path / "printed.yaml").write_text(result.stdout)
    loaded = load_config(tmp_path / "printed.yaml")
    assert loaded.audio.n_mfcc == 13 and loaded.model.bspg.beta == 0.5
    assert loaded == load_config(None, ["audio.n_mfcc=13", "model.bspg.beta=0.5"])


def test_the_paper_preset_sits_under_the_config_file_and_set(tmp_path):
    paper = load_config(preset="paper")
    assert paper.model.bspg.outside == "background" and paper.model.loss.base_form == "mean"
    assert paper.model.pssc.temperature == 1.0 and paper.model.pssc.single_class_negatives == "none"
    assert paper.model.loss.focal_form == "split" != load_config().model.loss.focal_form
    assert (paper.train.epochs, paper.train.early_stopping_patience, paper.data.validation_fraction) == (600, 0, 0.0)
    assert paper.postprocess == load_config().postprocess  # inference is not part of the recipe
    file = tmp_path / "mine.yaml"
    file.write_text("train:\n  epochs: 300\n")
    layered = load_config(file, ["model.bspg.outside=mined"], preset="paper")
    assert (layered.train.epochs, layered.model.bspg.outside, layered.model.loss.base_form) == (300, "mined", "mean")
    with pytest.raises(ConfigError, match=r"--preset papr: no such preset \(did you mean paper\?\)"):
        load_config(preset="papr")


def test_early_stopping_settings_are_checked():
    with pytest.raises(ConfigError, match="train.early_stopping_min_delta must be a number >= 0"):
        load_config(overrides=["train.early_stopping_min_delta=-0.1"])
    with pytest.raises(ConfigError, match="postprocess.class_scores_from must be one of cas, localized"):
        load_config(overrides=["postprocess.class_scores_from=cas_fg"])


def test_a_config_file_that_is_not_utf8_or_nests_too_deep_is_one_line_naming_it(tmp_path):
    path = tmp_path / "réglages.yaml"
    path.write_bytes("train:\n  epochs: 3\n  # Einstellungen für den Lauf\n".encode("cp1252"))  # ü as one byte
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: not UTF-8 (line 3: byte 0xfc); save the config file as UTF-8 text"
    path.write_text("train: " + "[" * 100_000)
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(path)


def _config_command(shell_line: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """`fsenet config` run by bash (`<(...)`, pipes), under a 2 GB address-space limit: a
    reader without a cap ends in a MemoryError (or the timeout), never fills the machine."""
    command = f"ulimit -v 2000000; {shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'cli.py'))} {shell_line}"
    return subprocess.run(["bash", "-c", command], input=stdin, capture_output=True, timeout=60)


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in lines[0], result.stderr
    return lines[0]


def test_a_config_that_is_a_device_or_too_large_is_one_line_and_pipes_still_work(tmp_path):
    """`--config /dev/zero` read forever; a file, a pipe or `<(...)` past CONFIG_MAX_BYTES is
    refused, while small ones from /dev/stdin and process substitution load as before."""
    from pipeline.config import CONFIG_MAX_BYTES

    assert _one_line(_config_command("config --config /dev/zero")) == (
        "error: /dev/zero: not a regular file (a device or the like); pass a YAML file of settings")
    too_large = "larger than 1 MiB, too large for a config file; pass a YAML file of settings"
    big = tmp_path / "big.yaml"
    big.write_text("train:\n  epochs: 4\n" + "#" * CONFIG_MAX_BYTES)
    with pytest.raises(ConfigError) as caught:
        load_config(big)
    assert str(caught.value) == f"{big}: {too_large}"
    assert _one_line(_config_command("config --config <(yes '# a comment')")).endswith(f": {too_large}")
    assert _one_line(_config_command("config --config /dev/stdin", stdin=big.read_bytes())) == (
        f"error: /dev/stdin: {too_large}")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(tmp_path))}: cannot read config \\(is a folder\\)$"):
        load_config(tmp_path)

    settings = b"train:\n  epochs: 4\n"
    small = settings + b"#" * (CONFIG_MAX_BYTES - len(settings))  # the cap itself still loads
    big.write_bytes(small)
    assert load_config(big).train.epochs == 4
    for shell_line, stdin in (("config --config /dev/stdin", small),
                              ("config --config <(printf 'train:\\n  epochs: 5\\n')", None),
                              (f"config --config /dev/stdin < {shlex.quote(str(big))}", None)):
        result = _config_command(shell_line, stdin)
        assert result.returncode == 0, result.stderr
        assert yaml.safe_load(result.stdout)["train"]["epochs"] == (5 if "printf" in shell_line else 4)


def test_a_seed_out_of_range_stops_train_before_anything_is_written(tmp_path):
    from tests.conftest import cli, one_error_line

    run = tmp_path / "run"
    line = one_error_line(cli("train", "--features", str(tmp_path / "absent"), "--annotations", str(tmp_path / "a.csv"),
                              "--out", str(run), "--set", f"train.seed={4 * 10**24}"))
    assert line == "error: train.seed must be an integer in [0, 9223372036854775807] (2**63 - 1), got " \
                   f"{4 * 10**24}"
    assert not run.exists()


def _seed_fields(section_type, prefix):
    """(key, section type, field name) of every seed setting of `section_type`, nested sections included."""
    hints = typing.get_type_hints(section_type)
    for item in dataclasses.fields(section_type):
        if dataclasses.is_dataclass(hints[item.name]):
            yield from _seed_fields(hints[item.name], f"{prefix}{item.name}.")
        elif item.name == "seed" or item.name.endswith("_seed"):
            yield f"{prefix}{item.name}", section_type, item.name


def test_every_seed_setting_is_checked_by_its_own_section():
    hints = typing.get_type_hints(Config)
    seeds = [found for item in dataclasses.fields(Config) for found in _seed_fields(hints[item.name], item.name + ".")]
    seeds += list(_seed_fields(SynthConfig, "synth."))
    assert {key for key, _, _ in seeds} >= {"train.seed", "data.split_seed", "visual.random_seed", "synth.seed"}
    for key, section_type, name in seeds:
        section_type(**{name: 2**63 - 1})
        message = rf"^{re.escape(key)} must be an integer in \[0, 9223372036854775807\] \(2\*\*63 - 1\), got "
        for bad in (-1, 2**63):
            with pytest.raises(ValueError, match=message):
                section_type(**{name: bad})


def test_synth_is_its_commands_own_section_read_from_the_same_layers(tmp_path):
    file = tmp_path / "both.yaml"
    file.write_text("train:\n  epochs: 7\nsynth:\n  num_videos: 12\n")
    config = load_config(file, ["synth.scale=0.5"])
    assert config.train.epochs == 7 and "synth" not in config_to_dict(config)
    synth = load_section("synth", SynthConfig, file, ["synth.scale=0.5"])
    assert (synth.num_videos, synth.scale) == (12, 0.5) and synth.seed == SynthConfig().seed
    with pytest.raises(ConfigError, match=r"unknown setting synth\.num_vidoes \(did you mean synth\.num_videos\?\)"):
        load_section("synth", SynthConfig, None, ["synth.num_vidoes=3"])
    with pytest.raises(ConfigError, match=r"synth\.seed must be an integer in \[0, 9223372036854775807\]"):
        load_section("synth", SynthConfig, None, ["synth.seed=18446744073709551616"])
    with pytest.raises(ConfigError, match=f"{file}: synth.scale must be a number > 0, got 0"):
        load_section("synth", SynthConfig, file, ["synth.scale=0"])


def test_a_saved_config_leaves_out_the_sections_this_version_no_longer_has():
    saved = {**config_to_dict(load_config(None, ["train.epochs=9"])), "synth": {"seed": 4}, "retired": {"x": 1}}
    config, notes = saved_config(saved)
    assert config.train.epochs == 9
    assert notes == ["note: the saved config's section(s) retired are not read by this version (left out)"]
    assert config_from_dict({"synth": {"seed": 4}, "train": {"epochs": 9}}).train.epochs == 9
    with pytest.raises(ConfigError, match="unknown setting retired"):
        config_from_dict({"retired": {}})


def test_a_saved_config_without_a_setting_whose_default_changed_reads_what_it_was_trained_with():
    saved = config_to_dict(load_config())
    del saved["model"]["loss"]["focal_form"]  # saved before model.loss.focal_form existed: trained with "split"
    assert saved_config(saved)[0].model.loss.focal_form == "split" != load_config().model.loss.focal_form
    assert saved_config(config_to_dict(load_config()))[0].model.loss.focal_form == "quality"
    assert "focal_form" not in saved["model"]["loss"]  # the caller's data is left as it was
