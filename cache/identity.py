"""Extractor identities: what made one stream's numbers, as the cache records it.

An identity (extractors/base.py `identity()`) holds the extractor's name, version and
output width, the settings that decide the numbers, and the weights (sha256 and source;
`{"random": true, "seed": ...}` for random weights; None for an extractor without
weights). A stream read from a public feature release is described instead by where its
rows came from (`{"source": "release", "folder": ..., ...}`). Two identities are equal
when their JSON forms are (tuples and lists alike): equal identities make equal numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def canonical(value) -> str:
    """JSON text used to compare identities (tuples and lists compare equal)."""
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True, eq=False)
class ExtractorIdentity:
    """One stream's identity (see the module docstring); `record` is the stored dict."""

    record: Mapping[str, Any]

    @property
    def name(self) -> str | None:
        return self.record.get("name")

    @property
    def version(self) -> Any:
        return self.record.get("version")

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.record.get("config") or {})

    @property
    def weights(self) -> dict | None:
        weights = self.record.get("weights")
        return weights if isinstance(weights, dict) else None

    @property
    def is_random(self) -> bool:
        """Were the weights random (--random-weights)?"""
        return bool(self.weights and self.weights.get("random"))

    @property
    def is_release(self) -> bool:
        """Does this describe a stream of a public feature release (no extractor to rerun)?"""
        return self.record.get("source") == "release"

    def weights_words(self) -> str:
        """'RANDOM weights (seed 0)', 'weights sha256 0123456789ab' or 'no weights'."""
        if self.weights is None:
            return "no weights"
        if self.is_random:
            return f"RANDOM weights (seed {self.weights.get('seed', '?')})"
        return f"weights sha256 {str(self.weights.get('sha256', '?'))[:12]}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExtractorIdentity) and canonical(self.record) == canonical(other.record)

    def __hash__(self) -> int:
        return hash(canonical(self.record))

    def difference(self, other: ExtractorIdentity, stream: str) -> str | None:
        """None when `other` makes the same numbers; else what differs, in a few words:
        'weights (RANDOM weights (seed 0) vs weights sha256 ...)', 'extractor version
        (audio v1 vs audio v2)' or 'settings audio.n_mfcc, ...'."""
        if self == other:
            return None
        if canonical(self.record.get("weights")) != canonical(other.record.get("weights")):
            return f"weights ({self.weights_words()} vs {other.weights_words()})"
        if self.version != other.version or self.name != other.name:
            return f"extractor version ({self.name} v{self.version} vs {other.name} v{other.version})"
        mine, theirs = self.config, other.config
        keys = sorted(key for key in set(mine) | set(theirs) if canonical(mine.get(key)) != canonical(theirs.get(key)))
        return "settings " + (", ".join(f"{stream}.{key}" for key in keys) or "(other fields)")

    def to_dict(self) -> dict:
        return dict(self.record)
