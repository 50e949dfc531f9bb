"""The `localize` stage: new videos + a trained checkpoint -> timestamped sentiment
segments people can read, play and plot.

    localize VIDEO_OR_DIR --model CKPT --out OUT_DIR [--cache CACHE_DIR]

1. **Features** (pipeline/localize/features.py): made as the checkpoint records its
   training features, reusing the cache (default OUT_DIR/cache); the rest are extracted
   with `extract`'s rules (resumable, per-video failures kept).
2. **Check.** The cached features' spec is checked against the checkpoint's.
3. **Model and post-processing** as `evaluate` runs them (pipeline/infer/predict.py).
4. **Outputs** per video under OUT_DIR/<video_id>/ (pipeline/localize/outputs.py):
   segments.json (ActivityNet results format + a "localize" header), segments.csv,
   <name>.srt, <name>.vtt, <name>.eaf (ELAN), <name>.labels.txt (Audacity), timeline.csv,
   timeline.png, report.html; and OUT_DIR/results.json (every video), OUT_DIR/summary.csv,
   OUT_DIR/label_studio.json (Label Studio pre-annotations) with
   OUT_DIR/label_studio_config.xml. Random-weight features are stated on each of them
   but the Audacity labels (a format without comments).

A video that fails (extraction or writing) is listed with its reason; the others complete.
No file localize did not write is replaced (pipeline/localize/owned_files.py); a run file
that cannot be written is one line naming it, and the others are written.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from cache.store import CacheError, FeatureCache
from pipeline.config import Config
from pipeline.config.localize import LocalizeConfig
from pipeline.console import printable, random_weights_warning, shell_path, to_stderr
from pipeline.data.activitynet import write_results
from pipeline.data.cached import samples_from_cache
from pipeline.data.samples import DatasetError, VideoSample
from pipeline.devices import autocast_dtype, device_line, precision_name
from pipeline.extract.discovery import discover_videos
from pipeline.extract.video import VideoOutcome
from pipeline.infer.checkpoint import TrainedModel, load_trained_model
from pipeline.infer.predict import predict_scores, segments_from_scores
from pipeline.localize.features import extraction_config, features_for_model, refuse_unreproducible_features
from pipeline.localize.outputs import (
    RUN_LEVEL_NAMES,
    output_folder_name,
    results_fields,
    run_header,
    video_output_dir,
    write_video_outputs,
)
from pipeline.localize.owned_files import ForeignFileError, claim_files, localize_header, written_by_localize
from pipeline.localize.text_formats import summary_csv_text, write_text
from pipeline.localize.tool_formats import label_studio_config, label_studio_task
from pipeline.localize.video import LocalizedVideo, shown_segments
from pipeline.output_folder import check_output_folder


@dataclass
class LocalizeSummary:
    """What `localize` did: localized videos, failures, where the outputs are."""

    out_dir: Path | None  # None: nothing written (the Python API without an output folder)
    class_names: tuple[str, ...]
    videos: list[LocalizedVideo]
    failures: list[VideoOutcome]
    results_path: Path | None
    summary_path: Path | None
    label_studio_path: Path | None
    random_weight_streams: list[str]
    extracted: int = 0  # videos whose features were (re)computed
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    unwritten: list[str] = field(default_factory=list)  # run-level files that could not be written: "PATH: why"

    @property
    def random_weights(self) -> bool:
        return bool(self.random_weight_streams)


def localize_samples(
    trained: TrainedModel,
    samples: dict[str, VideoSample],
    sources: dict[str, Path],
    out_dir: Path | None,
    device: str,
    header: dict,
    failures: list[VideoOutcome],
    debug: bool = False,
    config: Config | None = None,
) -> list[LocalizedVideo]:
    """Model, post-processing and every per-video output for samples already read.

    config: this machine's config (what is shown: localize.*; ffmpeg); out_dir None:
    nothing is written (the Python API without an output folder). A video whose outputs
    cannot be written is appended to `failures`; the rest go on.
    """
    shown_settings = config.localize if config is not None else LocalizeConfig()
    video_ids = sorted(samples)
    amp = autocast_dtype(trained.config.infer.amp_dtype, device, "infer.amp_dtype")
    scores = predict_scores(trained.model, samples, video_ids, device, trained.config.postprocess,
                            trained.config.infer.batch_size, amp)
    results = segments_from_scores(scores, samples, trained.config.postprocess, trained.class_names)
    localized = []
    for video_id in video_ids:
        sample = samples[video_id]
        video = LocalizedVideo(
            video_id=video_id,
            source=Path(sources[video_id]),
            duration_seconds=sample.duration_seconds,
            snippet_seconds=sample.snippet_seconds,
            scores=scores[video_id].snippet_scores,
            class_scores=scores[video_id].class_scores,
            class_score_threshold=trained.config.postprocess.class_score_threshold,
            face_presence=sample.face_mask,
            segments=results[video_id],
            shown=shown_segments(results[video_id], sample.snippet_seconds, shown_settings.min_score,
                                 shown_settings.max_segments),
            output_dir=video_output_dir(out_dir, video_id) if out_dir is not None else None,
            frame_rate=sample.native_fps,
            emotions=sample.face_emotions.probabilities if sample.face_emotions is not None else None,
            emotion_names=sample.face_emotions.names if sample.face_emotions is not None else None,
        )
        if out_dir is None:
            localized.append(video)
            continue
        try:
            write_video_outputs(video, trained.class_names, header, shown_settings,
                                config.decode.ffmpeg_binary if config is not None else "",
                                shown_as=lambda path: relative_to(path, out_dir))
        except Exception as error:  # one video's outputs must not stop the batch
            if debug:
                traceback.print_exc()
            failures.append(VideoOutcome(video_id, str(sources[video_id]), "failed",
                                         output_failure_reason(error, out_dir)))
            continue
        localized.append(video)
    return localized


def relative_to(path: Path | str, out_dir: Path) -> str:
    """`path` relative to OUT_DIR when it lies inside (the outputs are shared: no absolute path)."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(out_dir))
    return str(path) if relative == ".." or relative.startswith("../") else relative


