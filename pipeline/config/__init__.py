"""The one typed config: defaults in code, a preset and a YAML file over them, `--set key=value` over that.

Each section is a frozen dataclass that checks its own values (model/setting_checks.py).
The sections of the layers below the pipeline live beside the code they configure (the grid
in extractors/grid.py, the audio stream in extractors/audio.py, the model in
model/config.py, the datasets in pipeline/data/config.py); the stages' sections, which
those layers never read, live in this package, one module per stage (extract.py,
train.py, infer.py: inference and post-processing, localize.py). Every stage reads the
composed Config, so a stage's section cannot sit in the stage's own package without this
package importing back up into it. This module only composes the sections, loads and
validates the layers, and saves the resolved config beside every output. Unknown keys,
wrong types and out-of-range values stop with one line naming the key, the value and what
is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import errno
import os
import stat
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from cache.atomic import atomic_write_text
from extractors.audio import AudioConfig
from extractors.decode import DecodeConfig
from extractors.face import FaceConfig
from extractors.grid import GridConfig
from extractors.visual import VisualConfig
from model.config import FSENetConfig
from pipeline.config.extract import ExtractConfig
from pipeline.config.infer import InferConfig, PostprocessConfig
from pipeline.config.localize import LocalizeConfig
from pipeline.config.train import TrainConfig
from pipeline.data.config import DataConfig


class ConfigError(Exception):
    """A config value that cannot be used; the message names the key and the fix."""


Section = TypeVar("Section")


@dataclass(frozen=True)
class Config:
    """The config every command shares: one field per section, each defined beside what it configures."""

    grid: GridConfig = field(default_factory=GridConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: FSENetConfig = field(default_factory=FSENetConfig)
    face: FaceConfig = field(default_factory=FaceConfig)
    visual: VisualConfig = field(default_factory=VisualConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    localize: LocalizeConfig = field(default_factory=LocalizeConfig)


# Sections that the commands which need them read from the same layers (load_section), and
# that Config leaves out: every other command neither loads nor saves them. Configs saved
# by earlier versions carry them; reading those leaves them out too.
COMMAND_SECTIONS: dict[str, str] = {
    "synth": "the synthetic release's (`synth`, `bench train`, `bench epoch`: pipeline/synthetic/release.py)",
}


# -- loading ----------------------------------------------------------------------------
def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """`value` as the field type `annotation`, or ConfigError naming `key`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_coerce(item, item_type, f"{key}[{i}]") for i, item in enumerate(value))
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of settings, got {value!r}")
        return _build(annotation, value, key + ".")
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    else:
        raise ConfigError(f"{key}: unsupported setting type {annotation!r}")
    raise ConfigError(f"{key}: expected {_type_name(annotation)}, got {value!r}")


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else f" (known: {', '.join(names)})"
            raise ConfigError(f"unknown setting {prefix}{key}{hint}")
        kwargs[key] = _coerce(value, hints[key], prefix + key)
    try:
        return cls(**kwargs)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> dict:
    """'audio.n_mfcc=20' -> {'audio': {'n_mfcc': 20}} (the value is read as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, for example --set audio.n_mfcc=20")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


PRESETS_FOLDER = Path(__file__).resolve().parents[1] / "presets"


def preset_names() -> list[str]:
    """The presets shipped with the toolkit (``--preset NAME``; pipeline/presets/NAME.yaml)."""
    return sorted(path.stem for path in PRESETS_FOLDER.glob("*.yaml"))


CONFIG_MAX_BYTES = 1 << 20  # a config file holds settings: anything larger is not one (/dev/zero never ends)


def _config_too_large(path: Path) -> ConfigError:
    return ConfigError(f"{path}: larger than {CONFIG_MAX_BYTES // (1 << 20)} MiB, too large for a config file; "
                       "pass a YAML file of settings")


def _open_config(path: Path) -> int:
    """A descriptor of the config at `path` when it is a regular file, a pipe (/dev/stdin,
    `<(...)`) or a terminal; ConfigError for a folder or a device (/dev/zero), which is
    opened without waiting (O_NONBLOCK) only to learn whether it is a terminal."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
    waits = stat.S_ISREG(mode) or stat.S_ISFIFO(mode)  # a named pipe waits for its writer, as `cat` does
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | (0 if waits else os.O_NONBLOCK | os.O_NOCTTY))
    opened = os.fstat(descriptor).st_mode
    if not (stat.S_ISREG(opened) or stat.S_ISFIFO(opened) or os.isatty(descriptor)):
        os.close(descriptor)
        raise ConfigError(f"{path}: not a regular file (a device or the like); pass a YAML file of settings")
    if stat.S_ISREG(opened) and os.fstat(descriptor).st_size > CONFIG_MAX_BYTES:
        os.close(descriptor)
        raise _config_too_large(path)
    os.set_blocking(descriptor, True)
    return descriptor


def _config_bytes(path: Path) -> bytes:
    """The bytes of a config file, pipe or terminal, read up to CONFIG_MAX_BYTES (ConfigError
    past it, or for what is not one: see _open_config)."""
    try:
        descriptor = _open_config(path)
        with os.fdopen(descriptor, "rb") as handle:
            data = handle.read(CONFIG_MAX_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror})") from None
    if len(data) > CONFIG_MAX_BYTES:
        raise _config_too_large(path)
    return data


def _config_text(path: Path) -> str:
    """The text of a config file; ConfigError when it cannot be read, is too large or is not
    UTF-8 (naming the line of the first byte that is not)."""
    data = _config_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 (line {line}: byte 0x{data[error.start]:02x}); "
                          "save the config file as UTF-8 text") from None


