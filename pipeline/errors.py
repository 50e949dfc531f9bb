"""The errors a person can fix: each carries one line naming the file or setting and what to
do. Commands print that line (exit status 2) instead of a traceback unless --debug."""

from __future__ import annotations

from cache.store import CacheError
from extractors.decode import VideoReadError
from extractors.weights import WeightsError
from pipeline.config import ConfigError
from pipeline.data.annotations import AnnotationError
from pipeline.data.feature_spec import FeatureSpecError
from pipeline.data.samples import DatasetError
from pipeline.devices import DeviceError
from pipeline.evaluate.stage import EvaluateError
from pipeline.extract.discovery import DiscoveryError
from pipeline.infer.checkpoint import CheckpointError
from pipeline.output_folder import OutputFolderError
from pipeline.synthetic.release import SynthError
from pipeline.train.run_folder import RunError

USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError, CacheError, DiscoveryError, DeviceError, VideoReadError, WeightsError, FileNotFoundError,
    DatasetError, AnnotationError, SynthError, RunError, CheckpointError, FeatureSpecError, EvaluateError,
    OutputFolderError,
)
