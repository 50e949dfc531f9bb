"""The `localize` stage: new videos + a trained checkpoint -> timestamped sentiment
segments people can read, play and plot.

    localize VIDEO_OR_DIR --model CKPT --out OUT_DIR [--cache CACHE_DIR]

1. **Features.** The checkpoint decides what is extracted: its snippet grid and, for
   the streams the model uses (only those), every setting that changes the numbers, as
   recorded in the extractor identities of its feature spec (what really made the
   training features). Settings that never change the numbers (where the weights file
   lies, batch sizes, threads, precision: the extractors' `runtime_fields`; the `decode`
   section, ffmpeg's path) come from this machine's config. Before any video is decoded,
   this machine's extractors are compared with the checkpoint's; a difference (other
   weights, random vs real weights, another extractor version, features from the
   released TSL-300 layout) is a one-line refusal. Videos already cached with exactly the
   model's features are not decoded again (no extractor is even loaded when every video
   is cached); the rest are extracted with `extract`'s rules (resumable, per-video
   failures kept). The cache defaults to OUT_DIR/cache.
2. **Check.** The cached features' spec is checked against the checkpoint's
   (evaluate.check_feature_spec).
3. **Model and post-processing** as `evaluate` runs them (inference.predict_cas,
   segments_from_cas).
4. **Outputs** per video under OUT_DIR/<video_id>/: segments.json (ActivityNet results
   format + a "localize" header), segments.csv, <name>.srt, <name>.vtt, timeline.csv,
   timeline.png, report.html; and OUT_DIR/results.json (every video), OUT_DIR/summary.csv.
   Random-weight features are stated on each of them.

A video that fails (extraction or writing) is listed with its reason; the others complete.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cache.fingerprint import source_record
from cache.store import FeatureCache, canonical
from extractors.grid import GridConfig, SnippetGrid
from extractors.registry import EXTRACTORS
from pipeline.config import Config, config_from_dict, config_to_dict
from pipeline.console import to_stderr
from pipeline.data.samples import DatasetError, VideoSample, samples_from_cache
from pipeline.extract.discovery import VideoFile, discover_videos
from pipeline.evaluate.stage import check_feature_spec
from pipeline.extract.stage import VideoOutcome, make_extractors, run_extract
from pipeline.localize.html_report import write_report
from pipeline.infer.checkpoint import CheckpointError, TrainedModel, load_trained_model, predict_cas, segments_from_cas
from pipeline.localize.outputs import (
    seconds_per_label,
    segments_csv_text,
    shown_segments,
    srt_text,
    summary_csv_text,
    timeline_csv_text,
    vtt_text,
    write_results_json,
    write_text,
)
from pipeline.localize.timeline_plot import write_timeline_png
from pipeline.train.stage import autocast_dtype


@dataclass
class LocalizedVideo:
    """One video's localization.

    Attributes:
        video_id: the id (path relative to the input folder, without extension).
        source: the video file.
        duration_seconds: the video's duration (s).
        snippet_seconds: the grid step (s); snippet i covers [i s, (i+1) s).
        scores: (T, C+1) per-snippet scores in [0, 1], classes then background.
        face_presence: (T,) fraction of sampled frames with a face, None without a face stream.
        segments: every segment the post-processing kept (ActivityNet entries, best first).
        shown: the non-overlapping segments shown in subtitles, plot and report (by start).
        output_dir: OUT_DIR/<video_id>.
    """

    video_id: str
    source: Path
    duration_seconds: float
    snippet_seconds: float
    scores: np.ndarray
    face_presence: np.ndarray | None
    segments: list[dict]
    shown: list[dict]
    output_dir: Path

    def seconds_per_label(self, class_names: tuple[str, ...]) -> dict[str, float]:
        """Seconds covered by each label's shown segments."""
        return seconds_per_label(self.shown, class_names)


