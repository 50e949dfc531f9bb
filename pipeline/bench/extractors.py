"""The extractors the benchmarks time: the checkpoint's weights when present, else random
weights (speed does not depend on the values)."""

from __future__ import annotations

from extractors.base import StreamExtractor
from extractors.registry import EXTRACTORS
from extractors.weights import WeightsError
from pipeline.config import Config


def extractor_preferring_checkpoint(stream: str, settings, config: Config, device: str) -> tuple[StreamExtractor, str]:
    """The stream's extractor with its checkpoint when one is found, else with random
    weights (for benchmarks, where speed does not depend on the values). A configured
    weights_path that does not load is an error, not a fallback."""
    extractor_class = EXTRACTORS[stream]
    try:
        return extractor_class(settings, config.decode, device, allow_random_weights=False), "checkpoint"
    except WeightsError:
        if settings.weights_path:
            raise
        return extractor_class(settings, config.decode, device, allow_random_weights=True), "random weights"
