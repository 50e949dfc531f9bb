"""The features `localize` needs: made exactly as the model's training features were.

The checkpoint decides what is extracted: its snippet grid and, for the streams the model
uses (only those), every setting that changes the numbers, as recorded in the extractor
identities of its feature spec. Settings that never change the numbers (where the weights
file lies, batch sizes, threads, precision: the extractors' `runtime_fields`; the `decode`
section, ffmpeg's path) come from this machine's config. Before any video is decoded, this
machine's extractors are compared with the checkpoint's; a difference is a one-line
refusal. Videos already cached with exactly the model's features are not decoded again (no
extractor is even loaded when every video is cached).
"""

from __future__ import annotations

from pathlib import Path

from cache.fingerprint import source_record
from cache.identity import ExtractorIdentity
from cache.store import FeatureCache
from extractors.grid import GridConfig, SnippetGrid
from extractors.registry import EXTRACTORS
from pipeline.config import Config, config_from_dict, config_to_dict
from pipeline.extract.discovery import VideoFile
from pipeline.extract.planned import make_extractors
from pipeline.extract.stage import run_extract
from pipeline.extract.video import VideoOutcome
from pipeline.infer.checkpoint import CheckpointError, TrainedModel


def extraction_config(trained: TrainedModel, machine_config: Config, device: str) -> Config:
    """The config that makes features like the model's training features (see the module
    docstring); the random-weights seed too when those weights were random. Streams: the
    model's; device: `device`."""
    merged = config_to_dict(machine_config)
    from_checkpoint = config_to_dict(trained.config)
    spec = trained.feature_spec
    grid = spec.grid or {}
    merged["grid"] = {key: grid.get(key, value) for key, value in from_checkpoint["grid"].items()}
    for stream in trained.streams:
        identity = spec.extractors[stream]
        section = {**from_checkpoint[stream], **identity.config}
        for key in EXTRACTORS[stream].runtime_fields:
            section[key] = merged[stream][key]
        if identity.is_random and "random_seed" in section:
            section["random_seed"] = identity.weights.get("seed", section["random_seed"])
        merged[stream] = section
    merged["extract"]["streams"] = list(trained.streams)
    merged["extract"]["device"] = device
    return config_from_dict(merged)


def refuse_unreproducible_features(trained: TrainedModel, model_path: Path) -> None:
    """Refuse (CheckpointError) a model whose features this tool cannot make for new videos."""
    spec = trained.feature_spec
    if spec.source == "release":
        raise CheckpointError(
            f"{model_path}: trained on features in the released TSL-300 layout, whose "
            "extractors cannot be rerun on new "
            "videos; train on a cache made by `extract` to localize new videos"
        )
    missing = [s for s in trained.streams if s not in spec.extractors]
    if missing:
        raise CheckpointError(f"{model_path}: the checkpoint does not record the extractor of stream(s) {missing}")


def videos_cached_for_model(
    videos: list[VideoFile], cache: FeatureCache, trained: TrainedModel, grid_config: GridConfig
) -> bool:
    """True when every video's cache entry holds, for the source file as it is now and on
    the grid of `grid_config`, every stream the model uses made by exactly the extractor
    identity the model was trained on."""
    identities = trained.feature_spec.extractors
    for video in videos:
        meta = cache.read_meta(video.video_id)
        if meta is None or not cache.source_matches(meta, source_record(video.path)):
            return False
        grid = SnippetGrid.for_duration(float(meta["probe"]["duration_seconds"]), grid_config).to_dict()
        for stream in trained.streams:
            if not cache.check_stream(video.video_id, meta, stream, identities[stream].to_dict(), grid).valid:
                return False
    return True


def _model_extractors(trained: TrainedModel, settings: Config, device: str, allow_random_weights: bool,
                      model_path: Path):
    """This machine's extractors for the model's streams, refused when they would make other numbers."""
    extractors = make_extractors(settings, device, allow_random_weights, log=lambda message: None)
    for stream, extractor in extractors.items():
        trained_identity = trained.feature_spec.extractors[stream]
        difference = trained_identity.difference(ExtractorIdentity(extractor.identity()), stream)
        if difference is None:
            continue
        if difference.startswith("weights"):
            fix = ("use the same weights (or --random-weights when the model's features were random) or train a model "
                   "on features made here")
        elif difference.startswith("extractor version"):
            fix = "train again on features extracted here"
        else:
            fix = "train again or extract as it was trained"
        raise CheckpointError(f"{model_path}: stream '{stream}': the model's features and this machine's extractor "
                              f"differ in {difference}; {fix}")
    return extractors


def features_for_model(
    videos_dir: Path, videos: list[VideoFile], cache_dir: Path, trained: TrainedModel, model_path: Path,
    settings: Config, device: str, allow_random_weights: bool, debug: bool, show_progress: bool,
) -> tuple[list[VideoOutcome], int]:
    """(one outcome per video, how many were extracted now): every video's features in the
    cache at `cache_dir`, extracted with `settings` where they are missing or stale."""
    cache = FeatureCache(cache_dir)
    if cache.is_cache() and videos_cached_for_model(videos, cache, trained, settings.grid):
        return [VideoOutcome(v.video_id, str(v.path), "up to date") for v in videos], 0
    extractors = _model_extractors(trained, settings, device, allow_random_weights, model_path)
    summary = run_extract(
        videos_dir, cache_dir, settings, allow_random_weights=allow_random_weights, debug=debug,
        show_progress=show_progress, extractors=extractors, videos=videos,
    )
    return summary.outcomes, sum(o.status == "extracted" for o in summary.outcomes)