def output_failure_reason(error: Exception, out_dir: Path) -> str:
    """The one-line reason of a video whose outputs could not be written (paths relative to
    OUT_DIR: the reason goes into summary.csv, which holds no absolute path)."""
    if isinstance(error, ForeignFileError):
        return f"cannot write outputs: {error}"
    if isinstance(error, OSError):
        where = f"{relative_to(error.filename, out_dir)}: " if error.filename else ""
        return f"cannot write outputs: {where}{error.strerror or type(error).__name__}"
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"cannot write outputs: {type(error).__name__}: {first_line} (rerun with --debug for details)"


def _localize_ready(trained: TrainedModel, ready: dict[str, Path], cache_dir: Path, out_dir: Path | None, device: str,
                    header: dict, failures: list[VideoOutcome], debug: bool, config: Config) -> list[LocalizedVideo]:
    """Every video whose features are cached, a model batch at a time (memory does not
    grow with the folder); a video whose features cannot be read fails alone."""
    video_ids = sorted(ready)
    localized: list[LocalizedVideo] = []
    batch_size = trained.config.infer.batch_size
    for first in range(0, len(video_ids), batch_size):
        samples: dict[str, VideoSample] = {}
        for video_id in video_ids[first : first + batch_size]:
            try:
                read, found_spec = samples_from_cache(cache_dir, [video_id], trained.streams, len(trained.class_names))
            except (DatasetError, CacheError) as error:
                failures.append(VideoOutcome(video_id, str(ready[video_id]), "failed", str(error)))
                continue
            trained.feature_spec.check_features(found_spec)
            samples.update(read)
        if samples:
            localized += localize_samples(trained, samples, ready, out_dir, device, header, failures, debug, config)
    return localized


