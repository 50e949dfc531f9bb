"""The self-contained HTML report of one localized video.

One file, no external resources: inline CSS, the timeline as inline SVG (drawn here, in
Python) under an HTML layer with its text and segment bands (legible at any width), a
poster frame embedded as a data: URI, a few lines of inline JavaScript, and a
Content-Security-Policy that forbids every network fetch except the video itself. The
video plays through a relative link: to its original place (localize.video=relative, the
default), to a copy beside the report (copy: the folder can move and be shared), or to a
symlink beside it (link); the page says what to do when the video is missing.

What it shows: the video (subtitles "positive 0.82" added as a text track by the
script), the sentiment timeline under it (per-snippet class and background scores, the
shown segments as clickable bands, face presence, a playhead that follows the video),
the face emotions under it (a stacked strip per snippet, a title naming its top emotion,
grey where no face was seen; a line saying why when the features have none),
a table of the shown segments (click a row to seek), every segment the post-processing
kept (collapsed), and the model and feature provenance, with a banner when the features
came from random extractor weights.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from cache.atomic import atomic_write_text
from cache.json_text import json_text
from pipeline.localize.colours import (
    BACKGROUND_COLOUR,
    FACE_COLOUR,
    MUTED_TEXT_COLOUR,
    NO_FACE_COLOUR,
    emotion_colours,
    label_colours,
    text_colour_on,
)
from pipeline.localize.poster import data_uri
from pipeline.localize.text_formats import cue_text
from pipeline.localize.video import LocalizedVideo

# The timeline is drawn at a fixed height in CSS pixels, stretched across the page's width:
# its SVG's viewBox is SVG_WIDTH units of time wide and SVG_HEIGHT units (= pixels) tall,
# drawn with preserveAspectRatio="none" and strokes that do not scale, so a narrow window
# squeezes time, never the heights, the lines or the text. Its text (and the segment
# bands, which carry text) is HTML over the SVG, in pixels: legible at any width.
SVG_WIDTH = 1000  # viewBox units across the whole duration
LANE_TOP, LANE_HEIGHT = 4, 26  # segment lane (px)
SCORES_TOP, SCORES_HEIGHT = 40, 120  # score curves (px)
FACE_TOP, FACE_HEIGHT = 168, 16  # face presence (px)
AXIS_TOP = 190  # the time axis (px); its labels under it
SVG_HEIGHT = 212  # px
EMOTION_HEIGHT = 30  # the face-emotion strip (its own SVG, same width), px
MAX_DRAWN_SNIPPETS = 2000  # longer timelines are averaged into this many bins for drawing

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "media-src 'self' file: blob:"
)

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d1d1f; background: #f6f6f7; }
main { max-width: 1040px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { font-size: 1.3rem; margin: 8px 0 4px; word-break: break-all; }
.meta { color: #555; font-size: 0.85rem; margin: 0 0 12px; }
.banner { background: #fde2e1; border: 1px solid #D55E00; color: #8b1a13; padding: 8px 12px; border-radius: 6px;
          margin: 8px 0 12px; font-size: 0.9rem; }
.player { background: #000; border-radius: 6px; overflow: hidden; text-align: center; }
video { width: 100%; max-height: 52vh; display: block; margin: 0 auto; background: #000; }
.video-note { color: #8b1a13; font-size: 0.85rem; margin: 6px 0 0; min-height: 1em; }
.timeline { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin-top: 10px; padding: 6px 8px 2px; }
.timeline svg { width: 100%; display: block; cursor: pointer; user-select: none; }
.plot { position: relative; }
.plot svg { position: absolute; top: 0; left: 0; height: 100%; }
.plot-text { position: absolute; inset: 0; pointer-events: none; font-size: 12px; line-height: 1; }
.plot-text > span { position: absolute; white-space: nowrap; }
.tick { transform: translateX(-50%); }
.tick.first { transform: none; }
.tick.last { transform: translateX(-100%); }
.mark, .no-face { font-size: 11px; }
.mark { background: #fbfbfb; padding: 1px 2px; }  /* over the curves, on the scores panel */
.segment { position: absolute; min-width: 2px; border-radius: 3px; box-sizing: border-box; pointer-events: auto;
  cursor: pointer; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; text-align: center;
  padding: 0 3px; container-type: inline-size; }
.segment:hover, .segment.current, .segment:focus-visible { outline: 1.5px solid #000; outline-offset: 0; }
@container (max-width: 44px) { .segment-label { display: none; } }
#emotion-strip { margin-top: 2px; }
@media (max-width: 640px) {
  main { padding: 10px 8px 32px; }
  .timeline { padding: 6px 4px 2px; }
  .tick.minor { display: none; }
}
.legend { font-size: 0.8rem; color: #444; margin: 4px 0 6px; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -2px;
          margin-right: 4px; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 0.9rem; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid #eee; }
@media (max-width: 400px) { th, td { padding: 4px 4px; } }  /* 5 columns fit at 320 px */
th { background: #fafafa; font-weight: 600; }
tbody tr[data-start] { cursor: pointer; }
tbody tr[data-start]:hover { background: #f0f4ff; }
tbody tr.current { background: #e3ecff; }
td.num { font-variant-numeric: tabular-nums; }
h2 { font-size: 1.05rem; margin: 20px 0 8px; }
details { margin-top: 14px; font-size: 0.9rem; }
.files { display: flex; flex-wrap: wrap; gap: 4px 12px; }  /* a link wraps whole, never past the window */
.files a { white-space: nowrap; }
.provenance { font-size: 0.8rem; color: #555; white-space: pre-wrap; overflow-wrap: anywhere; background: #fff;
              border: 1px solid #eee; padding: 8px; border-radius: 6px; }
"""