def _read_yaml_file(path: Path) -> dict:
    """A YAML mapping of sections from `path`, or ConfigError naming the file and the fix."""
    try:
        loaded = yaml.safe_load(_config_text(path))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML; fix the syntax") from None
    except RecursionError:
        raise ConfigError(f"{path}: is not valid YAML (nested too deeply); fix the syntax") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections")
    return loaded or {}


def preset_settings(name: str) -> dict:
    """The settings of the preset `name` as nested plain data; ConfigError for an unknown one."""
    if name not in preset_names():
        close = difflib.get_close_matches(name, preset_names(), n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(preset_names())}"
        raise ConfigError(f"--preset {name}: no such preset ({hint})")
    return _read_yaml_file(PRESETS_FOLDER / f"{name}.yaml")


def _shared_sections(data: dict) -> dict:
    """`data` without the command sections (COMMAND_SECTIONS): what Config is built from."""
    return {key: value for key, value in data.items() if key not in COMMAND_SECTIONS}


def config_from_layers(*layers: dict) -> Config:
    """A Config from nested settings, each layer over the ones before it (validated)."""
    data: dict = {}
    for layer in layers:
        data = _merge(data, layer)
    return _build(Config, _shared_sections(data))


def given_settings(path: Path | str | None = None, overrides: typing.Sequence[str] = (),
                   preset: str | None = None) -> dict:
    """What the user gave, as nested plain data: the preset, then the YAML file at `path`,
    then each `--set KEY=VALUE` (not validated; :func:`load_config` validates)."""
    data: dict = preset_settings(preset) if preset is not None else {}
    if path is not None:
        data = _merge(data, _read_yaml_file(Path(path)))
    for text in overrides:
        data = _merge(data, parse_override(text))
    return data


def load_config(path: Path | str | None = None, overrides: typing.Sequence[str] = (),
                preset: str | None = None) -> Config:
    """Defaults, then the preset (pipeline/presets/NAME.yaml), then the YAML file at `path`,
    then each `--set KEY=VALUE` override."""
    data = given_settings(path, overrides, preset)
    try:
        return _build(Config, _shared_sections(data))
    except ConfigError as error:
        raise ConfigError(f"{_source(path, preset)}{error}") from None


def _source(path: Path | str | None, preset: str | None) -> str:
    """Where a bad setting came from, as an error's prefix: the file, the preset, or nothing (--set)."""
    return f"{path}: " if path is not None else (f"--preset {preset}: " if preset is not None else "")


def section_from_settings(name: str, section_type: type[Section], settings: dict) -> Section:
    """The section `name` of nested settings (given_settings) as `section_type`, validated
    like Config's sections: how a command reads a section it owns (COMMAND_SECTIONS)."""
    section = settings.get(name)
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"{name}: expected a mapping of settings, got {section!r}")
    return _build(section_type, section or {}, name + ".")


def load_section(name: str, section_type: type[Section], path: Path | str | None = None,
                 overrides: typing.Sequence[str] = (), preset: str | None = None) -> Section:
    """A command's own section (COMMAND_SECTIONS, e.g. `synth`) from the same layers as
    :func:`load_config`: its defaults, the preset, the YAML file at `path`, each --set."""
    try:
        return section_from_settings(name, section_type, given_settings(path, overrides, preset))
    except ConfigError as error:
        raise ConfigError(f"{_source(path, preset)}{error}") from None


def config_from_dict(data: dict) -> Config:
    """A Config from nested plain data (as saved by save_config), validated; a command
    section (COMMAND_SECTIONS) in it is left out."""
    return _build(Config, _shared_sections(data))


# Training settings whose default changed after configs were saved without them: a saved
# config (a checkpoint's, a run's) that lacks one was trained with this value, and reads it.
SAVED_WITHOUT: dict[tuple[str, ...], object] = {
    ("model", "loss", "focal_form"): "split",  # the frame losses' form before model.loss.focal_form existed
}


def _with_saved_without(data: dict) -> dict:
    """`data` with the SAVED_WITHOUT values of the settings it lacks (only inside sections it has)."""
    data = copy.deepcopy(data)
    for path, value in SAVED_WITHOUT.items():
        section = data
        for key in path[:-1]:
            section = section.get(key) if isinstance(section, dict) else None
        if isinstance(section, dict):
            section.setdefault(path[-1], value)
    return data


def saved_config(data: dict) -> tuple[Config, list[str]]:
    """(the Config, notes) of a config saved by this or an earlier version (a checkpoint's, a
    run's), validated. Sections this version no longer has are left out, never refused: the
    command sections silently (every earlier checkpoint carries `synth`), any other with a
    one-line note. A setting it lacks takes its SAVED_WITHOUT value, else its default."""
    data = _with_saved_without(data)
    known = {section.name for section in dataclasses.fields(Config)}
    unknown = [str(key) for key in data if key not in known and key not in COMMAND_SECTIONS]
    notes = [f"note: the saved config's section(s) {', '.join(unknown)} are not read by this version (left out)"]
    return _build(Config, {key: value for key, value in data.items() if key in known}), notes if unknown else []


def with_overrides(config: Config, overrides: dict) -> Config:
    """A copy of `config` with nested overrides applied (validated like any other)."""
    return _build(Config, _shared_sections(_merge(config_to_dict(config), overrides)))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def config_to_dict(config: Config) -> dict:
    return _plain(dataclasses.asdict(config))


def config_to_yaml(config: Config) -> str:
    """The config as YAML, loadable with --config."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def save_config(config: Config, path: Path, command: str) -> None:
    """Write the resolved config as YAML (atomically), loadable with --config."""
    header = f"# resolved config of `{command}`, {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    atomic_write_text(Path(path), header + config_to_yaml(config))