def _run_file_texts(summary: LocalizeSummary, header: dict) -> dict[Path, object]:
    """The run's files: OUT_DIR/summary.csv (one row per video), label_studio.json and its
    config -> their text; OUT_DIR/results.json (every video's segments) -> its results."""
    rows = [
        {
            "video_id": v.video_id, "status": "localized", "duration_s": v.duration_seconds, "segments": len(v.shown),
            "seconds": v.seconds_per_label(summary.class_names), "outputs": output_folder_name(v.video_id),
        }
        for v in summary.videos
    ] + [{"video_id": f.video_id, "status": "failed", "reason": f.reason} for f in summary.failures]
    rows.sort(key=lambda row: row["video_id"])
    model_version = f"fsenet {Path(str(header.get('model', ''))).name}"
    tasks = [label_studio_task(v, model_version, summary.random_weights)
             for v in sorted(summary.videos, key=lambda v: v.video_id)]
    return {
        summary.results_path: {v.video_id: v.segments for v in summary.videos},
        summary.summary_path: summary_csv_text(rows, summary.class_names, summary.random_weights),
        summary.label_studio_path: json.dumps(tasks, indent=1) + "\n",
        summary.label_studio_path.with_name("label_studio_config.xml"): label_studio_config(summary.class_names),
    }


def _earlier_run_files(out_dir: Path) -> set[str]:
    """The run's files an earlier localize (before manifests) wrote in OUT_DIR: all of them,
    when its results.json is localize's."""
    return set(RUN_LEVEL_NAMES) if localize_header(out_dir / "results.json") is not None else set()


def _write_run_files(summary: LocalizeSummary, header: dict, log) -> None:
    """OUT_DIR's own files (_run_file_texts), none replacing a file localize did not write
    (owned_files). A file that cannot be written (in the way, a full disk) is one line naming
    it, listed in summary.unwritten; the others are written."""
    files = _run_file_texts(summary, header)
    try:
        claim_files(summary.out_dir, [path.name for path in files], str, _earlier_run_files)
    except (ForeignFileError, OSError) as error:
        files = {}
        problem = str(error) if isinstance(error, ForeignFileError) else f"{error.filename}: {error.strerror}"
        summary.unwritten.append(problem)
        log(f"error: {printable(problem)}; the run's files ({', '.join(RUN_LEVEL_NAMES[:4])}) are not written")
    for path, content in files.items():
        try:
            if isinstance(content, dict):
                write_results(path, content, results_fields(header))
            else:
                write_text(path, content)
        except OSError as error:
            summary.unwritten.append(f"{path}: {error.strerror or type(error).__name__}")
            log(f"error: {printable(summary.unwritten[-1])}; not written (the videos' own files are)")


