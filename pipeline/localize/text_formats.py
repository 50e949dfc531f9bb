"""The text files `localize` writes for people and tools: segments (CSV), subtitles (SRT,
WebVTT), the per-snippet timeline (CSV) and the run's summary (CSV); segments.json and
results.json are ActivityNet results (pipeline/data/activitynet.py).

Every file states when the features came from random extractor weights: a
`random_weights` field or column, a NOTE in WebVTT, and the cue text in SRT.
All writes are atomic (cache/atomic.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cache.atomic import atomic_write_text
from pipeline.localize.video import segment_key


def segments_csv_text(segments: Sequence[dict], shown: Sequence[dict], random_weights: bool) -> str:
    """CSV `start_s,end_s,label,score,shown,random_weights`, one row per segment, by start.

    segments: every segment; shown: those the subtitles, plot and report show (column
    `shown` true).
    """
    shown = {segment_key(e) for e in shown}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["start_s", "end_s", "label", "score", "shown", "random_weights"])
    for entry in sorted(segments, key=lambda e: (e["segment"][0], -float(e["score"]))):
        start, end, label = segment_key(entry)
        writer.writerow([
            f"{start:.3f}", f"{end:.3f}", label, f"{float(entry['score']):.4f}",
            str(segment_key(entry) in shown).lower(), str(random_weights).lower(),
        ])
    return buffer.getvalue()


# -- subtitles --------------------------------------------------------------------------
def _clock(seconds: float, separator: str) -> str:
    """HH:MM:SS{separator}mmm, rounded to the millisecond."""
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def srt_time(seconds: float) -> str:
    """SubRip time, e.g. 00:01:02,345."""
    return _clock(seconds, ",")


def vtt_time(seconds: float) -> str:
    """WebVTT time, e.g. 00:01:02.345."""
    return _clock(seconds, ".")


def cue_text(entry: dict, random_weights: bool) -> str:
    """What a player shows over the video: "positive 0.82" (plus a random-weights mark)."""
    text = f"{entry['label']} {float(entry['score']):.2f}"
    return f"{text} (random-weight features)" if random_weights else text


def _cues(shown: Sequence[dict]) -> list[tuple[float, float, dict]]:
    """Shown segments as cues in time order, with start < end after millisecond rounding."""
    cues = []
    for entry in sorted(shown, key=lambda e: (e["segment"][0], e["segment"][1])):
        start, end, _ = segment_key(entry)
        if round(end * 1000) > round(start * 1000):
            cues.append((start, end, entry))
    return cues


def srt_text(shown: Sequence[dict], random_weights: bool) -> str:
    """SubRip subtitles of the shown (non-overlapping) segments: numbered cues in time order."""
    blocks = [
        f"{number}\n{srt_time(start)} --> {srt_time(end)}\n{cue_text(entry, random_weights)}\n"
        for number, (start, end, entry) in enumerate(_cues(shown), start=1)
    ]
    return "\n".join(blocks)


def vtt_text(shown: Sequence[dict], random_weights: bool, note: str = "") -> str:
    """WebVTT subtitles of the shown segments; `note` becomes a NOTE block (provenance)."""
    parts = ["WEBVTT\n"]
    if random_weights:
        parts.append("NOTE features from RANDOM extractor weights: the sentiment carries no learned meaning\n")
    if note:
        parts.append("NOTE " + note.replace("-->", "->").replace("\n\n", "\n") + "\n")
    for number, (start, end, entry) in enumerate(_cues(shown), start=1):
        parts.append(f"{number}\n{vtt_time(start)} --> {vtt_time(end)}\n{cue_text(entry, random_weights)}\n")
    return "\n".join(parts)


# -- timeline ---------------------------------------------------------------------------
def timeline_csv_text(
    scores: np.ndarray,
    snippet_seconds: float,
    class_names: Sequence[str],
    face_presence: np.ndarray | None,
    random_weights: bool,
) -> str:
    """Per-snippet CSV `time_s,<class 0>,...,<class C-1>,background,face_presence,random_weights`.

    scores: (T, C+1) per-snippet scores in [0, 1] (class columns in the checkpoint's
    order, then background). time_s is the snippet's start (snippet i covers
    [i * snippet_seconds, (i + 1) * snippet_seconds)). face_presence: (T,) fraction of the
    snippet's sampled frames with a face; empty cells when the model has no face stream.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["time_s", *class_names, "background", "face_presence", "random_weights"])
    flag = str(random_weights).lower()
    for index, row in enumerate(np.asarray(scores, dtype=np.float64)):
        presence = "" if face_presence is None else f"{float(face_presence[index]):.3f}"
        writer.writerow([f"{index * snippet_seconds:.3f}", *(f"{value:.4f}" for value in row), presence, flag])
    return buffer.getvalue()


def summary_csv_text(rows: Sequence[dict], class_names: Sequence[str], random_weights: bool) -> str:
    """CSV `video_id,status,duration_s,segments,<label>_s...,random_weights,outputs,reason`.

    rows: {"video_id", "status" ("localized" | "failed"), "duration_s", "segments" (shown
    segments), "seconds" ({label: s}), "outputs" (folder), "reason" (why it failed)}.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([
        "video_id", "status", "duration_s", "segments", *(f"{label}_s" for label in class_names),
        "random_weights", "outputs", "reason",
    ])
    for row in rows:
        seconds = row.get("seconds") or {}
        duration = row.get("duration_s")
        writer.writerow([
            row["video_id"], row["status"], "" if duration is None else f"{duration:.3f}",
            row.get("segments", ""),
            *("" if label not in seconds else f"{seconds[label]:.3f}" for label in class_names),
            str(random_weights).lower(), row.get("outputs", ""), row.get("reason", ""),
        ])
    return buffer.getvalue()


def write_text(path: Path, text: str) -> None:
    """Atomic UTF-8 write."""
    atomic_write_text(Path(path), text)
