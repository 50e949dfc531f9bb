"""The timeline plot (PNG): per-snippet sentiment scores over time, the shown segments as
bands, and face presence underneath.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend, no
display needed); written atomically. Video ids and class names are drawn as plain text
(parse_math=False): a '$' in a file name is a dollar sign, never mathtext.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cache.atomic import atomic_write_bytes
from pipeline.console import printable
from pipeline.localize.colours import (
    BACKGROUND_COLOUR,
    FACE_COLOUR,
    MUTED_TEXT_COLOUR,
    OTHER_COLOURS,
    TEXT_COLOUR,
    WARNING_TEXT_COLOUR,
    label_colours,
)
from pipeline.localize.video import LocalizedVideo

FIGURE_BACKGROUND = "#ffffff"  # every text of the plot is drawn on this (checked by the tests)
TEXT_COLOURS = (TEXT_COLOUR, MUTED_TEXT_COLOUR, WARNING_TEXT_COLOUR)  # every colour text is drawn in



def _draw_scores(axes, video: LocalizedVideo, class_names: Sequence[str], edges: np.ndarray, random_weights: bool) -> None:
    """Score steps per class and background, the shown segments as labelled bands, the title."""
    scores = np.asarray(video.scores, dtype=np.float64)
    colours = label_colours(class_names)
    for entry in video.shown:
        start, stop = entry["segment"]
        colour = colours.get(entry["label"], OTHER_COLOURS[0])
        axes.axvspan(start, stop, color=colour, alpha=0.18, linewidth=0)
        axes.text(
            (start + stop) / 2, 1.02, f"{entry['label']} {float(entry['score']):.2f}", ha="center", va="bottom",
            fontsize=7, color=TEXT_COLOUR, clip_on=False, parse_math=False,
        )
    for column, name in enumerate(class_names):
        axes.stairs(scores[:, column], edges, color=colours[name], linewidth=1.4, label=name)
    axes.stairs(scores[:, len(class_names)], edges, color=BACKGROUND_COLOUR, linewidth=1.0, linestyle="--", label="background")
    axes.set_ylim(0, 1)
    axes.set_ylabel("score")
    legend = axes.legend(loc="upper right", fontsize=7, ncols=len(class_names) + 1, framealpha=0.8)
    for text in legend.get_texts():
        text.set_parse_math(False)
    heading = printable(video.video_id) + ("   [features from RANDOM extractor weights]" if random_weights else "")
    axes.set_title(heading, fontsize=9, loc="left", pad=14, color=WARNING_TEXT_COLOUR if random_weights else TEXT_COLOUR,
                   parse_math=False)


def _draw_face(axes, video: LocalizedVideo, edges: np.ndarray, end_seconds: float) -> None:
    """Face presence as a filled step strip (or a note without a face stream), the time axis."""
    if video.face_presence is not None:
        axes.stairs(np.asarray(video.face_presence, dtype=np.float64), edges, fill=True, color=FACE_COLOUR, alpha=0.6)
    else:
        axes.text(end_seconds / 2, 0.5, "no face stream", ha="center", va="center", fontsize=7, color=MUTED_TEXT_COLOUR)
    axes.set_ylim(0, 1)
    axes.set_yticks([0, 1])
    axes.set_ylabel("face", fontsize=8)
    axes.set_xlim(0, end_seconds)
    axes.set_xlabel("time (s)")


def timeline_png(
    video: LocalizedVideo,
    class_names: Sequence[str],
    random_weights: bool,
    width_inches: float = 10.0,
    dpi: int = 100,
) -> bytes:
    """PNG bytes of the video's timeline: its per-snippet scores ((T, C+1) in [0, 1],
    classes then background) as steps over each snippet [i s, (i+1) s), its shown
    segments as bands, its face presence underneath; the title is the video id."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    edges = np.arange(np.asarray(video.scores).shape[0] + 1) * video.snippet_seconds
    figure = Figure(figsize=(width_inches, 3.3), dpi=dpi, facecolor=FIGURE_BACKGROUND)  # fixed margins: a layout engine costs ~0.15 s
    FigureCanvasAgg(figure)
    score_axes, face_axes = figure.subplots(2, 1, sharex=True, height_ratios=[4, 1])
    figure.subplots_adjust(left=0.055, right=0.99, top=0.87, bottom=0.14, hspace=0.12)
    _draw_scores(score_axes, video, class_names, edges, random_weights)
    _draw_face(face_axes, video, edges, max(video.duration_seconds, 1e-3))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_timeline_png(path: Path, video: LocalizedVideo, class_names: Sequence[str], random_weights: bool) -> None:
    """timeline_png(...) written atomically to `path`."""
    atomic_write_bytes(Path(path), timeline_png(video, class_names, random_weights))
