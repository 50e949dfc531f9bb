"""Every file `localize` writes for one video (OUT_DIR/<video_id>/), and the provenance
header they all carry.

The outputs are meant to be shared: no absolute path goes into them. The model is named
by its file name and sha256, the video by its file name; report.html reaches the video by
a relative link, a copy or a symlink beside it (localize.video).

Names from outside never collide with localize's own: a video's folder is never one of the
run's files or the default cache (RUN_LEVEL_NAMES: `results.json.mp4` gets the folder
`_results.json`), nor one of another video's files (`talk.mp4` beside `talk/report.html.mp4`:
the folder `talk/_report.html`), a file name is cut to fit the filesystem (`fitted_name`), and no file
localize did not write is replaced (pipeline/localize/owned_files.py).
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from pathlib import Path

from cache.atomic import fitted_name, temp_path_for
from cache.store import check_video_id
from extractors.weights import weights_sha256
from pipeline.config.extract import VIDEO_EXTENSIONS
from pipeline.config.localize import LocalizeConfig
from pipeline.data.activitynet import write_results
from pipeline.infer.checkpoint import TrainedModel
from pipeline.localize.html_report import write_report
from pipeline.localize.owned_files import claim_files, localize_header
from pipeline.localize.poster import poster_jpeg, poster_seconds
from pipeline.localize.text_formats import segments_csv_text, srt_text, timeline_csv_text, vtt_text, write_text
from pipeline.localize.timeline_plot import write_timeline_png
from pipeline.localize.tool_formats import audacity_text, eaf_text
from pipeline.localize.video import LocalizedVideo

# OUT_DIR's own files (and the default feature cache, OUT_DIR/cache): no video's folder takes these names
RUN_LEVEL_NAMES: tuple[str, ...] = ("results.json", "summary.csv", "label_studio.json",
                                    "label_studio_config.xml", "cache")
TOOL_SUFFIXES: tuple[str, ...] = (".srt", ".vtt", ".eaf", ".labels.txt")  # files named after the video
# a video folder's own files: those above, these, and the video copied or linked beside the report
VIDEO_FOLDER_NAMES: tuple[str, ...] = ("segments.json", "segments.csv", "timeline.csv", "timeline.png", "report.html")


def _takes_a_video_file_name(part: str) -> bool:
    """Could a folder named `part` inside a video's folder be one of that video's files?"""
    name = part.casefold()
    return name in VIDEO_FOLDER_NAMES or name.endswith(TOOL_SUFFIXES) or name.endswith(VIDEO_EXTENSIONS)


def output_folder_name(video_id: str) -> str:
    """The video's folder relative to OUT_DIR: its id, with a '_' before a part that, less its
    leading '_'s and case-insensitively (as some filesystems compare names), could be a file
    localize writes beside it: the first part one of RUN_LEVEL_NAMES ('results.json' ->
    '_results.json', '_results.json' -> '__results.json'), a later part one of a video
    folder's files ('talk/report.html' -> 'talk/_report.html': the video 'talk' writes
    talk/report.html). One id, one folder; no two ids share one. CacheError for an id that
    would leave OUT_DIR ('..' parts)."""
    first, *rest = check_video_id(video_id).split("/")
    parts = ["_" + first if first.lstrip("_").casefold() in RUN_LEVEL_NAMES else first]
    parts += ["_" + part if _takes_a_video_file_name(part.lstrip("_")) else part for part in rest]
    return "/".join(parts)


def video_output_dir(out_dir: Path, video_id: str) -> Path:
    """OUT_DIR/<output_folder_name(video_id)>."""
    return Path(out_dir) / output_folder_name(video_id)


def output_file_names(video_id: str) -> dict[str, str]:
    """Link text -> file name of a video's outputs (subtitles named after the video; a name
    too long for the filesystem is cut between characters so that `<name>.labels.txt`, the
    longest, fits in 255 bytes: cache.atomic.fitted_name)."""
    name = Path(video_id).name
    name = name if name not in ("", ".", "..") else "video"
    name = fitted_name(name, max(TOOL_SUFFIXES, key=len))[: -len(max(TOOL_SUFFIXES, key=len))]
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


def _is_the_source(placed: Path, source: Path) -> bool:
    """Is `placed` the video file itself, or a link to it?"""
    try:
        return placed.exists() and os.path.samefile(placed, source)
    except OSError:
        return False


def _same_copy(placed: Path, source: Path) -> bool:
    """Is `placed` a plain file of the source's size and modification time (a copy2 of it)?"""
    if placed.is_symlink() or not placed.is_file():
        return False
    existing, original = placed.stat(), os.stat(source)
    return (existing.st_size, int(existing.st_mtime)) == (original.st_size, int(original.st_mtime))


def placed_video_name(video: LocalizedVideo, mode: str) -> str | None:
    """The file place_video writes beside the report (None: it writes none: relative mode, or
    the video or a link to it is already there)."""
    placed = video.output_dir / video.source.name
    return None if mode == "relative" or _is_the_source(placed, video.source) else placed.name


def place_video(video: LocalizedVideo, mode: str) -> Path:
    """The file report.html plays: the source itself (relative), or a copy (copy) or a
    symlink (link) named like it beside the report, each put in place atomically (a temp
    name, then a rename). A copy already there with the same size and modification time is
    kept. The caller has claimed the name (owned_files.claim_files)."""
    placed = video.output_dir / video.source.name
    if placed_video_name(video, mode) is None or (mode == "copy" and _same_copy(placed, video.source)):
        return video.source if mode == "relative" else placed
    temp = temp_path_for(placed)
    try:
        if mode == "link":
            temp.symlink_to(os.path.abspath(video.source))
        else:
            shutil.copy2(video.source, temp)
        os.replace(temp, placed)
    finally:
        if os.path.lexists(temp):
            temp.unlink()
    return placed


def _earlier_video_outputs(video: LocalizedVideo):
    """The files an earlier localize (before manifests) wrote in a video's folder: its usual
    outputs when its segments.json is localize's for this video, and the video beside them
    when it is a link or a copy of the source."""

    def earlier(folder: Path) -> set[str]:
        header = localize_header(folder / "segments.json")
        if header is None or header.get("video_id") != video.video_id:
            return set()
        placed = folder / video.source.name
        beside = {placed.name} if placed.is_symlink() or _same_copy(placed, video.source) else set()
        return {*output_file_names(video.video_id).values(), "report.html", *beside}

    return earlier


def write_video_outputs(
    video: LocalizedVideo, class_names: tuple[str, ...], header: dict, settings: LocalizeConfig | None = None,
    ffmpeg_binary: str = "", shown_as=str,
) -> None:
    """Every per-video file under video.output_dir (each written atomically); `settings`
    say how the report reaches the video (default: a relative link). A file localize did
    not write in the way stops it before any is written (owned_files.ForeignFileError,
    naming the path as `shown_as(path)` writes it)."""
    settings = settings or LocalizeConfig()
    folder = video.output_dir
    random_weights = bool(header.get("random_weights"))
    names = output_file_names(video.video_id)
    placed = placed_video_name(video, settings.video)
    claim_files(folder, [*names.values(), "report.html", *([placed] if placed else [])], shown_as,
                _earlier_video_outputs(video))
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
