"""Stream name -> extractor class. Adding a stream: one module, one entry here, one
config section of the same name in pipeline/config.py.

The classes are imported when first looked up, not when this module is: knowing the
stream names (every config load does) must not load the streams' libraries.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from extractors.base import StreamExtractor

# name -> (module, class): each module is imported on the first lookup of its stream
_LOCATIONS: dict[str, tuple[str, str]] = {
    "audio": ("extractors.audio", "AudioExtractor"),
    "visual": ("extractors.visual", "VisualExtractor"),
    "face": ("extractors.face", "FaceExtractor"),
}


class _ExtractorClasses(Mapping[str, type[StreamExtractor]]):
    """A read-only mapping that imports an extractor's module on its first lookup."""

    def __getitem__(self, stream: str) -> type[StreamExtractor]:
        module, name = _LOCATIONS[stream]
        return getattr(importlib.import_module(module), name)

    def __iter__(self) -> Iterator[str]:
        return iter(_LOCATIONS)

    def __len__(self) -> int:
        return len(_LOCATIONS)


EXTRACTORS: Mapping[str, type[StreamExtractor]] = _ExtractorClasses()

STREAM_NAMES: tuple[str, ...] = tuple(_LOCATIONS)