@dataclass
class LocalizeSummary:
    """What `localize` did: localized videos, failures, where the outputs are."""

    out_dir: Path
    class_names: tuple[str, ...]
    videos: list[LocalizedVideo]
    failures: list[VideoOutcome]
    results_path: Path
    summary_path: Path
    random_weight_streams: list[str]
    extracted: int = 0  # videos whose features were (re)computed
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds

    @property
    def random_weights(self) -> bool:
        return bool(self.random_weight_streams)


# -- features ---------------------------------------------------------------------------
def extraction_config(trained: TrainedModel, machine_config: Config, device: str) -> Config:
    """The config that makes features like the model's training features.

    From the checkpoint: the snippet grid and, per stream the model uses, every setting
    that decides the numbers, read from the extractor identity recorded in its feature
    spec (what really made the training features; the checkpoint's config sections fill
    in anything missing), and the random-weights seed when those weights were random.
    From this machine's config: runtime-only fields (where the weights file lies, batch
    sizes, threads, precision; the extractors' `runtime_fields`) and `decode` (ffmpeg's
    path and threads). Streams: the model's; device: `device`.
    """
    merged = config_to_dict(machine_config)
    from_checkpoint = config_to_dict(trained.config)
    spec = trained.feature_spec
    grid = spec.get("grid") or {}
    merged["grid"] = {key: grid.get(key, value) for key, value in from_checkpoint["grid"].items()}
    for stream in trained.streams:
        identity = spec["extractors"][stream]
        section = {**from_checkpoint[stream], **identity.get("config", {})}
        for key in EXTRACTORS[stream].runtime_fields:
            section[key] = merged[stream][key]
        weights = identity.get("weights")
        if isinstance(weights, dict) and weights.get("random") and "random_seed" in section:
            section["random_seed"] = weights.get("seed", section["random_seed"])
        merged[stream] = section
    merged["extract"]["streams"] = list(trained.streams)
    merged["extract"]["device"] = device
    return config_from_dict(merged)


def random_weight_streams(feature_spec: dict) -> list[str]:
    """Streams whose recorded extractor identity says random weights."""
    found = []
    for stream, identity in (feature_spec.get("extractors") or {}).items():
        weights = identity.get("weights") if isinstance(identity, dict) else None
        if isinstance(weights, dict) and weights.get("random"):
            found.append(stream)
    return found


def _weights_words(identity: dict) -> str:
    weights = identity.get("weights")
    if not isinstance(weights, dict):
        return "no weights"
    if weights.get("random"):
        return f"RANDOM weights (seed {weights.get('seed', '?')})"
    return f"weights sha256 {str(weights.get('sha256', '?'))[:12]}"


def identity_difference(stream: str, trained: dict, here: dict) -> str:
    """One line saying how this machine's extractor differs from the model's."""
    if canonical(trained.get("weights")) != canonical(here.get("weights")):
        return (
            f"stream '{stream}': the model was trained on features from {_weights_words(trained)}, this machine's "
            f"extractor has {_weights_words(here)}; use the same weights (or --random-weights when the model's "
            "features were random) or train a model on features made here"
        )
    if trained.get("version") != here.get("version") or trained.get("name") != here.get("name"):
        return (
            f"stream '{stream}': the model's features come from extractor {trained.get('name')} v{trained.get('version')}, "
            f"this code has {here.get('name')} v{here.get('version')}; train again on features extracted here"
        )
    keys = sorted(
        key for key in set(trained.get("config", {})) | set(here.get("config", {}))
        if canonical(trained.get("config", {}).get(key)) != canonical(here.get("config", {}).get(key))
    )
    detail = ", ".join(f"{stream}.{key}" for key in keys) or "other fields"
    return f"stream '{stream}': the extractor settings differ from the model's ({detail}); train again or extract as it was trained"


