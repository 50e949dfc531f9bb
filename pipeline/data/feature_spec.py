"""What a dataset's features are: its feature spec.

A **feature spec** is what a dataset's features are, as a whole: the source ("cache" or
"release") and its path, each stream's width, the snippet grid (None when it differs per
video, as in a release), each stream's identity, and whether any came from random
weights. Training writes it into every checkpoint; evaluation and localization compare
the features they find with it and refuse what the model was not trained on.

It serialises to exactly the dict earlier versions wrote (`to_dict`), so caches and
checkpoints written before these types existed load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cache.identity import ExtractorIdentity


class FeatureSpecError(Exception):
    """Features that differ from what a model was trained on; the message says what to do."""


@dataclass(frozen=True)
class FeatureSpec:
    """What a dataset's features are (see the module docstring).

    Attributes:
        source: "cache" (made by `extract`) or "release" (a public feature release).
        path: the features folder.
        streams: stream -> width D_s, in the order the model reads them.
        snippet_seconds: the grid step in seconds; None when it differs per video.
        grid: the snippet grid's settings (None when it differs per video).
        extractors: stream -> identity.
    """

    source: str
    path: str
    streams: dict[str, int]
    snippet_seconds: float | None = None
    grid: dict | None = None
    extractors: dict[str, ExtractorIdentity] = field(default_factory=dict)

    @property
    def random_weight_streams(self) -> list[str]:
        """Streams whose features came from random extractor weights."""
        return [stream for stream, identity in self.extractors.items() if identity.is_random]

    @property
    def random_weights(self) -> bool:
        return bool(self.random_weight_streams)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """A spec as stored in a checkpoint or run.json (any version of this tool)."""
        extractors = data.get("extractors") or {}
        return cls(
            source=str(data.get("source", "cache")),
            path=str(data.get("path", "")),
            streams={str(name): int(width) for name, width in (data.get("streams") or {}).items()},
            snippet_seconds=data.get("snippet_seconds"),
            grid=data.get("grid"),
            extractors={
                str(stream): ExtractorIdentity(record)
                for stream, record in extractors.items()
                if isinstance(record, Mapping)
            },
        )

    def to_dict(self) -> dict:
        """The stored form (the keys and values earlier versions wrote)."""
        return {
            "source": self.source,
            "path": self.path,
            "streams": dict(self.streams),
            "snippet_seconds": self.snippet_seconds,
            "grid": self.grid,
            "extractors": {stream: identity.to_dict() for stream, identity in self.extractors.items()},
            "random_weights": self.random_weights,
        }

    def check_features(self, found: FeatureSpec) -> None:
        """Refuse (FeatureSpecError) features `found` that differ from these, the ones a
        model was trained on: a missing stream, another width, another extractor identity,
        another snippet length."""
        for stream, width in self.streams.items():
            if stream not in found.streams:
                raise FeatureSpecError(
                    f"the features lack stream '{stream}' the model was trained on; extract it first"
                )
            if found.streams[stream] != width:
                raise FeatureSpecError(
                    f"stream '{stream}' is {found.streams[stream]}-d here, the model was trained on {width}-d features"
                )
            trained, here = self.extractors.get(stream), found.extractors.get(stream)
            if trained is not None and here is not None and trained != here:
                raise FeatureSpecError(
                    f"stream '{stream}' was extracted with another extractor config or weights than the model's "
                    f"training features ({trained.difference(here, stream)}); re-extract with the checkpoint's settings"
                )
        if self.snippet_seconds and found.snippet_seconds and self.snippet_seconds != found.snippet_seconds:
            raise FeatureSpecError(
                f"the features use {found.snippet_seconds} s snippets, the model {self.snippet_seconds} s; "
                "re-extract with the model's grid"
            )
