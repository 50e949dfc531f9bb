"""The timeline plot (PNG): per-snippet sentiment scores over time, the shown segments as
bands, and face presence underneath.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend, no
display needed); written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cache.atomic import atomic_write_bytes

POSITIVE_COLOUR = "#1a9850"
NEGATIVE_COLOUR = "#d73027"
BACKGROUND_COLOUR = "#7f7f7f"
FACE_COLOUR = "#4575b4"
OTHER_COLOURS = ("#984ea3", "#ff7f00", "#a65628", "#f781bf", "#377eb8")
POSITIVE_NAMES = {"positive", "pos", "p"}
NEGATIVE_NAMES = {"negative", "neg", "n"}


def label_colours(class_names: Sequence[str]) -> dict[str, str]:
    """A colour per class name: green for positive spellings, red for negative, others
    from a fixed palette (the plot and the HTML report use the same colours)."""
    colours, others = {}, iter(OTHER_COLOURS * (1 + len(class_names) // len(OTHER_COLOURS)))
    for name in class_names:
        key = name.strip().lower()
        colours[name] = POSITIVE_COLOUR if key in POSITIVE_NAMES else NEGATIVE_COLOUR if key in NEGATIVE_NAMES else next(others)
    return colours


def timeline_png(
    scores: np.ndarray,
    snippet_seconds: float,
    duration_seconds: float,
    class_names: Sequence[str],
    segments: Sequence[dict],
    face_presence: np.ndarray | None,
    title: str,
    random_weights: bool,
    width_inches: float = 10.0,
    dpi: int = 100,
) -> bytes:
    """PNG bytes of the timeline.

    scores: (T, C+1) per-snippet scores in [0, 1] (classes, then background), drawn as
    steps over each snippet [i s, (i+1) s). segments: ActivityNet entries to draw as
    bands (the shown, non-overlapping ones). face_presence: (T,) in [0, 1] or None.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores = np.asarray(scores, dtype=np.float64)
    num_snippets = scores.shape[0]
    edges = np.arange(num_snippets + 1) * snippet_seconds
    end = max(duration_seconds, 1e-3)
    colours = label_colours(class_names)

    figure = Figure(figsize=(width_inches, 3.3), dpi=dpi)  # fixed margins: a layout engine costs ~0.15 s
    FigureCanvasAgg(figure)
    score_axes, face_axes = figure.subplots(2, 1, sharex=True, height_ratios=[4, 1])
    figure.subplots_adjust(left=0.055, right=0.99, top=0.87, bottom=0.14, hspace=0.12)
    for entry in segments:
        start, stop = entry["segment"]
        colour = colours.get(entry["label"], OTHER_COLOURS[0])
        score_axes.axvspan(start, stop, color=colour, alpha=0.18, linewidth=0)
        score_axes.text(
            (start + stop) / 2, 1.02, f"{entry['label']} {float(entry['score']):.2f}", ha="center", va="bottom",
            fontsize=7, color=colour, clip_on=False,
        )
    for column, name in enumerate(class_names):
        score_axes.stairs(scores[:, column], edges, color=colours[name], linewidth=1.4, label=name)
    score_axes.stairs(
        scores[:, len(class_names)], edges, color=BACKGROUND_COLOUR, linewidth=1.0, linestyle="--", label="background"
    )
    score_axes.set_ylim(0, 1)
    score_axes.set_ylabel("score")
    score_axes.legend(loc="upper right", fontsize=7, ncols=len(class_names) + 1, framealpha=0.8)
    heading = title + ("   [features from RANDOM extractor weights]" if random_weights else "")
    score_axes.set_title(heading, fontsize=9, loc="left", pad=14, color=NEGATIVE_COLOUR if random_weights else "black")

    if face_presence is not None:
        face_axes.stairs(np.asarray(face_presence, dtype=np.float64), edges, fill=True, color=FACE_COLOUR, alpha=0.6)
    else:
        face_axes.text(end / 2, 0.5, "no face stream", ha="center", va="center", fontsize=7, color=BACKGROUND_COLOUR)
    face_axes.set_ylim(0, 1)
    face_axes.set_yticks([0, 1])
    face_axes.set_ylabel("face", fontsize=8)
    face_axes.set_xlim(0, end)
    face_axes.set_xlabel("time (s)")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_timeline_png(path: Path, **kwargs) -> None:
    """timeline_png(**kwargs) written atomically to `path`."""
    atomic_write_bytes(Path(path), timeline_png(**kwargs))