SCRIPT = """
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const video = document.getElementById("video");
  const playheads = document.querySelectorAll(".playhead");
  const note = document.getElementById("video-note");
  const duration = data.duration_seconds;
  const width = data.svg_width;

  function seek(seconds) {
    const target = Math.max(0, Math.min(seconds, duration));
    video.currentTime = target;
    showTime(target);
  }

  function showTime(seconds) {
    const x = (Math.max(0, Math.min(seconds, duration)) / duration) * width;
    playheads.forEach(function (line) {
      line.setAttribute("x1", x.toFixed(2));
      line.setAttribute("x2", x.toFixed(2));
    });
    document.querySelectorAll("[data-start]").forEach(function (element) {
      const inside = seconds >= parseFloat(element.dataset.start) && seconds < parseFloat(element.dataset.end);
      element.classList.toggle("current", inside);
    });
  }

  document.querySelectorAll("[data-start]").forEach(function (element) {
    element.addEventListener("click", function (event) {
      event.stopPropagation();
      seek(parseFloat(element.dataset.start));
    });
    element.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        seek(parseFloat(element.dataset.start));
      }
    });
  });

  document.querySelectorAll("svg.seekable").forEach(function (svg) {
    svg.addEventListener("click", function (event) {
      const box = svg.getBoundingClientRect();
      seek(((event.clientX - box.left) / box.width) * duration);
    });
  });

  video.addEventListener("timeupdate", function () { showTime(video.currentTime); });
  video.addEventListener("seeked", function () { showTime(video.currentTime); });
  video.addEventListener("error", function () {
    note.textContent = "This browser cannot play " + data.video_name +
      " (missing, moved, or a format it does not decode); the timeline and the table still work.";
  });

  if (typeof VTTCue === "function" && video.addTextTrack) {
    const track = video.addTextTrack("subtitles", "sentiment", "en");
    data.cues.forEach(function (cue) { track.addCue(new VTTCue(cue.start, cue.end, cue.text)); });
    track.mode = "showing";
  }
  showTime(0);
})();
"""


def relative_video_url(video_path: Path, report_dir: Path) -> str:
    """The video as a relative URL from the report's folder (each part's bytes
    percent-encoded, so spaces, '#', '?', non-ASCII names and names that are not UTF-8 work)."""
    relative = os.path.relpath(os.path.abspath(video_path), os.path.abspath(report_dir))
    return "/".join(quote(os.fsencode(part), safe="") for part in Path(relative).parts)


