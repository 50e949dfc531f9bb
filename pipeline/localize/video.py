"""One localized video (:class:`LocalizedVideo`) and the two views of its segments.

- **all segments**: every segment the post-processing keeps (class-wise NMS leaves
  nested and partly overlapping segments of different lengths, best score first). This
  is what `evaluate --predictions` scores, so segments.json / results.json hold exactly
  these (ActivityNet results format) and segments.csv lists them too.
- **shown segments** (:func:`shown_segments`): the best-scoring segments that do not
  overlap each other, whatever their label; the subtitles, the plot and the report show
  these so that one moment has one reading. segments.csv marks them (`shown`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.infer.postprocess import select_classes


@dataclass
class LocalizedVideo:
    """One video's localization.

    Attributes:
        video_id: the id (path relative to the input folder, without extension).
        source: the video file.
        duration_seconds: the video's duration (s).
        snippet_seconds: the grid step (s); snippet i covers [i s, (i+1) s).
        scores: (T, C+1) per-snippet scores in [0, 1], classes then background.
        face_presence: (T,) fraction of sampled frames with a face, None without a face stream.
        segments: every segment the post-processing kept (ActivityNet entries, best first).
        shown: the non-overlapping segments shown in subtitles, plot and report (by start).
        output_dir: OUT_DIR/<video_id> (None when nothing is written: the Python API without an output folder).
        frame_rate: the video's own frame rate (frames per second), None when unknown.
        emotions: (T, E) per-snippet face-emotion probabilities (ResEmoteNet's, the mean over
            the snippet's sampled frames with a face: rows sum to 1 where a face was seen, zeros
            elsewhere); None without a face stream or its emotion extra (public releases).
        emotion_names: the E emotion class names (the checkpoint's), None with `emotions`.
        class_scores: (C,) the video-level class scores that chose the localized classes
            (pipeline/infer/predict.py); None when unknown.
        class_score_threshold: the video score a class needs to be localized
            (``postprocess.class_score_threshold``; the best class always is).
    """

    video_id: str
    source: Path
    duration_seconds: float
    snippet_seconds: float
    scores: np.ndarray
    face_presence: np.ndarray | None
    segments: list[dict]
    shown: list[dict]
    output_dir: Path | None
    frame_rate: float | None = None
    emotions: np.ndarray | None = None
    emotion_names: tuple[str, ...] | None = None
    class_scores: np.ndarray | None = None
    class_score_threshold: float | None = None

    def face_seen(self) -> np.ndarray:
        """(T,) bool: snippets where a face was seen (face presence > 0 and emotions known)."""
        if self.emotions is None or self.face_presence is None:
            return np.zeros(np.asarray(self.scores).shape[0], dtype=bool)
        return (np.asarray(self.face_presence) > 0) & (np.asarray(self.emotions).sum(axis=1) > 0)

    def top_emotions(self) -> list[tuple[str, float] | None]:
        """Per snippet: (the most probable emotion's name, its probability), None where no
        face was seen or the video has no emotions."""
        if self.emotions is None or self.emotion_names is None:
            return [None] * np.asarray(self.scores).shape[0]
        emotions = np.asarray(self.emotions, dtype=np.float64)
        best = emotions.argmax(axis=1)
        return [
            (self.emotion_names[index], float(emotions[row, index])) if seen else None
            for row, (index, seen) in enumerate(zip(best, self.face_seen(), strict=True))
        ]

    def classes_under_threshold(self, class_names: Sequence[str]) -> list[tuple[str, float]]:
        """(name, video score) of each class post-processing did not localize because its
        video-level score fell under ``class_score_threshold`` (the best class is always
        localized); empty when the scores are unknown."""
        if self.class_scores is None or self.class_score_threshold is None:
            return []
        scores = np.asarray(self.class_scores, dtype=np.float64)
        chosen = set(select_classes(scores, self.class_score_threshold).tolist())
        return [(str(name), float(scores[index])) for index, name in enumerate(class_names) if index not in chosen]

    def seconds_per_label(self, class_names: Sequence[str]) -> dict[str, float]:
        """Seconds covered by each label's shown segments."""
        return seconds_per_label(self.shown, class_names)


def segment_key(entry: dict) -> tuple[float, float, str]:
    """(start s, end s, label) of an ActivityNet entry: identifies a segment."""
    return (float(entry["segment"][0]), float(entry["segment"][1]), str(entry["label"]))


def shown_segments(
    segments: Sequence[dict], min_seconds: float = 0.0, min_score: float = 0.0, max_segments: int = 0
) -> list[dict]:
    """The non-overlapping segments people see, sorted by start time.

    Greedy by score: a segment is kept when it lasts at least `min_seconds` (localize
    passes one snippet: shorter ones are below the grid's resolution), scores at least
    `min_score`, and overlaps (by more than 1 ms) no segment already kept, whatever their
    labels; at most `max_segments` are kept (0: no limit), the best first. segments:
    ActivityNet entries {"label", "score", "segment": [start_s, end_s]}.
    """
    kept: list[dict] = []
    for entry in sorted(segments, key=lambda e: -float(e["score"])):
        if max_segments and len(kept) >= max_segments:
            break
        start, end, _ = segment_key(entry)
        if end - start <= 0 or end - start < min_seconds - 1e-6 or float(entry["score"]) < min_score:
            continue
        if all(end <= k["segment"][0] + 1e-3 or start >= k["segment"][1] - 1e-3 for k in kept):
            kept.append(entry)
    return sorted(kept, key=lambda e: (e["segment"][0], e["segment"][1]))


def seconds_per_label(segments: Sequence[dict], labels: Sequence[str]) -> dict[str, float]:
    """Seconds covered by each label's segments (their union, so overlaps count once)."""
    covered = {}
    for label in labels:
        intervals = sorted(segment_key(e)[:2] for e in segments if e["label"] == label)
        total, current_start, current_end = 0.0, None, None
        for start, end in intervals:
            if current_end is None or start > current_end:
                if current_end is not None:
                    total += current_end - current_start
                current_start, current_end = start, end
            else:
                current_end = max(current_end, end)
        if current_end is not None:
            total += current_end - current_start
        covered[label] = total
    return covered
