"""The `localize` section: what `localize` shows people."""

from __future__ import annotations

from dataclasses import dataclass

from model.setting_checks import check_choice, check_int, check_number

VIDEO_LINKS = ("relative", "copy", "link")


@dataclass(frozen=True)
class LocalizeConfig:
    """What `localize` shows people (report, subtitles, plot, summary). segments.json and
    results.json always hold every segment the post-processing kept (for evaluation)."""

    min_score: float = 0.0  # show only segments scoring at least this (0: every shown segment)
    max_segments: int = 0  # show at most this many per video, best first (0: no limit)
    # how report.html reaches the video: relative (a relative link), copy (a copy beside the report: the folder can
    # move), link (a symlink beside it)
    video: str = "relative"

    def __post_init__(self) -> None:
        check_number("localize.min_score", self.min_score, 0, note="0: every shown segment")
        check_int("localize.max_segments", self.max_segments, 0, note="0: no limit")
        check_choice("localize.video", self.video, VIDEO_LINKS)
