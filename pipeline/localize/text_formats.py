"""The text files `localize` writes for people and tools: segments (CSV), subtitles (SRT,
WebVTT), the per-snippet timeline (CSV) and the run's summary (CSV); segments.json and
results.json are ActivityNet results (pipeline/data/activitynet.py).

Every file states when the features came from random extractor weights: a
`random_weights` field or column, a NOTE in WebVTT, and the cue text in SRT.
All writes are atomic (cache/atomic.py). Names are hostile: CSV cells never start a
formula (pipeline/csv_text.py), a name in a WebVTT NOTE or a cue stays on one line
without '-->', so it can neither end its block nor start a cue or a STYLE block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cache.atomic import atomic_write_text
from pipeline.csv_text import csv_text
from pipeline.localize.video import LocalizedVideo, segment_key


def segments_csv_text(segments: Sequence[dict], shown: Sequence[dict], random_weights: bool) -> str:
    """CSV `start_s,end_s,label,score,shown,random_weights`, one row per segment, by start.

    segments: every segment; shown: those the subtitles, plot and report show (column
    `shown` true).
    """
    shown = {segment_key(e) for e in shown}
    rows = []
    for entry in sorted(segments, key=lambda e: (e["segment"][0], -float(e["score"]))):
        start, end, label = segment_key(entry)
        rows.append([
            f"{start:.3f}", f"{end:.3f}", label, f"{float(entry['score']):.4f}",
            str(segment_key(entry) in shown).lower(), str(random_weights).lower(),
        ])
    return csv_text(["start_s", "end_s", "label", "score", "shown", "random_weights"], rows)


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


def one_line(text: str) -> str:
    """`text` on one line for a subtitle file: every run of line breaks (CR, LF, and the
    Unicode ones) becomes one space, and no '-->' is left (it would start a cue)."""
    text = re.sub(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+", " ", str(text))
    while "-->" in text:
        text = text.replace("-->", "->")
    return text


def cue_text(entry: dict, random_weights: bool) -> str:
    """What a player shows over the video: "positive 0.82" (plus a random-weights mark);
    one line, whatever the label (a class name from the checkpoint)."""
    text = f"{one_line(entry['label'])} {float(entry['score']):.2f}"
    return f"{text} (random-weight features)" if random_weights else text


def _vtt_cue_text(entry: dict, random_weights: bool) -> str:
    """cue_text with WebVTT's markup characters escaped (a '<' would open a tag)."""
    return cue_text(entry, random_weights).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
        parts.append("NOTE " + one_line(note) + "\n")
    for number, (start, end, entry) in enumerate(_cues(shown), start=1):
        parts.append(f"{number}\n{vtt_time(start)} --> {vtt_time(end)}\n{_vtt_cue_text(entry, random_weights)}\n")
    return "\n".join(parts)


# -- timeline ---------------------------------------------------------------------------
def timeline_csv_text(video: LocalizedVideo, class_names: Sequence[str], random_weights: bool) -> str:
    """Per-snippet CSV `time_s,<class 0>,...,<class C-1>,background,face_presence,top_emotion,
    emotion_<name 0>,...,emotion_<name E-1>,random_weights`.

    Scores: video.scores (T, C+1) in [0, 1] (class columns in the checkpoint's order, then
    background). time_s is the snippet's start (snippet i covers [i * snippet_seconds,
    (i + 1) * snippet_seconds)). face_presence: fraction of the snippet's sampled frames
    with a face; empty cells when the model has no face stream. emotion_<name>: the face
    stream's emotion probabilities (one column per emotion class of the checkpoint, summing
    to 1), top_emotion: the most probable one; both empty where no face was seen. The
    emotion_ columns are left out when the features have no emotions (no face stream, a
    public release); top_emotion is always there (empty then).
    """
    flag = str(random_weights).lower()
    names = list(video.emotion_names or []) if video.emotions is not None else []
    emotions = np.asarray(video.emotions, dtype=np.float64) if names else None
    top, rows = video.top_emotions(), []
    for index, row in enumerate(np.asarray(video.scores, dtype=np.float64)):
        presence = "" if video.face_presence is None else f"{float(video.face_presence[index]):.3f}"
        seen = top[index] is not None
        emotion_cells = [f"{value:.4f}" if seen else "" for value in emotions[index]] if emotions is not None else []
        rows.append([f"{index * video.snippet_seconds:.3f}", *(f"{value:.4f}" for value in row), presence,
                     top[index][0] if seen else "", *emotion_cells, flag])
    header = ["time_s", *class_names, "background", "face_presence", "top_emotion", *(f"emotion_{n}" for n in names)]
    return csv_text([*header, "random_weights"], rows)


def summary_csv_text(rows: Sequence[dict], class_names: Sequence[str], random_weights: bool) -> str:
    """CSV `video_id,status,duration_s,segments,<label>_s...,random_weights,outputs,reason`.

    rows: {"video_id", "status" ("localized" | "failed"), "duration_s", "segments" (shown
    segments), "seconds" ({label: s}), "outputs" (folder), "reason" (why it failed)}.
    """
    header = [
        "video_id", "status", "duration_s", "segments", *(f"{label}_s" for label in class_names),
        "random_weights", "outputs", "reason",
    ]
    lines = []
    for row in rows:
        seconds = row.get("seconds") or {}
        duration = row.get("duration_s")
        lines.append([
            row["video_id"], row["status"], "" if duration is None else f"{duration:.3f}",
            row.get("segments", ""),
            *("" if label not in seconds else f"{seconds[label]:.3f}" for label in class_names),
            str(random_weights).lower(), row.get("outputs", ""), row.get("reason", ""),
        ])
    return csv_text(header, lines)


def write_text(path: Path, text: str) -> None:
    """Atomic UTF-8 write."""
    atomic_write_text(Path(path), text)