def refuse_unreproducible_features(trained: TrainedModel, model_path: Path) -> None:
    """Refuse (CheckpointError) a model whose features this tool cannot make for new videos."""
    spec = trained.feature_spec
    if spec.get("source") == "release":
        raise CheckpointError(
            f"{model_path}: trained on features in the released TSL-300 layout, whose extractors cannot be rerun on new "
            "videos; train on a cache made by `extract` to localize new videos"
        )
    missing = [s for s in trained.streams if not isinstance((spec.get("extractors") or {}).get(s), dict)]
    if missing:
        raise CheckpointError(f"{model_path}: the checkpoint does not record the extractor of stream(s) {missing}")


def videos_cached_for_model(
    videos: list[VideoFile], cache: FeatureCache, trained: TrainedModel, grid_config: GridConfig
) -> bool:
    """True when every video's cache entry holds, for the source file as it is now and on
    the grid of `grid_config`, every stream the model uses made by exactly the extractor
    identity the model was trained on."""
    identities = trained.feature_spec["extractors"]
    for video in videos:
        meta = cache.read_meta(video.video_id)
        if meta is None or not cache.source_matches(meta, source_record(video.path)):
            return False
        grid = SnippetGrid.for_duration(float(meta["probe"]["duration_seconds"]), grid_config).to_dict()
        for stream in trained.streams:
            if not cache.check_stream(video.video_id, meta, stream, identities[stream], grid).valid:
                return False
    return True


# -- one video --------------------------------------------------------------------------
def output_file_names(video_id: str) -> dict[str, str]:
    """Link text -> file name of a video's outputs (subtitles named after the video)."""
    name = Path(video_id).name or "video"
    return {
        "segments.json": "segments.json", "segments.csv": "segments.csv", "subtitles (SRT)": f"{name}.srt",
        "subtitles (WebVTT)": f"{name}.vtt", "timeline.csv": "timeline.csv", "timeline.png": "timeline.png",
    }


def write_video_outputs(
    localized: LocalizedVideo, class_names: tuple[str, ...], header: dict, random_weights: bool
) -> None:
    """Every per-video file under localized.output_dir (each written atomically)."""
    folder = localized.output_dir
    folder.mkdir(parents=True, exist_ok=True)
    names = output_file_names(localized.video_id)
    video_header = {
        **header, "video_id": localized.video_id, "source": str(localized.source),
        "duration_seconds": localized.duration_seconds, "snippet_seconds": localized.snippet_seconds,
    }
    write_results_json(folder / "segments.json", {localized.video_id: localized.segments}, video_header)
    write_text(folder / "segments.csv", segments_csv_text(localized.segments, localized.shown, random_weights))
    write_text(folder / names["subtitles (SRT)"], srt_text(localized.shown, random_weights))
    note = f"fsenet localize: {localized.video_id}, model {Path(str(header.get('model', ''))).name}"
    write_text(folder / names["subtitles (WebVTT)"], vtt_text(localized.shown, random_weights, note))
    write_text(
        folder / "timeline.csv",
        timeline_csv_text(localized.scores, localized.snippet_seconds, class_names, localized.face_presence, random_weights),
    )
    write_timeline_png(
        folder / "timeline.png", scores=localized.scores, snippet_seconds=localized.snippet_seconds,
        duration_seconds=localized.duration_seconds, class_names=class_names, segments=localized.shown,
        face_presence=localized.face_presence, title=localized.video_id, random_weights=random_weights,
    )
    write_report(
        folder / "report.html", video_id=localized.video_id, video_path=localized.source,
        duration_seconds=localized.duration_seconds, snippet_seconds=localized.snippet_seconds,
        scores=localized.scores, class_names=class_names, all_segments=localized.segments, shown=localized.shown,
        face_presence=localized.face_presence, seconds_by_label=localized.seconds_per_label(class_names),
        header=video_header, files=names,
    )


