"""How a released stream's rows map to snippets, inferred from the row counts.

The two public releases lay rows out differently (docs/formats.md):

- **TSL-300's**: rgb one row per 16-frame snippet; logmfcc 32 rows of a 60-band log-mel
  spectrogram per snippet (folded here into one row of 32 x 60);
- **FSENet's**: rgb (1024-d) and logmfcc (768-d) one row per native *frame*; img one row
  per snippet. The authors' loader keeps rows 0, 16, 32, ... and the last row when the
  count is not a multiple of 16, then cuts every stream to the shortest.

A stream's layout is one of ``snippet`` (T = rows), ``frame`` (T = ceil(rows / 16)) or
``folded`` with k rows per snippet (T = rows // k). It is decided once per release, per
stream, by comparing each video's rows with its snippet count T_ref:

1. T_ref = ceil(frames / 16) where the frame count is known (fps_dict.json x the
   duration in len_duration_dict.json / time.json);
2. else T_ref from a stream whose layout the config fixes (data.release_stream_layouts);
3. else the fewest rows of any stream folder of the video, when another stream has at
   least 1.5 times as many (that stream is then the per-snippet one, e.g. img).

The layouts tried first are the documented ones (snippet, frame, folded 32): exactly one
fitting every video within data.alignment_tolerance_rows is taken; two fitting alike is a
:class:`~pipeline.data.samples.DatasetError` naming the video and its rows, as is a
release where no video has a T_ref. When none fits, the layout (any k) with the smallest
total mismatch is taken, and the alignment reports the videos it does not fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.data.samples import DatasetError

# logmfcc rows per 16-frame snippet in TSL-300's release (docs/method.md, "TSL-300's released features")
TSL300_AUDIO_ROWS_PER_SNIPPET = 32
PER_SNIPPET_EVIDENCE_RATIO = 1.5  # another stream this many times longer marks the shortest as per-snippet


@dataclass(frozen=True)
class RowLayout:
    """How one stream's rows map to snippets.

    Attributes:
        kind: "snippet" (one row per snippet), "frame" (one row per native frame) or
            "folded" (rows_per_snippet rows per snippet, concatenated into one row).
        rows_per_snippet: 1, the native frames per snippet, or k.
    """

    kind: str
    rows_per_snippet: int = 1

    def snippets(self, rows: np.ndarray | int) -> np.ndarray | int:
        """T, the snippets `rows` rows make (elementwise for arrays)."""
        if self.kind == "snippet":
            return rows
        if self.kind == "frame":
            return -(-rows // self.rows_per_snippet)
        return rows // self.rows_per_snippet

    def words(self) -> str:
        """'one row per snippet', 'one row per frame (16 per snippet)', '32 rows per snippet'."""
        if self.kind == "snippet":
            return "one row per snippet"
        if self.kind == "frame":
            return f"one row per frame ({self.rows_per_snippet} per snippet)"
        return f"{self.rows_per_snippet} rows per snippet"


def layout_from_setting(value: str | int, snippet_frames: int) -> RowLayout:
    """A layout from data.release_stream_layouts' value ("snippet", "frame" or k)."""
    if value == "snippet":
        return RowLayout("snippet")
    if value == "frame":
        return RowLayout("frame", snippet_frames)
    return RowLayout("folded", int(value))


def documented_layouts(snippet_frames: int) -> list[RowLayout]:
    """The layouts the public releases use, in the order they are tried."""
    return [RowLayout("snippet"), RowLayout("frame", snippet_frames),
            RowLayout("folded", TSL300_AUDIO_ROWS_PER_SNIPPET)]


def infer_rows_per_snippet(
    audio_rows: list[int],
    reference_snippets: list[float],
    tolerance: int,
    documented: int = TSL300_AUDIO_ROWS_PER_SNIPPET,
) -> int:
    """k, the rows per snippet of a folded stream, from every video at once.

    audio_rows: per video, rows of the stream's file; reference_snippets: per video, its
    snippet count. The documented k (TSL-300: 32) is kept when it fits every video within
    ``tolerance`` snippets. Otherwise k is the integer near the overall row ratio
    minimising sum |floor(rows / k) - reference|: rows past the last whole snippet cost
    nothing and a few rows' jitter little, while a wrong k costs about T / k snippets per
    video, so long videos decide.
    """
    rows = np.asarray(audio_rows, dtype=np.float64)
    reference = np.asarray(reference_snippets, dtype=np.float64)

    def mismatch(k: int) -> np.ndarray:
        return np.abs(np.floor(rows / k) - reference)

    if documented >= 1 and np.all(mismatch(documented) <= tolerance + 0.5):
        return documented
    ratio = rows.sum() / max(reference.sum(), 1.0)
    candidates = range(max(1, math.floor(ratio) - 2), math.ceil(ratio) + 3)
    return min(candidates, key=lambda k: (mismatch(k).sum(), k))


