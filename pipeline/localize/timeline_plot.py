"""The timeline plot (PNG): per-snippet sentiment scores over time, the shown segments as
bands, face presence underneath, and under it the face emotions as a stacked strip (each
snippet's emotion probabilities from the bottom up in the checkpoint's class order, grey
where no face was seen) with a legend naming the classes.

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
    NO_FACE_COLOUR,
    OTHER_COLOURS,
    TEXT_COLOUR,
    WARNING_TEXT_COLOUR,
    emotion_colours,
    label_colours,
)
from pipeline.localize.video import LocalizedVideo

FIGURE_BACKGROUND = "#ffffff"  # every text of the plot is drawn on this (checked by the tests)
TEXT_COLOURS = (TEXT_COLOUR, MUTED_TEXT_COLOUR, WARNING_TEXT_COLOUR)  # every colour text is drawn in



def _draw_scores(axes, video: LocalizedVideo, class_names: Sequence[str], edges: np.ndarray,
                 random_weights: bool) -> None:
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
    axes.stairs(scores[:, len(class_names)], edges, color=BACKGROUND_COLOUR, linewidth=1.0, linestyle="--",
                label="background")
    axes.set_ylim(0, 1)
    axes.set_ylabel("score")
    legend = axes.legend(loc="upper right", fontsize=7, ncols=len(class_names) + 1, framealpha=0.8)
    for text in legend.get_texts():
        text.set_parse_math(False)
    heading = printable(video.video_id) + ("   [features from RANDOM extractor weights]" if random_weights else "")
    axes.set_title(heading, fontsize=9, loc="left", pad=14,
                   color=WARNING_TEXT_COLOUR if random_weights else TEXT_COLOUR,
                   parse_math=False)


def _draw_face(axes, video: LocalizedVideo, edges: np.ndarray, end_seconds: float) -> None:
    """Face presence as a filled step strip (or a note without a face stream); a note when
    the face stream has no emotions to show."""
    if video.face_presence is not None:
        axes.stairs(np.asarray(video.face_presence, dtype=np.float64), edges, fill=True, color=FACE_COLOUR, alpha=0.6)
        if video.emotions is None:
            axes.text(end_seconds, 0.5, "no face emotions in these features ", ha="right", va="center", fontsize=7,
                      color=MUTED_TEXT_COLOUR, bbox={"facecolor": FIGURE_BACKGROUND, "edgecolor": "none", "pad": 1})
    else:
        axes.text(end_seconds / 2, 0.5, "no face stream", ha="center", va="center", fontsize=7, color=MUTED_TEXT_COLOUR)
    axes.set_ylim(0, 1)
    axes.set_yticks([0, 1])
    axes.set_ylabel("face", fontsize=8)
    axes.set_xlim(0, end_seconds)


def _draw_emotions(figure, axes, video: LocalizedVideo, edges: np.ndarray) -> None:
    """The face emotions as a stacked strip, grey where no face was seen; the legend under
    the time axis names every class (plain text)."""
    emotions, seen = np.asarray(video.emotions, dtype=np.float64), video.face_seen()
    colours = emotion_colours(video.emotion_names)
    bottom = np.zeros(emotions.shape[0])
    for column, name in enumerate(video.emotion_names):
        top = bottom + np.where(seen, emotions[:, column], 0.0)
        axes.stairs(top, edges, baseline=bottom, fill=True, color=colours[name], linewidth=0, label=name)
        bottom = top
    axes.stairs(np.where(seen, bottom, 1.0), edges, baseline=bottom, fill=True, color=NO_FACE_COLOUR, linewidth=0,
                label="no face")
    axes.set_ylim(0, 1)
    axes.set_yticks([])
    axes.set_ylabel("emotion", fontsize=8)
    handles, names = axes.get_legend_handles_labels()
    legend = figure.legend(handles, names, loc="lower left", bbox_to_anchor=(0.05, 0.0), fontsize=7, frameon=False,
                           ncols=min(len(names), 10), handlelength=1.2, title="face emotion:", alignment="left")
    legend.get_title().set_fontsize(7)
    for text in [*legend.get_texts(), legend.get_title()]:
        text.set_parse_math(False)
        text.set_color(TEXT_COLOUR)


def timeline_png(
    video: LocalizedVideo,
    class_names: Sequence[str],
    random_weights: bool,
    width_inches: float = 10.0,
    dpi: int = 100,
) -> bytes:
    """PNG bytes of the video's timeline: its per-snippet scores ((T, C+1) in [0, 1],
    classes then background) as steps over each snippet [i s, (i+1) s), its shown
    segments as bands, its face presence underneath, then its face emotions (when the
    features have them); the title is the video id."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    edges = np.arange(np.asarray(video.scores).shape[0] + 1) * video.snippet_seconds
    with_emotions = video.emotions is not None and video.emotion_names is not None
    height = 4.3 if with_emotions else 3.3
    # fixed margins: a layout engine costs ~0.15 s
    figure = Figure(figsize=(width_inches, height), dpi=dpi, facecolor=FIGURE_BACKGROUND)
    FigureCanvasAgg(figure)
    ratios = [4, 1, 1] if with_emotions else [4, 1]
    axes = figure.subplots(len(ratios), 1, sharex=True, height_ratios=ratios)
    margin_bottom = 0.46 / height if not with_emotions else 0.95 / height
    figure.subplots_adjust(left=0.055, right=0.99, top=1 - 0.43 / height, bottom=margin_bottom,
                           hspace=0.12 * 3.3 / height)
    _draw_scores(axes[0], video, class_names, edges, random_weights)
    _draw_face(axes[1], video, edges, max(video.duration_seconds, 1e-3))
    if with_emotions:
        _draw_emotions(figure, axes[2], video, edges)
    axes[-1].set_xlabel("time (s)")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_timeline_png(path: Path, video: LocalizedVideo, class_names: Sequence[str], random_weights: bool) -> None:
    """timeline_png(...) written atomically to `path`."""
    atomic_write_bytes(Path(path), timeline_png(video, class_names, random_weights))
