"""Stream name -> extractor class. Adding a stream: one module, one entry here, one
config section of the same name in pipeline/config.py."""

from __future__ import annotations

from extractors.audio import AudioExtractor
from extractors.base import StreamExtractor

EXTRACTORS: dict[str, type[StreamExtractor]] = {
    AudioExtractor.name: AudioExtractor,
}

# Streams the method uses whose extractors have not landed yet (refused with this note).
PLANNED_STREAMS: dict[str, str] = {
    "visual": "the I3D visual extractor (issue 3)",
    "face": "the DeepFace + ResEmoteNet face extractor (issue 4)",
}

STREAM_NAMES: tuple[str, ...] = ("audio", "visual", "face")
