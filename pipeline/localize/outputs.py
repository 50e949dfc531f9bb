"""Every file `localize` writes for one video (OUT_DIR/<video_id>/), and the provenance
header they all carry.

The outputs are meant to be shared: no absolute path goes into them. The model is named
by its file name and sha256, the video by its file name; report.html reaches the video by
a relative link, a copy or a symlink beside it (localize.video).
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from pathlib import Path

from cache.store import check_video_id
from extractors.weights import weights_sha256
from pipeline.config import LocalizeConfig
from pipeline.data.activitynet import write_results
from pipeline.infer.checkpoint import TrainedModel
from pipeline.localize.html_report import write_report
from pipeline.localize.poster import poster_jpeg, poster_seconds
from pipeline.localize.text_formats import segments_csv_text, srt_text, timeline_csv_text, vtt_text, write_text
from pipeline.localize.timeline_plot import write_timeline_png
from pipeline.localize.tool_formats import audacity_text, eaf_text
from pipeline.localize.video import LocalizedVideo


def video_output_dir(out_dir: Path, video_id: str) -> Path:
    """OUT_DIR/<video_id>; CacheError for an id that would leave OUT_DIR ('..' parts)."""
    return Path(out_dir) / check_video_id(video_id)


def output_file_names(video_id: str) -> dict[str, str]:
    """Link text -> file name of a video's outputs (subtitles named after the video)."""
    name = Path(video_id).name
    name = name if name not in ("", ".", "..") else "video"
    return {
        "segments.json": "segments.json", "segments.csv": "segments.csv", "subtitles (SRT)": f"{name}.srt",
        "subtitles (WebVTT)": f"{name}.vtt", "timeline.csv": "timeline.csv", "timeline.png": "timeline.png",
        "ELAN (.eaf)": f"{name}.eaf", "Audacity labels": f"{name}.labels.txt",
    }


def run_header(trained: TrainedModel, model_path: Path) -> dict:
    """Provenance written into every output: model, classes, streams, extractor weights."""
    spec = trained.feature_spec
    extractors = {}
    for stream in trained.streams:
        identity = spec.extractors.get(stream)
        extractors[stream] = {
            "name": identity.name if identity else None,
            "version": identity.version if identity else None,
            "weights": identity.weights_words() if identity else "no weights",
        }
    random_streams = spec.random_weight_streams
    return {
        "model": Path(model_path).name,
        "model_sha256": weights_sha256(Path(model_path)),
        "epoch": trained.checkpoint.get("epoch"),
        "class_names": list(trained.class_names),
        "streams": list(trained.streams),
        "trained_on": Path(spec.path).name if spec.path else None,
        "extractors": extractors,
        "random_weights": bool(random_streams),
        "random_weight_streams": list(random_streams),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def results_fields(header: dict) -> dict:
    """The fields an ActivityNet results file of `localize` carries besides the results."""
    return {"random_weights": bool(header.get("random_weights")), "localize": header}


def place_video(video: LocalizedVideo, mode: str) -> Path:
    """The file report.html plays: the source itself (relative), or a copy (copy) or a
    symlink (link) named like it beside the report. A copy already there with the same
    size and modification time is kept."""
    if mode == "relative":
        return video.source
    placed = video.output_dir / video.source.name
    if placed.exists() and placed.resolve() == Path(video.source).resolve():
        return placed  # the source is already there (or a link to it)
    if mode == "link":
        if placed.is_symlink() or placed.exists():
            placed.unlink()
        placed.symlink_to(os.path.abspath(video.source))
        return placed
    source = os.stat(video.source)
    if placed.is_file() and not placed.is_symlink():
        existing = placed.stat()
        if (existing.st_size, int(existing.st_mtime)) == (source.st_size, int(source.st_mtime)):
            return placed
    temp = placed.with_name(f".{placed.name}.tmp-{os.getpid()}")
    try:
        shutil.copy2(video.source, temp)
        os.replace(temp, placed)
    finally:
        temp.unlink(missing_ok=True)
    return placed


def write_video_outputs(
    video: LocalizedVideo, class_names: tuple[str, ...], header: dict, settings: LocalizeConfig | None = None,
    ffmpeg_binary: str = "",
) -> None:
    """Every per-video file under video.output_dir (each written atomically); `settings`
    say how the report reaches the video (default: a relative link)."""
    settings = settings or LocalizeConfig()
    folder = video.output_dir
    folder.mkdir(parents=True, exist_ok=True)
    random_weights = bool(header.get("random_weights"))
    names = output_file_names(video.video_id)
    video_header = {
        **header, "video_id": video.video_id, "source": video.source.name,
        "duration_seconds": video.duration_seconds, "snippet_seconds": video.snippet_seconds,
    }
    write_results(folder / "segments.json", {video.video_id: video.segments}, results_fields(video_header))
    write_text(folder / "segments.csv", segments_csv_text(video.segments, video.shown, random_weights))
    write_text(folder / names["subtitles (SRT)"], srt_text(video.shown, random_weights))
    note = f"fsenet localize: {video.video_id}, model {header.get('model', '')}"
    write_text(folder / names["subtitles (WebVTT)"], vtt_text(video.shown, random_weights, note))
    write_text(folder / "timeline.csv", timeline_csv_text(video, class_names, random_weights))
    eaf_path = folder / names["ELAN (.eaf)"]
    provenance = {"fsenet:model": str(header.get("model", "")), "fsenet:random_weights": str(random_weights).lower()}
    created = datetime.now().astimezone().isoformat(timespec="seconds")
    write_text(eaf_path, eaf_text(video, class_names, eaf_path, created, provenance))
    write_text(folder / names["Audacity labels"], audacity_text(video.shown))
    write_timeline_png(folder / "timeline.png", video, class_names, random_weights)
    played = place_video(video, settings.video)
    poster = poster_jpeg(video.source, poster_seconds(video.shown, video.duration_seconds), ffmpeg_binary)
    write_report(video, class_names, video_header, names, played=played, poster=poster, video_mode=settings.video)
