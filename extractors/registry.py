"""Stream name -> extractor class. Adding a stream: one module, one entry here, one
config section of the same name in pipeline/config.py."""

from __future__ import annotations

from extractors.audio import AudioExtractor
from extractors.base import StreamExtractor
from extractors.face import FaceExtractor
from extractors.visual import VisualExtractor

EXTRACTORS: dict[str, type[StreamExtractor]] = {
    AudioExtractor.name: AudioExtractor,
    VisualExtractor.name: VisualExtractor,
    FaceExtractor.name: FaceExtractor,
}

STREAM_NAMES: tuple[str, ...] = tuple(EXTRACTORS)