def run_localize(
    videos: Path,
    model_path: Path,
    out_dir: Path | None,
    config: Config,
    cache_dir: Path | None = None,
    device: str = "cpu",
    allow_random_weights: bool = False,
    debug: bool = False,
    show_progress: bool = True,
    log=to_stderr,
    postprocess_overrides: dict | None = None,
) -> LocalizeSummary:
    """Localize sentiment in a video or a folder of videos (see the module docstring).

    videos: a video file or a folder (searched recursively, ids as in `extract`).
    out_dir: where the outputs go; None writes none (the Python API), and then
    `cache_dir` must be given. config: this machine's config (runtime settings and what is
    shown; the checkpoint decides the features). device: a resolved device ("cpu",
    "cuda", "cuda:N"). postprocess_overrides: the post-processing settings the user gave;
    they replace the checkpoint's (post-processing is inference-time), and the log says so.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    out_dir = check_output_folder(Path(out_dir), "--out") if out_dir is not None else None
    model_path = Path(model_path)
    if cache_dir is None and out_dir is None:
        raise ValueError("run_localize: give out_dir or cache_dir (the features need a cache)")
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    FeatureCache(cache_dir).check_folder()
    trained = load_trained_model(model_path, device, postprocess_overrides, config.infer)
    for note in trained.notes:
        log(note)
    log(device_line(device, precision_name(autocast_dtype(trained.config.infer.amp_dtype, device, "infer.amp_dtype"))))
    refuse_unreproducible_features(trained, model_path)
    settings = extraction_config(trained, config, device)
    timings["load model"] = time.perf_counter() - started

    started = time.perf_counter()
    skip = [cache_dir] + ([out_dir] if out_dir is not None and out_dir.resolve() != Path(videos).resolve() else [])
    found = [video for video in discover_videos(Path(videos), config.extract.video_extensions, skip=skip)
             if not written_by_localize(video.path)]  # its own copies and links, when --out holds the videos
    outcomes, extracted = features_for_model(Path(videos), found, cache_dir, trained, model_path, settings, device,
                                             allow_random_weights, debug, show_progress)
    timings["features"] = time.perf_counter() - started

    started = time.perf_counter()
    failures = [o for o in outcomes if o.status == "failed"]
    random_streams = trained.feature_spec.random_weight_streams
    if random_streams:
        log(random_weights_warning(random_streams))
    header = run_header(trained, model_path)
    ready = {o.video_id: Path(o.source) for o in outcomes if o.status != "failed"}
    localized = _localize_ready(trained, ready, cache_dir, out_dir, device, header, failures, debug, config)
    timings["read features, model, post-processing, outputs"] = time.perf_counter() - started
    failures.sort(key=lambda failure: failure.video_id)
    summary = LocalizeSummary(
        out_dir=out_dir, class_names=trained.class_names, videos=localized, failures=failures,
        results_path=out_dir / "results.json" if out_dir else None,
        summary_path=out_dir / "summary.csv" if out_dir else None,
        label_studio_path=out_dir / "label_studio.json" if out_dir else None,
        random_weight_streams=random_streams, extracted=extracted, timings=timings,
    )
    if out_dir is not None:
        _write_run_files(summary, header, log)
    return summary


def format_localize_summary(summary: LocalizeSummary, footer: bool = True) -> str:
    """The table printed at the end: video, duration, shown segments, seconds per label;
    then failures, and (footer, when files were written) where the outputs are."""
    labels = list(summary.class_names)
    header = ["video", "duration", "segments", *(f"{printable(label)} s" for label in labels)]
    rows = []
    for video in summary.videos:
        seconds = video.seconds_per_label(summary.class_names)
        rows.append([printable(video.video_id), f"{video.duration_seconds:.1f} s", str(len(video.shown)),
                     *(f"{seconds[label]:.1f}" for label in labels)])
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) if rows else len(header[i])
              for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(f"{len(summary.videos)} video(s) localized, {len(summary.failures)} failed")
    if summary.failures:
        lines.append("failed:")
        lines += [f"  {shell_path(failure.source)}: {printable(failure.reason)}" for failure in summary.failures]
    if footer and summary.out_dir is not None:
        lines += localize_footer_lines(summary)
    return "\n".join(lines)


def localize_footer_lines(summary: LocalizeSummary) -> list[str]:
    """Where the outputs are (paths quoted for a shell). Random weights are said once, on
    stderr (random_weights_warning), and in every file."""
    lines = [f"outputs: {shell_path(summary.out_dir)}/<video>/ (report.html, segments.json/.csv, .srt, "
             f".vtt, .eaf, .labels.txt, timeline.csv/.png); all videos: {shell_path(summary.results_path)}, "
             f"{shell_path(summary.summary_path)}, {shell_path(summary.label_studio_path)}"]
    for video in summary.videos[:5]:
        lines.append(f"report: {shell_path(video.output_dir / 'report.html')}")
    if len(summary.videos) > 5:
        lines.append(f"... and {len(summary.videos) - 5} more reports (see {shell_path(summary.summary_path)})")
    return lines
