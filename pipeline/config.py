"""The one typed config: defaults in code, a YAML file over them, `--set key=value` over that.

Each section is a frozen dataclass owned by the module it configures (the grid by
extractors/grid.py, the audio stream by extractors/audio.py, ...); this module only
composes them, loads and validates overrides, and saves the resolved config beside every
output. Unknown keys, wrong types and out-of-range values stop with one line naming the
key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cache.atomic import atomic_write_text
from extractors.audio import AudioConfig
from extractors.decode import DecodeConfig
from extractors.grid import GridConfig
from extractors.registry import STREAM_NAMES


class ConfigError(Exception):
    """A config value that cannot be used; the message names the key and the fix."""


VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass(frozen=True)
class ExtractConfig:
    streams: tuple[str, ...] = ("audio",)  # which streams `extract` computes
    device: str = "auto"  # auto | cpu | cuda (| cuda:N)
    video_extensions: tuple[str, ...] = VIDEO_EXTENSIONS  # matched case-insensitively

    def __post_init__(self) -> None:
        if not self.streams:
            raise ValueError("extract.streams must name at least one stream")
        unknown = [s for s in self.streams if s not in STREAM_NAMES]
        if unknown:
            raise ValueError(f"extract.streams: unknown stream {unknown[0]!r}; choose from {', '.join(STREAM_NAMES)}")
        if len(set(self.streams)) != len(self.streams):
            raise ValueError(f"extract.streams lists a stream twice: {list(self.streams)}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"extract.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        bad = [e for e in self.video_extensions if not e.startswith(".")]
        if bad:
            raise ValueError(f"extract.video_extensions must start with a dot, got {bad[0]!r}")


@dataclass(frozen=True)
class Config:
    grid: GridConfig = field(default_factory=GridConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)


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


def load_config(path: Path | str | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Defaults, then the YAML file at `path`, then each `--set KEY=VALUE` override."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"{path}: cannot read config ({error.strerror})") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}:{where} is not valid YAML; fix the syntax") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config file must be a mapping of sections")
        data = _merge(data, loaded or {})
    for text in overrides:
        data = _merge(data, parse_override(text))
    try:
        return _build(Config, data)
    except ConfigError as error:
        source = f"{path}: " if path is not None else ""
        raise ConfigError(f"{source}{error}") from None


def config_from_dict(data: dict) -> Config:
    """A Config from nested plain data (as saved by save_config), validated."""
    return _build(Config, data)


def with_overrides(config: Config, overrides: dict) -> Config:
    """A copy of `config` with nested overrides applied (validated like any other)."""
    return _build(Config, _merge(config_to_dict(config), overrides))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def config_to_dict(config: Config) -> dict:
    return _plain(dataclasses.asdict(config))


def save_config(config: Config, path: Path, command: str) -> None:
    """Write the resolved config as YAML (atomically), loadable with --config."""
    header = f"# resolved config of `{command}`, {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    atomic_write_text(Path(path), header + yaml.safe_dump(config_to_dict(config), sort_keys=False))
