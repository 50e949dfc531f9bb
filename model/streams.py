"""The input streams: the one table every layer takes their names from.

A stream's name is its key everywhere: the config section of its extractor, its folder in
a feature cache, its entry in a feature spec and a checkpoint's stream widths, and the
model's input. What the model does with it (its role) and where the public feature
releases keep it are written beside the name, once. Adding a stream starts here;
docs/architecture.md ("Adding a stream") lists every other place it touches.

This module imports nothing: the model, the extractors and the pipeline all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

# projected, guided by the face in FCI, mixed into F_mix (docs/method.md, "Face-guided sentiment discovery (FSD)")
GUIDED = "guided"
GUIDE = "guide"  # the face query: guides the guided streams in FCI and feeds GSP


@dataclass(frozen=True)
class Stream:
    """One input stream.

    Attributes:
        name: the stream's key everywhere (config section, cache folder, model input).
        role: ``GUIDED`` (visual, audio: FCI refines them, F_mix concatenates them) or
            ``GUIDE`` (face: the query of FCI stage 1, never part of F_mix).
        gsp_position: the stream's place in GSP's input [F_a; F_v; F_f] (a checkpoint's
            GSP weights depend on this order, so it never changes for a stream).
        release_folder: its folder under ``features/<split>/`` in the public TSL-300 and
            FSENet feature releases (the default of ``data.release_<name>_folder``).
    """

    name: str
    role: str
    gsp_position: int
    release_folder: str


STREAMS: tuple[Stream, ...] = (
    Stream("visual", GUIDED, gsp_position=1, release_folder="rgb"),
    Stream("audio", GUIDED, gsp_position=0, release_folder="logmfcc"),
    Stream("face", GUIDE, gsp_position=2, release_folder="img"),
)

# visual, audio, face: the order in which every stage reads and lists the streams
STREAM_NAMES: tuple[str, ...] = tuple(stream.name for stream in STREAMS)
GUIDED_STREAMS: tuple[str, ...] = tuple(stream.name for stream in STREAMS if stream.role == GUIDED)
GUIDE_STREAM: str = next(stream.name for stream in STREAMS if stream.role == GUIDE)
GSP_ORDER: tuple[str, ...] = tuple(stream.name for stream in sorted(STREAMS, key=lambda stream: stream.gsp_position))
RELEASE_FOLDERS: dict[str, str] = {stream.name: stream.release_folder for stream in STREAMS}
