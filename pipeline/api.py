"""The toolkit as Python functions, for notebooks and scripts. The commands call the same
stage functions, so a function and its command do the same work and write the same files.

    from pipeline import api
    api.extract("videos/", "cache/", streams=["audio"])
    run = api.train("cache/", "annotations/", "run/", device="cpu", train={"epochs": 30})
    result = api.localize("new_talk.mp4", run.run_dir / "best.pt")
    for segment in result.videos[0].segments:
        print(segment.start_seconds, segment.end_seconds, segment.label, segment.score)

Settings: `config` (a Config, or the path of a YAML file as `--config` takes), then one
keyword per config section with the settings to change, e.g. `audio={"n_mfcc": 20}`,
`train={"epochs": 30}` (checked like `--set`: an unknown name stops with a close match).
Messages go to stderr as the commands print them (`quiet=True`: warnings only); progress
bars show on a terminal (`progress=True` forces them, e.g. in a notebook).

Importing this module loads no model code; each function imports its stage when called.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cache.info import cache_records, format_records
from pipeline.console import printable

if TYPE_CHECKING:
    import numpy as np

    from pipeline.config import Config
    from pipeline.extract.stage import ExtractSummary
    from pipeline.extract.video import VideoOutcome
    from pipeline.localize.video import LocalizedVideo
    from pipeline.train.stage import TrainSummary

__all__ = ["Segment", "VideoLocalization", "LocalizeResult", "extract", "train", "localize", "cache_info",
           "format_cache_info", "last_extract_streams", "settings"]


@dataclass(frozen=True)
class Segment:
    """One segment of sentiment: [start_seconds, end_seconds) of the video, its label and
    its score (ranks segments; not a probability)."""

    start_seconds: float
    end_seconds: float
    label: str
    score: float

    @classmethod
    def from_entry(cls, entry: dict) -> Segment:
        """From an ActivityNet results entry {"label", "score", "segment": [start, end]}."""
        start, end = (float(value) for value in entry["segment"])
        return cls(start, end, str(entry["label"]), float(entry["score"]))


@dataclass
class VideoLocalization:
    """One localized video.

    segments: the non-overlapping segments shown to people (report, subtitles), by start;
    all_segments: every segment the post-processing kept, best first (what evaluation
    scores); scores: (T, C+1) per-snippet scores in [0, 1], one column per class of
    `class_names` then the background, snippet i covering [i, i+1) * snippet_seconds;
    output_dir: where its files are (None when nothing was written); emotions: (T, E) the face
    stream's per-snippet emotion probabilities (rows sum to 1 where a face was seen, zeros
    elsewhere) and emotion_names their E classes, None without a face stream or emotions.
    """

    video_id: str
    source: Path
    duration_seconds: float
    snippet_seconds: float
    class_names: tuple[str, ...]
    segments: list[Segment]
    all_segments: list[Segment]
    scores: np.ndarray
    face_presence: np.ndarray | None
    output_dir: Path | None
    emotions: np.ndarray | None = None
    emotion_names: tuple[str, ...] | None = None

    @classmethod
    def from_localized(cls, video: LocalizedVideo, class_names: tuple[str, ...]) -> VideoLocalization:
        return cls(
            video.video_id, Path(video.source), video.duration_seconds, video.snippet_seconds, tuple(class_names),
            [Segment.from_entry(e) for e in video.shown], [Segment.from_entry(e) for e in video.segments],
            video.scores, video.face_presence, video.output_dir, video.emotions, video.emotion_names,
        )

    @property
    def report(self) -> Path | None:
        """report.html, when files were written."""
        return self.output_dir / "report.html" if self.output_dir is not None else None

    def snippet_start_seconds(self) -> np.ndarray:
        """(T,) start time (s) of each row of `scores`."""
        import numpy as np

        return np.arange(self.scores.shape[0]) * self.snippet_seconds


@dataclass
class LocalizeResult:
    """What `localize` found: one VideoLocalization per video (by id), the videos that
    failed (id, source, reason), the output folder (None: nothing written)."""

    videos: list[VideoLocalization]
    failures: list[VideoOutcome]
    out_dir: Path | None
    random_weight_streams: list[str]

    def __getitem__(self, video_id: str) -> VideoLocalization:
        for video in self.videos:
            if video.video_id == video_id:
                return video
        raise KeyError(f"no localized video {video_id!r}; localized: {[v.video_id for v in self.videos]}")


def settings(config: Config | Path | str | None = None, **sections: dict[str, Any]) -> Config:
    """The Config the functions use: defaults, or `config` (a Config, or a YAML file as
    --config takes), with `sections` over it (section name -> {setting: value})."""
    from pipeline.config import Config, ConfigError, load_config, with_overrides

    base = config if isinstance(config, Config) else load_config(config)
    for name, values in sections.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{name}={values!r}: give a section's settings as a dict, e.g. {name}={{...}}")
    return with_overrides(base, sections) if sections else base


def _console(quiet: bool, progress: bool | None):
    from pipeline.console import progress_wanted, stage_log

    return stage_log(quiet), (progress_wanted(quiet=quiet) if progress is None else progress)


def extract(
    videos: Path | str, cache: Path | str, *, streams: Iterable[str] | None = None, device: str | None = None,
    random_weights: bool = False, config: Config | Path | str | None = None, quiet: bool = False,
    progress: bool | None = None, **sections: dict[str, Any],
) -> ExtractSummary:
    """`fsenet extract`: the features of every video under `videos` (a folder, searched
    recursively, or one file) into the feature cache `cache` (resumable: what is up to date
    is kept). streams: e.g. ["audio", "visual"] (default extract.streams); device: auto,
    cpu, cuda (default extract.device). Returns the summary (outcomes per video, report path)."""
    from pipeline.extract.stage import run_extract

    overrides = {"extract": {**sections.pop("extract", {}), **({"streams": list(streams)} if streams else {}),
                             **({"device": device} if device else {})}}
    log, show_progress = _console(quiet, progress)
    return run_extract(Path(videos), Path(cache), settings(config, **sections, **overrides),
                       allow_random_weights=random_weights, show_progress=show_progress, log=log)


def train(
    features: Path | str, annotations: Path | str | None, out: Path | str, *, device: str = "auto",
    config: Config | Path | str | None = None, quiet: bool = False, progress: bool | None = None,
    **sections: dict[str, Any],
) -> TrainSummary:
    """`fsenet train`: FSENet trained on `features` (a feature cache, or a folder in the
    released TSL-300 layout) with `annotations` (a file or folder; None for a release that
    has its own) into the run folder `out` (rerun to resume). Returns the summary; the
    model is summary.run_dir / "best.pt"."""
    from pipeline.devices import resolve_device
    from pipeline.train.stage import run_train

    log, show_progress = _console(quiet, progress)
    return run_train(Path(features), Path(annotations) if annotations is not None else None, Path(out),
                     settings(config, **sections), resolve_device(device), show_progress=show_progress, log=log)


def localize(
    video_or_dir: Path | str, model: Path | str, *, out: Path | str | None = None, cache: Path | str | None = None,
    device: str = "auto", random_weights: bool = False, config: Config | Path | str | None = None,
    quiet: bool = False, progress: bool | None = None, **sections: dict[str, Any],
) -> LocalizeResult:
    """`fsenet localize`: sentiment segments and per-snippet scores of a video or of every
    video in a folder, by the checkpoint `model`. Files (report, subtitles, timeline,
    segments.json ...) are written only when `out` is given. cache: a feature cache to reuse
    or fill (default OUT/cache; without `out`, a temporary folder removed at the end).
    Post-processing given here (`postprocess={...}`, or a YAML file's postprocess section)
    replaces the checkpoint's."""
    from pipeline.config import given_settings
    from pipeline.devices import resolve_device
    from pipeline.localize.stage import run_localize

    log, show_progress = _console(quiet, progress)
    resolved = settings(config, **sections)
    from_file = given_settings(config).get("postprocess", {}) if isinstance(config, (str, Path)) else {}
    postprocess_overrides = {**from_file, **sections.get("postprocess", {})}
    with tempfile.TemporaryDirectory(prefix="fsenet-features-") as temporary:
        cache_dir = Path(cache) if cache is not None else (None if out is not None else Path(temporary))
        summary = run_localize(
            Path(video_or_dir), Path(model), Path(out) if out is not None else None, resolved, cache_dir=cache_dir,
            device=resolve_device(device), allow_random_weights=random_weights, show_progress=show_progress, log=log,
            postprocess_overrides=postprocess_overrides,
        )
    videos = [VideoLocalization.from_localized(v, summary.class_names) for v in summary.videos]
    return LocalizeResult(videos, summary.failures, summary.out_dir, list(summary.random_weight_streams))


def last_extract_streams(cache_dir: Path | str) -> list[str] | None:
    """The streams the last extract into `cache_dir` asked for, from CACHE_DIR/config.yaml
    (written before its first video, so an interrupted run's too); None without a readable one."""
    from pipeline.config import ConfigError, load_config

    path = Path(cache_dir) / "config.yaml"
    if not path.is_file():
        return None
    try:
        return list(load_config(path).extract.streams)
    except ConfigError:  # written by another version, or edited
        return None


def cache_info(cache_dir: Path | str) -> list[dict]:
    """One record per cached video: id, source, duration, snippets, streams (shape, mask,
    extras, extractor identity, random weights), missing_streams (those the last extract
    asked for that it lacks), valid, problems."""
    return cache_records(Path(cache_dir), last_extract_streams(cache_dir))


def format_cache_info(records: list[dict], requested: list[str] | None = None) -> str:
    """The plain-text table `cache-info` prints (names with control characters escaped);
    `requested`: the last extract's streams (last_extract_streams), said on its first line."""
    return format_records(records, printable, requested)
