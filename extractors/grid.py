"""The snippet grid: the one time axis every stream, label and timestamp uses.

A video of duration D seconds has T = ceil(D / snippet_seconds) snippets; snippet i
covers [i * snippet_seconds, (i + 1) * snippet_seconds). The last snippet may reach past
the end of the video; extractors pad it (edge frame for pictures, silence for sound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.setting_checks import check_int, check_number


@dataclass(frozen=True)
class GridConfig:
    """Grid settings. The default is 16 frames at 25 fps = 0.64 s per snippet."""

    frame_rate: float = 25.0  # frames per second every video is resampled to
    snippet_frames: int = 16  # frames per snippet at `frame_rate`

    def __post_init__(self) -> None:
        check_number("grid.frame_rate", self.frame_rate, 0, low_open=True)
        check_int("grid.snippet_frames", self.snippet_frames, 1)

    @property
    def snippet_seconds(self) -> float:
        return self.snippet_frames / self.frame_rate


def count_snippets(duration_seconds: float, snippet_seconds: float) -> int:
    """T = ceil(D / s), at least 1; robust to float error (1.28 / 0.64 gives 2, not 3)."""
    if duration_seconds <= 0 or not math.isfinite(duration_seconds):
        return 1
    return max(1, math.ceil(round(duration_seconds / snippet_seconds, 6)))


@dataclass(frozen=True)
class SnippetGrid:
    """The grid of one video: `num_snippets` snippets of `snippet_seconds` each."""

    snippet_seconds: float
    num_snippets: int
    frame_rate: float
    snippet_frames: int

    @classmethod
    def for_duration(cls, duration_seconds: float, config: GridConfig) -> SnippetGrid:
        return cls(
            snippet_seconds=config.snippet_seconds,
            num_snippets=count_snippets(duration_seconds, config.snippet_seconds),
            frame_rate=config.frame_rate,
            snippet_frames=config.snippet_frames,
        )

    @property
    def num_frames(self) -> int:
        """Frames at `frame_rate` that fill the grid exactly (T * snippet_frames)."""
        return self.num_snippets * self.snippet_frames

    def snippet_start_seconds(self) -> np.ndarray:
        """(T,) start time of each snippet in seconds."""
        return np.arange(self.num_snippets, dtype=np.float64) * self.snippet_seconds

    def snippet_center_seconds(self) -> np.ndarray:
        """(T,) centre time of each snippet in seconds."""
        return (np.arange(self.num_snippets, dtype=np.float64) + 0.5) * self.snippet_seconds

    def snippet_at(self, seconds: float) -> int:
        """Index of the snippet that contains `seconds` (clamped to the grid)."""
        index = math.floor(round(seconds / self.snippet_seconds, 6))
        return min(max(index, 0), self.num_snippets - 1)

    def to_dict(self) -> dict:
        return {
            "snippet_seconds": self.snippet_seconds,
            "num_snippets": self.num_snippets,
            "frame_rate": self.frame_rate,
            "snippet_frames": self.snippet_frames,
        }