def snippet_references(
    row_counts: Mapping[str, Mapping[str, int]],
    frame_counts: Mapping[str, float | None],
    fixed: Mapping[str, RowLayout],
    snippet_frames: int,
) -> dict[str, float]:
    """Video -> T_ref, for the videos where it can be told (see the module docstring)."""
    references: dict[str, float] = {}
    for video_id, counts in row_counts.items():
        frames = frame_counts.get(video_id)
        known = [stream for stream in counts if stream in fixed]
        if frames:
            references[video_id] = float(math.ceil(round(frames / snippet_frames, 6)))
        elif known:
            references[video_id] = float(fixed[known[0]].snippets(counts[known[0]]))
        elif counts and max(counts.values()) >= PER_SNIPPET_EVIDENCE_RATIO * min(counts.values()):
            references[video_id] = float(min(counts.values()))
    return references


def _shown_rows(counts: Mapping[str, int], folders: Mapping[str, str]) -> str:
    return ", ".join(f"{folders.get(stream, stream)} {rows} rows" for stream, rows in counts.items())


def _fit_layout(stream: str, rows: np.ndarray, reference: np.ndarray, video_ids: list[str], snippet_frames: int,
                tolerance: int, folders: Mapping[str, str]) -> RowLayout:
    """One stream's layout from its rows against T_ref (documented layouts first)."""
    fitting = [layout for layout in documented_layouts(snippet_frames)
               if np.all(np.abs(layout.snippets(rows) - reference) <= tolerance + 0.5)]
    if len(fitting) == 1:
        return fitting[0]
    if len(fitting) > 1:
        first, second = fitting[:2]
        worst = int(np.argmax(np.abs(first.snippets(rows) - second.snippets(rows))))
        raise DatasetError(
            f"video {video_ids[worst]}: {folders.get(stream, stream)} has {int(rows[worst])} rows for "
            f"{int(reference[worst])} snippets, which fits {first.words()} and {second.words()} alike; set "
            "data.release_stream_layouts (e.g. "
            f"{stream}={first.kind if first.kind != 'folded' else first.rows_per_snippet})"
        )
    k = infer_rows_per_snippet(list(rows), list(reference), tolerance, documented=0)
    candidates = [*documented_layouts(snippet_frames), RowLayout("folded", k)]
    return min(candidates, key=lambda layout: float(np.abs(layout.snippets(rows) - reference).sum()))


def infer_release_layouts(
    row_counts: Mapping[str, Mapping[str, int]],
    frame_counts: Mapping[str, float | None],
    fixed: Mapping[str, RowLayout],
    streams: list[str],
    snippet_frames: int,
    tolerance: int,
    folders: Mapping[str, str],
) -> dict[str, RowLayout]:
    """Stream -> its layout, for `streams` (see the module docstring).

    row_counts: video -> stream -> rows of its file (every stream folder the release has,
    read or not); frame_counts: video -> native frames (fps x duration) or None; fixed:
    the layouts the config sets; folders: stream -> folder name, for messages.
    """
    layouts = {stream: fixed[stream] for stream in streams if stream in fixed}
    if len(layouts) == len(streams):
        return layouts
    references = snippet_references(row_counts, frame_counts, fixed, snippet_frames)
    if not references:
        video_id, counts = next(iter(row_counts.items()))
        open_stream = next(s for s in streams if s not in layouts)
        raise DatasetError(
            f"video {video_id}: {_shown_rows(counts, folders)}: cannot tell whether a row is a snippet or a frame "
            "(no stream with fewer rows per snippet to compare with, no duration in "
            "len_duration_dict.json / time.json); "
            f"set data.release_stream_layouts, e.g. {open_stream}=frame or {open_stream}=snippet"
        )
    for stream in streams:
        if stream in layouts:
            continue
        video_ids = [v for v in references if stream in row_counts[v]]
        rows = np.asarray([row_counts[v][stream] for v in video_ids], dtype=np.int64)
        reference = np.asarray([references[v] for v in video_ids], dtype=np.float64)
        layouts[stream] = _fit_layout(stream, rows, reference, video_ids, snippet_frames, tolerance, folders)
    return layouts


def snippet_rows(array: np.ndarray, layout: RowLayout, frame_rows: str = "sample") -> tuple[np.ndarray, int]:
    """(one row per snippet, rows dropped) of a stream's (rows, width) array.

    snippet: as is. folded k: (rows // k, k * width), the rows past the last whole
    snippet dropped. frame (step = rows_per_snippet): "sample" keeps rows 0, step,
    2 step, ... below the last whole block and the last row when rows is not a multiple
    of step (the FSENet authors' rule); "mean" averages each block of step rows (the last
    block: the rows it has). Both give ceil(rows / step) rows.
    """
    rows, width = array.shape
    if layout.kind == "snippet":
        return array, 0
    step = layout.rows_per_snippet
    if layout.kind == "folded":
        snippets = rows // step
        return array[: snippets * step].reshape(snippets, step * width), rows - snippets * step
    if frame_rows == "mean":
        starts = np.arange(0, rows, step)
        counts = np.diff(np.append(starts, rows)).astype(np.float32)
        return (np.add.reduceat(array, starts, axis=0) / counts[:, None]).astype(np.float32), 0
    whole = rows // step
    taken = list(range(0, whole * step, step)) + ([rows - 1] if rows % step else [])
    return array[taken], 0
