"""The `data` config section: how features and annotations become a dataset."""

from __future__ import annotations

from dataclasses import dataclass

from model.setting_checks import check_bool, check_choice, check_int, check_names, check_number, check_seed, require
from model.streams import RELEASE_FOLDERS, STREAM_NAMES
from pipeline.data.annotations import POINT_MAX_SECONDS, ClassVocabulary, ReadOptions, parse_label_aliases

RELEASE_LAYOUT_WORDS = ("snippet", "frame")  # besides a number k of rows per snippet
RELEASE_FRAME_ROWS = ("sample", "mean")


@dataclass(frozen=True)
class DataConfig:
    """How features and annotations become a dataset (config section ``data``).

    Attributes:
        class_names: sentiment classes in index order (index 0..C-1).
        label_aliases: "ALIAS=CLASS" spellings annotations may use (TSL-300: n, p).
        streams: streams to use (visual, audio, face); empty = every stream available.
        validation_fraction: share of the training videos held out for model selection.
        split_seed: seed of the validation carve.
        release_visual_folder / release_audio_folder / release_face_folder: the released
            layout's folder of each stream under features/<split>/.
        release_snippet_frames: native frames per snippet in the released layout.
        release_audio_rows_per_snippet: rows of the audio folder per snippet, folded into
            one row; 0 = infer (see release_stream_layouts).
        release_stream_layouts: "STREAM=LAYOUT" entries fixing how a stream's rows map to
            snippets: "snippet" (one row per snippet), "frame" (one row per native frame,
            reduced by release_frame_rows) or a number k (k rows per snippet, folded into
            one row of k x width, TSL-300's logmfcc). Streams not listed are inferred from
            their row counts (pipeline/data/release_layout.py).
        release_frame_rows: how a per-frame stream becomes one row per snippet: "sample"
            (rows 0, 16, 32, ... plus the last row when the count is not a multiple of
            16: the FSENet authors' loader) or "mean" (the mean of each snippet's rows).
        release_audio_offset / release_audio_scale: folded audio rows become
            (x + offset) / scale (the TSL-300 authors' normalisation of log-mel dB values);
            per-frame and per-snippet audio rows are used as released.
        alignment_tolerance_rows: released streams whose snippet counts differ by at most
            this many rows are trimmed to the shortest (with a warning); more is an error.
        strict: annotation problems and videos left out are errors instead of warnings.
        point_max_seconds: an ELAN annotation, Label Studio region or Audacity label this
            long or shorter (seconds) is a point; longer ones are segments.
        label_studio_frame_rate: frames per second of Label Studio's video timeline;
            0 = the task's "fps" field, else the video's native frame rate.
    """

    class_names: tuple[str, ...] = ("negative", "positive")
    label_aliases: tuple[str, ...] = ("n=negative", "p=positive")
    streams: tuple[str, ...] = ()
    validation_fraction: float = 0.1
    split_seed: int = 0
    release_visual_folder: str = RELEASE_FOLDERS["visual"]
    release_audio_folder: str = RELEASE_FOLDERS["audio"]
    release_face_folder: str = RELEASE_FOLDERS["face"]
    release_snippet_frames: int = 16
    release_audio_rows_per_snippet: int = 0
    release_stream_layouts: tuple[str, ...] = ()
    release_frame_rows: str = "sample"
    release_audio_offset: float = 50.0
    release_audio_scale: float = 80.0
    alignment_tolerance_rows: int = 3
    strict: bool = False
    point_max_seconds: float = POINT_MAX_SECONDS
    label_studio_frame_rate: float = 0.0

    def __post_init__(self) -> None:
        check_names("data.class_names", self.class_names, what="class")
        try:
            ClassVocabulary(self.class_names, parse_label_aliases(self.label_aliases))
        except ValueError as error:
            raise ValueError(f"data.label_aliases: {error}") from None
        check_names("data.streams", self.streams, STREAM_NAMES, what="stream", empty_ok=True)
        check_number("data.validation_fraction", self.validation_fraction, 0, 1, high_open=True)
        check_seed("data.split_seed", self.split_seed)
        folders = list(self.release_stream_folders().values())
        require(all(f and "/" not in f and "\\" not in f for f in folders) and len(set(folders)) == len(folders),
                f"data.release_*_folder must be different plain folder names, one per stream, got {folders}")
        check_int("data.release_snippet_frames", self.release_snippet_frames, 1)
        check_int("data.release_audio_rows_per_snippet", self.release_audio_rows_per_snippet, 0, note="0: inferred")
        check_number("data.release_audio_offset", self.release_audio_offset)
        check_number("data.release_audio_scale", self.release_audio_scale)
        require(self.release_audio_scale != 0, "data.release_audio_scale must not be 0")
        check_int("data.alignment_tolerance_rows", self.alignment_tolerance_rows, 0)
        check_choice("data.release_frame_rows", self.release_frame_rows, RELEASE_FRAME_ROWS)
        check_bool("data.strict", self.strict)
        layouts = self.release_layouts()
        require(not (self.release_audio_rows_per_snippet and "audio" in layouts),
                "data.release_audio_rows_per_snippet and an audio= entry of data.release_stream_layouts "
                "both set the audio layout; keep one")
        self.annotation_options()  # checks point_max_seconds and label_studio_frame_rate

    def release_layouts(self) -> dict[str, str | int]:
        """stream -> "snippet", "frame" or k (rows per snippet) fixed by the config
        (release_stream_layouts, release_audio_rows_per_snippet); ValueError naming a bad entry."""
        layouts: dict[str, str | int] = {}
        for entry in self.release_stream_layouts:
            stream, sep, layout = (part.strip() for part in entry.partition("="))
            if not sep or stream not in STREAM_NAMES or stream in layouts:
                raise ValueError(f"data.release_stream_layouts: {entry!r} must read STREAM=LAYOUT, one per stream, "
                                 f"STREAM one of {', '.join(STREAM_NAMES)}")
            if layout in RELEASE_LAYOUT_WORDS:
                layouts[stream] = layout
            elif layout.isdigit() and int(layout) >= 1:
                layouts[stream] = int(layout)
            else:
                raise ValueError(f"data.release_stream_layouts: {entry!r}: LAYOUT must be snippet, frame or "
                                 "a number of rows per snippet")
        if self.release_audio_rows_per_snippet:
            layouts["audio"] = self.release_audio_rows_per_snippet
        return layouts

    def annotation_options(self) -> ReadOptions:
        """The annotation readers' settings."""
        return ReadOptions(self.point_max_seconds, self.label_studio_frame_rate)

    def vocabulary(self) -> ClassVocabulary:
        return ClassVocabulary(self.class_names, parse_label_aliases(self.label_aliases))

    def release_stream_folders(self) -> dict[str, str]:
        """stream name -> its folder in the released layout (data.release_<stream>_folder)."""
        return {name: getattr(self, f"release_{name}_folder") for name in STREAM_NAMES}