def run_header(trained: TrainedModel, model_path: Path, random_streams: list[str]) -> dict:
    """Provenance written into every output: model, classes, streams, extractor weights."""
    extractors = {}
    for stream in trained.streams:
        identity = trained.feature_spec["extractors"].get(stream, {})
        extractors[stream] = {
            "name": identity.get("name"), "version": identity.get("version"), "weights": _weights_words(identity),
        }
    return {
        "model": str(Path(model_path).resolve()),
        "epoch": trained.checkpoint.get("epoch"),
        "class_names": list(trained.class_names),
        "streams": list(trained.streams),
        "trained_on": trained.feature_spec.get("path"),
        "extractors": extractors,
        "random_weights": bool(random_streams),
        "random_weight_streams": list(random_streams),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def localize_samples(
    trained: TrainedModel,
    samples: dict[str, VideoSample],
    sources: dict[str, Path],
    out_dir: Path,
    device: str,
    header: dict,
    failures: list[VideoOutcome],
    debug: bool = False,
) -> list[LocalizedVideo]:
    """Model, post-processing and every per-video output for samples already read.

    A video whose outputs cannot be written is appended to `failures`; the rest go on.
    """
    video_ids = sorted(samples)
    random_weights = bool(header.get("random_weights"))
    cas = predict_cas(
        trained.model, samples, video_ids, device, trained.config.train.batch_size,
        autocast_dtype(trained.config.train, device),
    )
    results = segments_from_cas(cas, samples, trained.config, trained.class_names)
    localized = []
    for video_id in video_ids:
        sample = samples[video_id]
        video = LocalizedVideo(
            video_id=video_id,
            source=Path(sources[video_id]),
            duration_seconds=sample.duration_seconds,
            snippet_seconds=sample.snippet_seconds,
            scores=cas[video_id],
            face_presence=sample.face_mask,
            segments=results[video_id],
            shown=shown_segments(results[video_id], min_seconds=sample.snippet_seconds),
            output_dir=Path(out_dir) / video_id,
        )
        try:
            write_video_outputs(video, trained.class_names, header, random_weights)
        except OSError as error:
            if debug:
                traceback.print_exc()
            failures.append(VideoOutcome(video_id, str(video.source), "failed", f"cannot write outputs: {error}"))
            continue
        localized.append(video)
    return localized


# -- the stage --------------------------------------------------------------------------
def run_localize(
    videos: Path,
    model_path: Path,
    out_dir: Path,
    config: Config,
    cache_dir: Path | None = None,
    device: str = "cpu",
    allow_random_weights: bool = False,
    debug: bool = False,
    show_progress: bool = True,
    log=to_stderr,
) -> LocalizeSummary:
    """Localize sentiment in a video or a folder of videos (see the module docstring).

    videos: a video file or a folder (searched recursively, ids as in `extract`).
    config: this machine's config (runtime settings; the checkpoint decides the features).
    device: a resolved device ("cpu", "cuda", "cuda:N").
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    out_dir, model_path = Path(out_dir), Path(model_path)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    trained = load_trained_model(model_path, device)
    refuse_unreproducible_features(trained, model_path)
    settings = extraction_config(trained, config, device)
    timings["load model"] = time.perf_counter() - started

    started = time.perf_counter()
    skip = [cache_dir] + ([out_dir] if out_dir.resolve() != Path(videos).resolve() else [])
    found = discover_videos(Path(videos), config.extract.video_extensions, skip=skip)
    cache = FeatureCache(cache_dir)
    extracted = 0
    outcomes: list[VideoOutcome]
    if cache.is_cache() and videos_cached_for_model(found, cache, trained, settings.grid):
        outcomes = [VideoOutcome(v.video_id, str(v.path), "up to date") for v in found]
    else:
        extractors = make_extractors(settings, device, allow_random_weights, log=lambda message: None)
        for stream, extractor in extractors.items():
            if canonical(extractor.identity()) != canonical(trained.feature_spec["extractors"][stream]):
                raise CheckpointError(
                    f"{model_path}: " + identity_difference(stream, trained.feature_spec["extractors"][stream], extractor.identity())
                )
        summary = run_extract(
            Path(videos), cache_dir, settings, allow_random_weights=allow_random_weights, debug=debug,
            show_progress=show_progress, extractors=extractors,
        )
        del extractors
        outcomes = summary.outcomes
        extracted = sum(o.status == "extracted" for o in outcomes)
    timings["features"] = time.perf_counter() - started

    # A few videos at a time (the model's batch size), so memory does not grow with the folder.
    started = time.perf_counter()
    failures = [o for o in outcomes if o.status == "failed"]
    ready = {o.video_id: Path(o.source) for o in outcomes if o.status != "failed"}
    random_streams = random_weight_streams(trained.feature_spec)
    if random_streams:
        log(f"warning: the {', '.join(random_streams)} features come from RANDOM extractor weights; "
            "every output says so, and their scores carry no learned meaning")
    header = run_header(trained, model_path, random_streams)
    video_ids = sorted(ready)
    localized: list[LocalizedVideo] = []
    batch_size = max(1, trained.config.train.batch_size)
    for first in range(0, len(video_ids), batch_size):
        samples: dict[str, VideoSample] = {}
        for video_id in video_ids[first : first + batch_size]:
            try:
                read, found_spec = samples_from_cache(cache_dir, [video_id], trained.streams, len(trained.class_names))
            except DatasetError as error:
                failures.append(VideoOutcome(video_id, str(ready[video_id]), "failed", str(error)))
                continue
            check_feature_spec(trained.feature_spec, found_spec)
            samples.update(read)
        if samples:
            localized += localize_samples(trained, samples, ready, out_dir, device, header, failures, debug)
    timings["read features, model, post-processing, outputs"] = time.perf_counter() - started

    results_path, summary_path = out_dir / "results.json", out_dir / "summary.csv"
    write_results_json(results_path, {v.video_id: v.segments for v in localized}, header)
    rows = [
        {
            "video_id": v.video_id, "status": "localized", "duration_s": v.duration_seconds, "segments": len(v.shown),
            "seconds": v.seconds_per_label(trained.class_names), "outputs": str(v.output_dir),
        }
        for v in localized
    ] + [{"video_id": f.video_id, "status": "failed", "reason": f.reason} for f in failures]
    failures.sort(key=lambda failure: failure.video_id)
    rows.sort(key=lambda row: row["video_id"])
    write_text(summary_path, summary_csv_text(rows, trained.class_names, bool(random_streams)))
    return LocalizeSummary(
        out_dir=out_dir, class_names=trained.class_names, videos=localized, failures=failures,
        results_path=results_path, summary_path=summary_path, random_weight_streams=random_streams,
        extracted=extracted, timings=timings,
    )


def format_localize_summary(summary: LocalizeSummary) -> str:
    """The table printed at the end: video, duration, shown segments, seconds per label;
    then failures, the random-weights line and where the outputs are."""
    labels = list(summary.class_names)
    header = ["video", "duration", "segments", *(f"{label} s" for label in labels)]
    rows = []
    for video in summary.videos:
        seconds = video.seconds_per_label(summary.class_names)
        rows.append([video.video_id, f"{video.duration_seconds:.1f} s", str(len(video.shown)),
                     *(f"{seconds[label]:.1f}" for label in labels)])
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) if rows else len(header[i]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(f"{len(summary.videos)} video(s) localized, {len(summary.failures)} failed")
    if summary.failures:
        lines.append("failed:")
        lines += [f"  {failure.source}: {failure.reason}" for failure in summary.failures]
    if summary.random_weights:
        lines.append(
            f"NOTE: features from RANDOM extractor weights ({', '.join(summary.random_weight_streams)}): "
            "these results carry no learned meaning for those streams"
        )
    lines.append(f"outputs: {summary.out_dir}/<video>/ (report.html, segments.json/.csv, .srt, .vtt, timeline.csv/.png); "
                 f"all videos: {summary.results_path}, {summary.summary_path}")
    for video in summary.videos[:5]:
        lines.append(f"report: {video.output_dir / 'report.html'}")
    if len(summary.videos) > 5:
        lines.append(f"... and {len(summary.videos) - 5} more reports (see {summary.summary_path})")
    return "\n".join(lines)
