"""The errors a person can fix: each carries one line naming the file or setting and what to
do. Commands print that line (exit status 2) instead of a traceback unless --debug.

Listed by name, not imported: several are defined beside torch code, and a command that
never loads the model must not load it to learn what its errors are. An error of a class
whose module was never imported cannot have been raised, so `is_user_error` compares
names along the error's class hierarchy and imports nothing. Each name is where the class
is defined (its `__module__`), not a package that re-exports it: `user_error_classes`
refuses any other name, and tests/pipeline/test_errors.py calls it.
"""

from __future__ import annotations

import importlib

USER_ERROR_NAMES: tuple[str, ...] = (
    "pipeline.config.ConfigError",
    "cache.store.CacheError",
    "pipeline.extract.discovery.DiscoveryError",
    "pipeline.devices.DeviceError",
    "extractors.decode.VideoReadError",
    "extractors.weights.WeightsError",
    "builtins.FileNotFoundError",
    "pipeline.data.samples.DatasetError",
    "pipeline.data.annotations.records.AnnotationError",
    "pipeline.synthetic.release.SynthError",
    "pipeline.train.run_folder.RunError",
    "pipeline.infer.checkpoint.CheckpointError",
    "pipeline.data.feature_spec.FeatureSpecError",
    "pipeline.evaluate.stage.EvaluateError",
    "pipeline.data.activitynet.ActivityNetFileError",
    "pipeline.output_folder.OutputFolderError",
)


def is_user_error(error: BaseException) -> bool:
    """Is `error` (or one of its base classes) one of USER_ERROR_NAMES?"""
    return any(f"{cls.__module__}.{cls.__qualname__}" in USER_ERROR_NAMES for cls in type(error).__mro__)


def user_error_classes() -> tuple[type[BaseException], ...]:
    """The classes of USER_ERROR_NAMES, imported (for tests and tools; costs the imports).
    LookupError when a name is not where its class is defined (is_user_error would never
    match it)."""
    classes = []
    for name in USER_ERROR_NAMES:
        module, _, attribute = name.rpartition(".")
        found = getattr(importlib.import_module(module), attribute)
        if f"{found.__module__}.{found.__qualname__}" != name:
            raise LookupError(f"pipeline/errors.py lists {name}, but the class is "
                              f"{found.__module__}.{found.__qualname__}; list that name")
        classes.append(found)
    return tuple(classes)


def __getattr__(name: str):
    if name == "USER_ERRORS":  # the tuple of classes, as earlier versions exported it
        return user_error_classes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
