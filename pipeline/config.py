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
from extractors.face import FaceConfig
from extractors.grid import GridConfig
from extractors.visual import VisualConfig
from model.config import FSENetConfig
from model.setting_checks import check_bool, check_choice, check_int, check_names, check_number, require
from model.streams import STREAM_NAMES
from pipeline.data.config import DataConfig
from pipeline.devices import AMP_CHOICES
from pipeline.synthetic.release import SynthConfig


class ConfigError(Exception):
    """A config value that cannot be used; the message names the key and the fix."""


EXTRACT_ENGINES = ("local", "ray")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass(frozen=True)
class ExtractConfig:
    streams: tuple[str, ...] = ("audio", "visual", "face")  # which streams `extract` computes
    device: str = "auto"  # auto | cpu | cuda (| cuda:N)
    video_extensions: tuple[str, ...] = VIDEO_EXTENSIONS  # matched case-insensitively
    engine: str = "local"  # local: this process, one video at a time | ray: a Ray cluster (pipeline/extract/ray_engine.py)
    workers: int = 1  # local engine: worker processes decoding videos at once (0: one per core; 1: one video at a time)
    ray_address: str = ""  # empty: start Ray on this machine; else a running cluster ("auto", "HOST:6379", "ray://HOST:10001")
    ray_num_cpus: int = 0  # CPUs of the Ray instance started here (0: the cores this process may use); unused with an address
    ray_model_actors: int = 0  # actors running the model streams (visual, face); 0: one per GPU, or one per 2 CPUs without GPUs
    ray_cpus_per_model_actor: float = 1.0  # CPU cores each model actor reserves (it decodes its own frames)
    ray_max_retries: int = 2  # times a video is retried after the worker holding it dies; then it is reported failed

    def __post_init__(self) -> None:
        check_names("extract.streams", self.streams, STREAM_NAMES, what="stream")
        check_choice("extract.device", "cuda" if self.device.startswith("cuda:") else self.device,
                     ("auto", "cpu", "cuda"), note="or cuda:N")
        bad = [e for e in self.video_extensions if not e.startswith(".")]
        require(not bad, f"extract.video_extensions must start with a dot, got {bad[0] if bad else ''!r}")
        check_choice("extract.engine", self.engine, EXTRACT_ENGINES)
        check_int("extract.workers", self.workers, 0, note="0: one per core, 1: one video at a time")
        check_int("extract.ray_num_cpus", self.ray_num_cpus, 0)
        check_int("extract.ray_model_actors", self.ray_model_actors, 0)
        check_number("extract.ray_cpus_per_model_actor", self.ray_cpus_per_model_actor, 0, low_open=True)
        check_int("extract.ray_max_retries", self.ray_max_retries, 0, 100)


