"""Stream name -> extractor class, for every stream of the table in model/streams.py
(docs/architecture.md, "Adding a stream", lists every place a new stream touches).

The classes are imported when first looked up, not when this module is: knowing the
stream names (every config load does) must not load the streams' libraries.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from extractors.base import StreamExtractor
from model.streams import STREAM_NAMES

# name -> (module, class): each module is imported on the first lookup of its stream; every
# name of model/streams.py has one (tests/extractors/test_registry.py)
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
        return iter(name for name in STREAM_NAMES if name in _LOCATIONS)

    def __len__(self) -> int:
        return len(_LOCATIONS)


EXTRACTORS: Mapping[str, type[StreamExtractor]] = _ExtractorClasses()