def _bins(values: np.ndarray, snippet_seconds: float) -> tuple[np.ndarray, float]:
    """Average consecutive snippets so at most MAX_DRAWN_SNIPPETS are drawn: (bins, bin_seconds)."""
    count = values.shape[0]
    if count <= MAX_DRAWN_SNIPPETS:
        return values, snippet_seconds
    group = -(-count // MAX_DRAWN_SNIPPETS)
    padded = np.concatenate([values, np.repeat(values[-1:], group * -(-count // group) - count, axis=0)])
    return padded.reshape(-1, group, *values.shape[1:]).mean(axis=1), snippet_seconds * group


def _step_list(values: np.ndarray, bin_seconds: float, duration: float, top: float, height: float) -> list[str]:
    """SVG points ("x,y") of a step curve: value v over [i b, (i+1) b) at y = top + (1 - v) height."""
    scale = SVG_WIDTH / duration
    points = []
    for index, value in enumerate(np.clip(values, 0.0, 1.0)):
        y = top + (1.0 - float(value)) * height
        x0, x1 = min(index * bin_seconds, duration) * scale, min((index + 1) * bin_seconds, duration) * scale
        points += [f"{x0:.1f},{y:.1f}", f"{x1:.1f},{y:.1f}"]
    return points


def _step_points(values: np.ndarray, bin_seconds: float, duration: float, top: float, height: float) -> str:
    """SVG polyline points of a step curve (see _step_list)."""
    return " ".join(_step_list(values, bin_seconds, duration, top, height))


def _ticks(duration: float) -> list[float]:
    """Round tick times (s) for the axis: about 8-12 over the duration."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= 12:
            return [i * step for i in range(int(duration // step) + 1)]
    return [0.0, duration]


def _clock(seconds: float) -> str:
    """m:ss.s (or h:mm:ss.s) for people."""
    minutes, rest = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:04.1f}" if hours else f"{minutes}:{rest:04.1f}"


NON_SCALING = 'vector-effect="non-scaling-stroke"'  # a line keeps its width when time is squeezed


def _svg_frame() -> list[str]:
    parts = [
        f'<svg class="seekable" viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" preserveAspectRatio="none" '
        'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="sentiment timeline; click to seek">',
        f'<rect x="0" y="0" width="{SVG_WIDTH}" height="{SVG_HEIGHT}" fill="#ffffff"/>',
        f'<rect x="0" y="{LANE_TOP}" width="{SVG_WIDTH}" height="{LANE_HEIGHT}" fill="#f2f2f2"/>',
        f'<rect x="0" y="{SCORES_TOP}" width="{SVG_WIDTH}" height="{SCORES_HEIGHT}" fill="#fbfbfb" stroke="#e4e4e4" '
        f'{NON_SCALING}/>',
    ]
    for fraction in (0.25, 0.5, 0.75):
        y = SCORES_TOP + (1 - fraction) * SCORES_HEIGHT
        parts.append(f'<line x1="0" x2="{SVG_WIDTH}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eeeeee" {NON_SCALING}/>')
    return parts


def _svg_scores(video: LocalizedVideo, class_names: Sequence[str], duration: float) -> list[str]:
    """Bands of the shown segments behind step curves of each class and the background."""
    colours = label_colours(class_names)
    scale = SVG_WIDTH / duration
    parts = []
    for entry in video.shown:
        start, end = (float(v) for v in entry["segment"])
        parts.append(
            f'<rect x="{start * scale:.2f}" y="{SCORES_TOP}" width="{max((end - start) * scale, 0.5):.2f}" '
            f'height="{SCORES_HEIGHT}" fill="{colours.get(entry["label"], MUTED_TEXT_COLOUR)}" fill-opacity="0.13" '
            'pointer-events="none"/>'
        )
    binned, bin_seconds = _bins(np.asarray(video.scores, dtype=np.float64), video.snippet_seconds)
    for column, name in enumerate(class_names):
        points = _step_points(binned[:, column], bin_seconds, duration, SCORES_TOP, SCORES_HEIGHT)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colours[name]}" stroke-width="1.6" '
                     f'{NON_SCALING}/>')
    points = _step_points(binned[:, len(class_names)], bin_seconds, duration, SCORES_TOP, SCORES_HEIGHT)
    parts.append(f'<polyline points="{points}" fill="none" stroke="{BACKGROUND_COLOUR}" stroke-width="1" '
                 f'stroke-dasharray="4 3" {NON_SCALING}/>')
    return parts


def _svg_face(video: LocalizedVideo, duration: float) -> list[str]:
    """The face presence area (nothing when the features have no face stream: the text
    layer says so) and its base line."""
    bottom = FACE_TOP + FACE_HEIGHT
    parts = [f'<line x1="0" x2="{SVG_WIDTH}" y1="{bottom}" y2="{bottom}" stroke="#cccccc" {NON_SCALING}/>']
    if video.face_presence is not None:
        face_bins, face_seconds = _bins(np.asarray(video.face_presence, dtype=np.float64), video.snippet_seconds)
        outline = _step_points(face_bins, face_seconds, duration, FACE_TOP, FACE_HEIGHT)
        parts.insert(0, f'<polygon points="0,{bottom} {outline} {SVG_WIDTH},{bottom}" fill="{FACE_COLOUR}" '
                        'fill-opacity="0.55"/>')
    return parts


def _svg_axis(duration: float) -> list[str]:
    """Time ticks and the playhead line (id "playhead"); their labels are text (_text_layer)."""
    scale = SVG_WIDTH / duration
    parts = [f'<line x1="{tick * scale:.1f}" x2="{tick * scale:.1f}" y1="{AXIS_TOP - 4}" '
             f'y2="{AXIS_TOP}" stroke="#999999" '
             f'{NON_SCALING}/>' for tick in _ticks(duration)]
    parts.append(f'<line id="playhead" class="playhead" x1="0" x2="0" y1="0" y2="{AXIS_TOP}" stroke="#111111" '
                 f'stroke-width="1.5" pointer-events="none" {NON_SCALING}/></svg>')
    return parts


def _tick_label(seconds: float) -> str:
    """An axis label: m:ss (h:mm:ss), with tenths only where the tick has them (0:02.5)."""
    clock = _clock(seconds)
    return clock[:-2] if clock.endswith(".0") else clock


def _segment_bands(video: LocalizedVideo, class_names: Sequence[str], duration: float) -> list[str]:
    """The shown segments as clickable HTML bands in the lane (data-start / data-end in
    seconds), each labelled "positive 0.82" where it is wide enough on screen."""
    colours = label_colours(class_names)
    parts = []
    for entry in video.shown:
        start, end = (float(v) for v in entry["segment"])
        title = html.escape(f"{entry['label']} {float(entry['score']):.2f}: {_clock(start)} - {_clock(end)}")
        fill = colours.get(entry["label"], MUTED_TEXT_COLOUR)
        parts.append(
            f'<span class="segment" data-start="{start:.3f}" data-end="{end:.3f}" tabindex="0" role="button" '
            f'title="{title}" style="left:{100 * start / duration:.3f}%;width:{100 * (end - start) / duration:.3f}%;'
            f'top:{LANE_TOP}px;height:{LANE_HEIGHT}px;line-height:{LANE_HEIGHT}px;background:{fill};'
            f'color:{text_colour_on(fill)}"><span class="segment-label">{html.escape(cue_text(entry, False))}</span>'
            "</span>"
        )
    return parts


def _text_layer(video: LocalizedVideo, class_names: Sequence[str], duration: float) -> str:
    """The timeline's HTML layer: the segment bands, the time labels (every other one
    hidden on a narrow window: class "minor"), the 1 / 0 score marks, "no face stream"."""
    ticks = _ticks(duration)
    parts = _segment_bands(video, class_names, duration)
    for index, tick in enumerate(ticks):
        place = " first" if index == 0 else " last" if index == len(ticks) - 1 and tick / duration > 0.96 else ""
        minor = " minor" if index % 2 else ""
        parts.append(f'<span class="tick{place}{minor}" style="left:{100 * tick / duration:.3f}%;top:{AXIS_TOP + 4}px">'
                     f"{_tick_label(tick)}</span>")
    parts.append(f'<span class="mark" style="left:4px;top:{SCORES_TOP + 3}px">1</span>'
                 f'<span class="mark" style="left:4px;top:{SCORES_TOP + SCORES_HEIGHT - 14}px">0</span>')
    if video.face_presence is None:
        parts.append(f'<span class="no-face" style="left:50%;top:{FACE_TOP + 3}px;transform:translateX(-50%)">'
                     "no face stream</span>")
    return f'<div class="plot-text" style="color:{MUTED_TEXT_COLOUR}">{"".join(parts)}</div>'


def timeline_html(video: LocalizedVideo, class_names: Sequence[str]) -> str:
    """The timeline (id "timeline"), SVG_HEIGHT px tall at any width: an SVG of the score
    step curves, the bands behind them, face presence, the time ticks and a playhead line
    (id "playhead"), under an HTML layer with the clickable segment bands and every text."""
    duration = max(video.duration_seconds, 1e-3)
    svg = "".join([*_svg_frame(), *_svg_scores(video, class_names, duration), *_svg_face(video, duration),
                   *_svg_axis(duration)])
    return (f'<div class="plot" id="timeline" style="height:{SVG_HEIGHT}px">{svg}'
            f"{_text_layer(video, class_names, duration)}</div>")


def _emotion_layers(video: LocalizedVideo) -> tuple[np.ndarray, np.ndarray, float]:
    """(layers (N, E+1): per drawn bin, each emotion's share then the share without a face,
    summing to 1; seen (N,): the bin's fraction of snippets with a face; bin seconds)."""
    seen = video.face_seen()
    emotions = np.where(seen[:, None], np.asarray(video.emotions, dtype=np.float64), 0.0)
    emotions = emotions / np.maximum(emotions.sum(axis=1, keepdims=True), 1e-12)  # rows of a face sum to 1
    layers = np.concatenate([emotions, (~seen).astype(np.float64)[:, None]], axis=1)
    binned, bin_seconds = _bins(layers, video.snippet_seconds)
    seen_bins, _ = _bins(seen.astype(np.float64), video.snippet_seconds)
    return binned, seen_bins, bin_seconds


def _emotion_titles(video: LocalizedVideo, layers: np.ndarray, seen: np.ndarray, bin_seconds: float,
                    duration: float) -> list[str]:
    """A transparent rect per run of drawn bins with the same words, titled with its time
    span and its top emotion and probability (the mean over its snippets with a face), or
    "no face"."""
    names, words = video.emotion_names, []
    for index, fraction in enumerate(seen):
        if fraction <= 0:
            words.append("no face")
            continue
        shares = layers[index, :-1] / fraction
        best = int(shares.argmax())
        share_words = f" (face in {fraction:.0%} of the snippets)" if fraction < 1 else ""
        words.append(f"{names[best]} {shares[best]:.2f}{share_words}")
    scale, parts, first = SVG_WIDTH / duration, [], 0
    for index in range(1, len(words) + 1):
        if index < len(words) and words[index] == words[first]:
            continue
        start, end = first * bin_seconds, min(index * bin_seconds, duration)
        title = html.escape(f"{_clock(start)} - {_clock(end)}: {words[first]}")
        parts.append(f'<rect x="{start * scale:.2f}" y="0" width="{max((end - start) * scale, 0.5):.2f}" '
                     f'height="{EMOTION_HEIGHT}" fill="#000000" fill-opacity="0"><title>{title}</title></rect>')
        first = index
    return parts


def emotion_strip_svg(video: LocalizedVideo) -> str:
    """Inline SVG of the face emotions under the timeline (same width and time scale): per
    snippet its emotion probabilities stacked from the bottom in the checkpoint's class
    order, grey where no face was seen, a title per snippet naming the top emotion and its
    probability, a playhead; click to seek. Empty when the video has no emotions."""
    if video.emotions is None or video.emotion_names is None:
        return ""
    duration = max(video.duration_seconds, 1e-3)
    layers, seen, bin_seconds = _emotion_layers(video)
    colours = [*emotion_colours(video.emotion_names).values(), NO_FACE_COLOUR]
    parts = [
        f'<svg id="emotion-strip" class="seekable" viewBox="0 0 {SVG_WIDTH} '
        f'{EMOTION_HEIGHT}" preserveAspectRatio="none" '
        f'style="height:{EMOTION_HEIGHT}px" xmlns="http://www.w3.org/2000/svg" role="img" '
        'aria-label="face emotion per snippet; click to seek">',
        f'<rect x="0" y="0" width="{SVG_WIDTH}" height="{EMOTION_HEIGHT}" fill="#ffffff"/>',
    ]
    lower = np.zeros(layers.shape[0])
    for column, colour in enumerate(colours):
        upper = lower + layers[:, column]
        outline = _step_list(upper, bin_seconds, duration, 0, EMOTION_HEIGHT)
        outline += reversed(_step_list(lower, bin_seconds, duration, 0, EMOTION_HEIGHT))
        parts.append(f'<polygon points="{" ".join(outline)}" fill="{colour}" stroke="none" pointer-events="none"/>')
        lower = upper
    parts += _emotion_titles(video, layers, seen, bin_seconds, duration)
    parts.append(f'<line class="playhead" x1="0" x2="0" y1="0" y2="{EMOTION_HEIGHT}" stroke="#111111" '
                 f'stroke-width="1.5" pointer-events="none" {NON_SCALING}/></svg>')
    return "".join(parts)


def _emotion_legend(video: LocalizedVideo) -> str:
    """The strip's legend (every emotion class, escaped), or why there is no strip."""
    if video.emotions is None or video.emotion_names is None:
        why = "these features have no face stream" if video.face_presence is None else (
            "the face stream of these features holds no emotion probabilities")
        return f'<p class="legend" id="no-emotions">No face-emotion strip: {why}.</p>'
    swatches = "".join(
        f'<span><span class="swatch" style="background:{colour}"></span>{html.escape(name)}</span>'
        for name, colour in emotion_colours(video.emotion_names).items()
    )
    return (f'<div class="legend" id="emotion-legend"><span>face emotion per snippet (ResEmoteNet, hover for the top '
            f'emotion):</span>{swatches}<span><span class="swatch" style="background:{NO_FACE_COLOUR}"></span>'
            "no face</span></div>")


def _report_data(video: LocalizedVideo, random_weights: bool) -> str:
    """The page's JSON data block (duration, cues), safe inside a <script> element: no '<'
    at all (JSON's \\u003c instead), so no name can end the element or open the "<!--"
    state in which a later </script> no longer ends it; a name that is not UTF-8 as JSON's
    \\udcXX escape (cache.atomic.json_text)."""
    cues = [
        {"start": float(e["segment"][0]), "end": float(e["segment"][1]), "text": cue_text(e, random_weights)}
        for e in video.shown
    ]
    data = {
        "duration_seconds": max(float(video.duration_seconds), 1e-3),
        "svg_width": SVG_WIDTH,
        "video_name": Path(video.source).name,
        "cues": cues,
    }
    return json_text(data, indent=None).replace("<", "\\u003c")


def _banner(header: dict) -> str:
    if not header.get("random_weights"):
        return ""
    streams = ", ".join(header.get("random_weight_streams", [])) or "some streams"
    return (
        '<div class="banner" id="random-weights-banner"><strong>Random-weight features.</strong> '
        f"The {html.escape(streams)} features of this video came from RANDOM extractor weights (no checkpoint was "
        "available), so the scores below carry no learned meaning for those streams. Put the real weights in "
        "place (docs/weights.md), extract again and retrain for meaningful results.</div>"
    )


def _segment_rows(video: LocalizedVideo, class_names: Sequence[str]) -> str:
    """Table rows of the shown segments (click to seek)."""
    colours = label_colours(class_names)
    rows = []
    for entry in video.shown:
        start, end = (float(v) for v in entry["segment"])
        rows.append(
            f'<tr data-start="{start:.3f}" data-end="{end:.3f}" tabindex="0">'
            f'<td><span class="swatch" style="background:{colours.get(entry["label"], MUTED_TEXT_COLOUR)}"></span>'
            f'{html.escape(str(entry["label"]))}</td>'
            f'<td class="num">{_clock(start)}</td><td class="num">{_clock(end)}</td>'
            f'<td class="num">{end - start:.1f} s</td><td class="num">{float(entry["score"]):.3f}</td></tr>'
        )
    return "".join(rows) or '<tr><td colspan="5">No segments found in this video.</td></tr>'


def _unlocalized_classes(video: LocalizedVideo, class_names: Sequence[str]) -> str:
    """One line per class that got no segment because its video score fell under the class threshold."""
    lines = [
        f'<p class="meta unlocalized">No {html.escape(name)} segment: this video\'s {html.escape(name)} score '
        f"{score:.3f} is under the class threshold {video.class_score_threshold:.2f} "
        "(postprocess.class_score_threshold), so that class was not localized.</p>"
        for name, score in video.classes_under_threshold(class_names)
    ]
    return "\n".join(lines)


def _every_segment_rows(video: LocalizedVideo) -> str:
    return "".join(
        f'<tr><td>{html.escape(str(e["label"]))}</td><td class="num">{float(e["segment"][0]):.3f}</td>'
        f'<td class="num">{float(e["segment"][1]):.3f}</td><td class="num">{float(e["score"]):.4f}</td></tr>'
        for e in sorted(video.segments, key=lambda e: (e["segment"][0], -float(e["score"])))
    )


def _legend(class_names: Sequence[str]) -> str:
    colours = label_colours(class_names)
    return "".join(
        f'<span><span class="swatch" style="background:{colours[name]}"></span>{html.escape(name)}</span>'
        for name in class_names
    ) + (
        f'<span><span class="swatch" style="background:{BACKGROUND_COLOUR}"></span>background (dashed)</span>'
        f'<span><span class="swatch" style="background:{FACE_COLOUR}"></span>face presence (bottom strip)</span>'
        "<span>bands on top: the shown segments (click to seek)</span>"
    )


def _video_words(video_url: str, video_mode: str) -> str:
    """What the page says about where the video comes from, and what to do when it is missing."""
    where = f"({html.escape(video_url)}, relative to this page)"
    if video_mode == "copy":
        return (f"The video plays from its copy beside this page {where}: move or share the whole folder. If it is "
                "missing, copy the video there again, or run localize again with --video copy.")
    if video_mode == "link":
        return (f"The video plays through a link beside this page {where} to the original file: it plays while that "
                "file stays where it is. To share the folder, run localize again with --video copy.")
    return (f"The video plays from its own file {where}: keep both where they are. If it is missing, move the video "
            "back, or run localize again with --video copy for a folder you can move or share.")


def report_html(
    video: LocalizedVideo, class_names: Sequence[str], header: dict, files: dict[str, str],
    played: Path | None = None, poster: bytes | None = None, video_mode: str = "relative",
) -> str:
    """The report page of `video` as one string (see the module docstring).

    header: the run's provenance (model, classes, extractors, random_weights,
    random_weight_streams); files: link text -> file name in the report's folder, which
    is video.output_dir; played: the video file the page plays (default video.source),
    linked relatively; poster: a JPEG shown before it plays (embedded); video_mode:
    relative | copy | link, for the words under the page.
    """
    escape = html.escape
    seconds_by_label = video.seconds_per_label(class_names)
    coverage = ", ".join(f"{escape(label)} {seconds_by_label.get(label, 0.0):.1f} s" for label in class_names)
    links = "".join(f'<a href="{quote(os.fsencode(name))}">{escape(text)}</a>' for text, name in files.items())
    provenance = json.dumps(header, indent=2, ensure_ascii=False)
    video_url = relative_video_url(played if played is not None else video.source, video.output_dir)
    poster_attribute = f' poster="{data_uri(poster)}"' if poster else ""
    duration, snippet_seconds = video.duration_seconds, video.snippet_seconds
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<link rel="icon" href="data:,">
<title>Sentiment: {escape(video.video_id)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>Sentiment in {escape(video.video_id)}</h1>
<p class="meta">{_clock(duration)} ({duration:.2f} s) &middot; {len(video.shown)} segment(s) shown &middot; {coverage}
&middot; model {escape(str(header.get("model", "")))}</p>
{_banner(header)}
<div class="player"><video id="video" controls preload="metadata" src="{escape(video_url)}"{poster_attribute}>
</video></div>
<p class="video-note" id="video-note"></p>
<div class="timeline">{timeline_html(video, class_names)}
<div class="legend">{_legend(class_names)}</div>
{emotion_strip_svg(video)}{_emotion_legend(video)}</div>
<h2>Segments</h2>
<table id="segments"><thead><tr><th>label</th><th>start</th><th>end</th><th>length</th><th>score</th></tr></thead>
<tbody>{_segment_rows(video, class_names)}</tbody></table>
{_unlocalized_classes(video, class_names)}
<details><summary>All {len(video.segments)} segments the post-processing kept (segments.json, segments.csv)</summary>
<table><thead><tr><th>label</th><th>start_s</th><th>end_s</th><th>score</th></tr></thead>
<tbody>{_every_segment_rows(video)}</tbody></table>
</details>
<h2>Files</h2>
<p class="files">{links}</p>
<details><summary>Model and features</summary><div class="provenance">{escape(provenance)}</div></details>
<p class="meta">{_video_words(video_url, video_mode)} Scores: each snippet ({snippet_seconds:.2f} s) has a score
per class and a background score in [0, 1]; a segment's score ranks segments (contrast of the class score inside
against just outside, plus 0.3 x the video-level score).</p>
</main>
<script type="application/json" id="report-data">{_report_data(video, bool(header.get("random_weights")))}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


def write_report(
    video: LocalizedVideo, class_names: Sequence[str], header: dict, files: dict[str, str],
    played: Path | None = None, poster: bytes | None = None, video_mode: str = "relative",
) -> None:
    """report_html(...) written atomically to OUTPUT_DIR/report.html."""
    page = report_html(video, class_names, header, files, played, poster, video_mode)
    atomic_write_text(Path(video.output_dir) / "report.html", page)