SELECTION_METRICS = ("auto", "map", "loss")
FEATURES_ON_DEVICE = ("auto", "always", "never")
LR_SCHEDULES = ("constant", "cosine")
DIAGNOSTICS_SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 600  # the paper's schedule
    batch_size: int = 8  # videos per step (the authors' code); under torchrun the global batch, shared by all processes
    learning_rate: float = 1e-5  # Adam (paper)
    weight_decay: float = 5e-4  # the authors' code
    seed: int = 123  # the authors' code
    validate_every_epochs: int = 10
    selection_metric: str = "auto"  # auto: validation mAP when the split has segments, else validation loss
    max_train_snippets: int = 0  # crop longer videos to a random window of this many snippets (0: never)
    grad_clip_norm: float = 0.0  # 0: no clipping
    length_bucket_batches: int = 8  # batches per length bucket (similar lengths share a batch); 0: plain random batches
    amp_dtype: str = "auto"  # autocast: auto (bf16 on CUDA and on CPUs that run it natively) | bfloat16 | float16 | none
    num_threads: int = 0  # torch CPU threads; 0: the cores this process may use
    pad_multiple_snippets: int = 0  # batch length rounded up to a multiple of this (masked padding; fewer shapes for GPU kernels to warm up on); 0: 64 on CUDA, 1 elsewhere
    features_on_device: str = "auto"  # keep training features on the GPU and pad batches there: auto (on CUDA when they fit in half its free memory) | always | never
    lr_schedule: str = "constant"  # constant | cosine (decays to lr_min_fraction x learning_rate at the last step)
    lr_min_fraction: float = 0.0  # cosine: final learning rate as a fraction of train.learning_rate
    warmup_epochs: int = 0  # linear warm-up of the learning rate from 0 over this many epochs
    early_stopping_patience: int = 3  # stop after this many validation checks without a gain (quality decays after its peak on noisy points); 0: never
    early_stopping_min_delta: float = 0.005  # a gain is at least this much in the selection metric (avg mAP, or loss); smaller changes do not renew patience
    early_stopping_start_epoch: int = 100  # early stopping never ends a run before this epoch (a flat early stretch is not a plateau)
    refit: bool = False  # after the run: train a new model on train + validation for the best epoch count -> RUN_DIR/refit.pt
    diagnostics_splits: tuple[str, ...] = ()  # at each validation check, add loss terms, mAP and score behaviour of these splits (train, validation, test) to history.json (pipeline/train/diagnostics.py); test figures are never used for selection

    def __post_init__(self) -> None:
        check_int("train.epochs", self.epochs, 1)
        check_int("train.batch_size", self.batch_size, 1)
        check_number("train.learning_rate", self.learning_rate, 0, low_open=True)
        check_number("train.weight_decay", self.weight_decay, 0)
        check_int("train.validate_every_epochs", self.validate_every_epochs, 1)
        check_choice("train.selection_metric", self.selection_metric, SELECTION_METRICS)
        check_int("train.max_train_snippets", self.max_train_snippets, 0, note="0: never")
        check_number("train.grad_clip_norm", self.grad_clip_norm, 0, note="0: no clipping")
        check_int("train.length_bucket_batches", self.length_bucket_batches, 0)
        check_choice("train.amp_dtype", self.amp_dtype, AMP_CHOICES)
        check_int("train.num_threads", self.num_threads, 0, note="0: the cores this process may use")
        check_int("train.pad_multiple_snippets", self.pad_multiple_snippets, 0, note="0: automatic")
        check_choice("train.features_on_device", self.features_on_device, FEATURES_ON_DEVICE)
        check_choice("train.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_number("train.lr_min_fraction", self.lr_min_fraction, 0, 1)
        check_int("train.warmup_epochs", self.warmup_epochs, 0)
        check_int("train.early_stopping_patience", self.early_stopping_patience, 0, note="0: never")
        check_number("train.early_stopping_min_delta", self.early_stopping_min_delta, 0)
        check_int("train.early_stopping_start_epoch", self.early_stopping_start_epoch, 0)
        check_bool("train.refit", self.refit)
        check_names("train.diagnostics_splits", self.diagnostics_splits, DIAGNOSTICS_SPLITS, what="split",
                    empty_ok=True)


DEFAULT_CAS_THRESHOLDS: tuple[float, ...] = tuple(round(0.025 * i, 3) for i in range(10))  # 0 .. 0.225
DEFAULT_FOREGROUND_THRESHOLDS: tuple[float, ...] = tuple(round(0.4 + 0.025 * i, 3) for i in range(14))  # 0.4 .. 0.725
UPSAMPLE_ALIGNMENTS = ("center", "start")
NMS_KINDS = ("hard", "soft")
SCORE_KINDS = ("cas", "cas_fg", "global")  # what the class columns localized on are (see PostprocessConfig.score)
CLASS_SCORE_SOURCES = ("cas", "localized")  # what the video-level class scores are computed from
THRESHOLD_MODES = ("absolute", "relative")


@dataclass(frozen=True)
class PostprocessConfig:
    """Every constant of the inference post-processing (method.md, "Inference"; the recipe is
    pipeline/infer/postprocess.py)."""

    video_score_topk_divisor: int = 8  # video score = mean of the top max(1, T // this) snippets
    class_score_threshold: float = 0.5  # localize classes whose video score is >= this (else the argmax)
    upsample_factor: int = 24  # bins per snippet after linear interpolation
    upsample_alignment: str = "center"  # "center" (ours) or "start" (the authors' code)
    cas_thresholds: tuple[float, ...] = DEFAULT_CAS_THRESHOLDS  # on the class CAS
    foreground_thresholds: tuple[float, ...] = DEFAULT_FOREGROUND_THRESHOLDS  # on 1 - background
    outer_margin_fraction: float = 0.03  # outer margin = ceil(this * run length) bins each side
    video_score_weight: float = 0.3  # weight of the class's video score in a segment's score
    score_on_thresholded_cas: bool = False  # True: the authors' scoring of CAS-threshold proposals
    nms: str = "hard"  # "hard" or "soft" (Gaussian soft-NMS)
    nms_tiou_threshold: float = 0.5  # hard NMS drops a segment whose tIoU with a kept one is >= this
    soft_nms_sigma: float = 0.5  # soft-NMS weight exp(-tIoU^2 / sigma); soft-NMS ignores nms_tiou_threshold
    max_segments_per_video: int = 0  # keep at most this many segments (best first); 0 keeps all
    # What the class columns are (applied to the model's output by pipeline.infer.predict.predict_cas):
    # "cas": the class CAS y_c; "cas_fg": y_c * (1 - y_bg), what the TSL-300 and FSENet code localize on;
    # "global": the fused global CAS W_sent * y_c (background column (1 - W_sent) * y_bg).
    score: str = "cas_fg"  # issue 13: measured on validation, CAS x (1 - bg) beat the raw CAS
    # "absolute": thresholds are score values; "relative": each threshold is a fraction of the video's
    # maximum of that signal (class column, resp. 1 - background), so they follow the score scale.
    threshold_mode: str = "absolute"
    # What the video-level class scores (class selection and each segment's bonus) are the top-k mean of:
    # "cas": the raw class CAS, whatever `score` is (TSL-Net's and the FSENet authors' test code);
    # "localized": the scores segments are found on (`score`); with cas_fg this lets the second class
    # of a two-class video through far less often. Kept to reproduce older figures.
    class_scores_from: str = "cas"

    def __post_init__(self) -> None:
        check_int("postprocess.video_score_topk_divisor", self.video_score_topk_divisor, 1)
        check_number("postprocess.class_score_threshold", self.class_score_threshold, 0, 1)
        check_int("postprocess.upsample_factor", self.upsample_factor, 1)
        check_choice("postprocess.upsample_alignment", self.upsample_alignment, UPSAMPLE_ALIGNMENTS)
        for name in ("cas_thresholds", "foreground_thresholds"):
            for index, value in enumerate(getattr(self, name)):
                check_number(f"postprocess.{name}[{index}]", value, 0, 1)
        require(len(self.cas_thresholds) + len(self.foreground_thresholds) >= 1,
                "postprocess.cas_thresholds and postprocess.foreground_thresholds are both empty; "
                "give at least one threshold")
        check_number("postprocess.outer_margin_fraction", self.outer_margin_fraction, 0)
        check_number("postprocess.video_score_weight", self.video_score_weight, 0)
        check_bool("postprocess.score_on_thresholded_cas", self.score_on_thresholded_cas)
        check_choice("postprocess.nms", self.nms, NMS_KINDS)
        check_number("postprocess.nms_tiou_threshold", self.nms_tiou_threshold, 0, 1, low_open=True)
        check_number("postprocess.soft_nms_sigma", self.soft_nms_sigma, 0, low_open=True)
        check_int("postprocess.max_segments_per_video", self.max_segments_per_video, 0, note="0 keeps all")
        check_choice("postprocess.score", self.score, SCORE_KINDS)
        check_choice("postprocess.threshold_mode", self.threshold_mode, THRESHOLD_MODES)
        check_choice("postprocess.class_scores_from", self.class_scores_from, CLASS_SCORE_SOURCES)


VIDEO_LINKS = ("relative", "copy", "link")


@dataclass(frozen=True)
class LocalizeConfig:
    """What `localize` shows people (report, subtitles, plot, summary). segments.json and
    results.json always hold every segment the post-processing kept (for evaluation)."""

    min_score: float = 0.0  # show only segments scoring at least this (0: every shown segment)
    max_segments: int = 0  # show at most this many per video, best first (0: no limit)
    video: str = "relative"  # how report.html reaches the video: relative (a relative link), copy (a copy beside the report: the folder can move), link (a symlink beside it)

    def __post_init__(self) -> None:
        check_number("localize.min_score", self.min_score, 0, note="0: every shown segment")
        check_int("localize.max_segments", self.max_segments, 0, note="0: no limit")
        check_choice("localize.video", self.video, VIDEO_LINKS)


@dataclass(frozen=True)
class Config:
    grid: GridConfig = field(default_factory=GridConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: FSENetConfig = field(default_factory=FSENetConfig)
    face: FaceConfig = field(default_factory=FaceConfig)
    visual: VisualConfig = field(default_factory=VisualConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    localize: LocalizeConfig = field(default_factory=LocalizeConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)


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


MAX_SEED = 2**63 - 1  # every seed reaches numpy (non-negative only) and torch (64 bits)


def _check_seed(key: str, value: Any) -> None:
    """A setting named `seed` or `*_seed` must be an integer in [0, MAX_SEED] (or None where allowed)."""
    if value is not None and not (isinstance(value, int) and 0 <= value <= MAX_SEED):
        raise ConfigError(f"{key}: a seed must be an integer from 0 to {MAX_SEED} (2**63 - 1), got {value!r}")


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
        if key == "seed" or key.endswith("_seed"):
            _check_seed(prefix + key, kwargs[key])
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


PRESETS_FOLDER = Path(__file__).resolve().parent / "presets"


def preset_names() -> list[str]:
    """The presets shipped with the toolkit (``--preset NAME``; pipeline/presets/NAME.yaml)."""
    return sorted(path.stem for path in PRESETS_FOLDER.glob("*.yaml"))


def _config_text(path: Path) -> str:
    """The text of a config file; ConfigError when it cannot be read or is not UTF-8 (naming
    the line of the first byte that is not)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror})") from None
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


def config_from_layers(*layers: dict) -> Config:
    """A Config from nested settings, each layer over the ones before it (validated)."""
    data: dict = {}
    for layer in layers:
        data = _merge(data, layer)
    return _build(Config, data)


def given_settings(path: Path | str | None = None, overrides: typing.Sequence[str] = (), preset: str | None = None) -> dict:
    """What the user gave, as nested plain data: the preset, then the YAML file at `path`,
    then each `--set KEY=VALUE` (not validated; :func:`load_config` validates)."""
    data: dict = preset_settings(preset) if preset is not None else {}
    if path is not None:
        data = _merge(data, _read_yaml_file(Path(path)))
    for text in overrides:
        data = _merge(data, parse_override(text))
    return data


def load_config(path: Path | str | None = None, overrides: typing.Sequence[str] = (), preset: str | None = None) -> Config:
    """Defaults, then the preset (pipeline/presets/NAME.yaml), then the YAML file at `path`,
    then each `--set KEY=VALUE` override."""
    data = given_settings(path, overrides, preset)
    try:
        return _build(Config, data)
    except ConfigError as error:
        source = f"{path}: " if path is not None else (f"--preset {preset}: " if preset is not None else "")
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


def config_to_yaml(config: Config) -> str:
    """The config as YAML, loadable with --config."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def save_config(config: Config, path: Path, command: str) -> None:
    """Write the resolved config as YAML (atomically), loadable with --config."""
    header = f"# resolved config of `{command}`, {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    atomic_write_text(Path(path), header + config_to_yaml(config))
