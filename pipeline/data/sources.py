"""`load_dataset`: a feature cache or a public feature release -> a dataset, recognised by
the folder's contents."""

from __future__ import annotations

from pathlib import Path

from cache.store import FeatureCache
from pipeline.data.annotations import AnnotationError
from pipeline.data.cached import load_cache_dataset
from pipeline.data.config import DataConfig
from pipeline.data.release import is_release, load_release_dataset
from pipeline.data.samples import DatasetError, SentimentDataset


def detect_source(path: Path) -> str:
    """"cache" or "release" from the folder's contents, else DatasetError."""
    path = Path(path)
    if FeatureCache(path).is_cache():
        return "cache"
    if is_release(path):
        return "release"
    raise DatasetError(
        f"{path}: neither a feature cache (no cache.json) nor a released feature folder (TSL-300's or FSENet's layout) "
        "(no features/train or features/test); pass the folder given to `extract --cache` or the release folder"
    )


def load_dataset(path: Path, data: DataConfig, annotations: Path | None = None) -> SentimentDataset:
    """A dataset from a feature cache or a released-layout folder (recognised by contents).

    annotations: a file or a folder of files (points CSV, segments CSV/JSON, video-label
    CSV, ELAN .eaf, Label Studio JSON, Audacity labels; docs/formats.md). Required for a
    feature cache; for the released layout, the kinds it provides replace the release's own
    (point_labels.csv, videosenti_gt.json / gt.json).
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: features folder not found; pass a feature cache or a released-layout folder")
    try:
        if detect_source(path) == "cache":
            return load_cache_dataset(path, data, annotations)
        return load_release_dataset(path, data, annotations)
    except AnnotationError as error:
        raise DatasetError(str(error)) from None
