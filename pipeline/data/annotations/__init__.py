"""Annotation files: points, segments and video labels, read with validation.

One module per format (times in seconds unless said otherwise; docs/formats.md has
every format with an example):

- ``csv_files``: points CSV ``video_id,time_s,label``; segments CSV
  ``video_id,start_s,end_s,label``; video labels CSV ``video_id,label``; TSL-300's released
  ``point_gaussian/point_labels.csv`` (native frame indices);
- ``segments_json``: ActivityNet-style JSON (TSL-300's gt.json / videosenti_gt.json);
- ``elan``: ELAN .eaf files; ``label_studio``: Label Studio JSON exports of video tasks;
  ``audacity``: Audacity label tracks (.txt);
- ``reader``: one file or a folder of them, each recognised by extension and content.

Problems are collected, never silently dropped: each is one line naming the file and
line (or, for JSON and XML, the video / task / annotation) and what was done about it.
Unknown videos, unknown labels, malformed rows and points outside [0, duration] are
dropped; segments reaching outside [0, duration] are clipped when some of them lies
inside, else dropped; segments with start >= end are dropped. A file that is not of its
format at all is an :class:`AnnotationError`; ``strict=True`` turns any problem into one.
"""

from pipeline.data.annotations.audacity import read_audacity_labels
from pipeline.data.annotations.csv_files import (
    POINT_COLUMNS,
    RELEASE_POINT_COLUMNS,
    SEGMENT_COLUMNS,
    VIDEO_LABEL_COLUMNS,
    csv_header,
    read_points_csv,
    read_release_points_csv,
    read_segments_csv,
    read_video_labels_csv,
)
from pipeline.data.annotations.elan import read_elan
from pipeline.data.annotations.label_studio import read_label_studio
from pipeline.data.annotations.reader import annotation_kind, read_annotation_file, read_annotations
from pipeline.data.annotations.records import (
    POINT_MAX_SECONDS,
    SUBSET_SPLITS,
    TIME_EPSILON_SECONDS,
    AnnotationError,
    AnnotationSet,
    ClassVocabulary,
    PointAnnotation,
    ReadOptions,
    SegmentAnnotation,
    VideoLabelAnnotation,
    parse_label_aliases,
    raise_if_strict,
    require_labels,
)
from pipeline.data.annotations.segments_json import read_segments_json, read_subsets

__all__ = [
    "POINT_COLUMNS", "POINT_MAX_SECONDS", "RELEASE_POINT_COLUMNS", "SEGMENT_COLUMNS", "SUBSET_SPLITS",
    "TIME_EPSILON_SECONDS", "VIDEO_LABEL_COLUMNS", "AnnotationError", "AnnotationSet", "ClassVocabulary",
    "PointAnnotation", "ReadOptions", "SegmentAnnotation", "VideoLabelAnnotation", "annotation_kind", "csv_header",
    "parse_label_aliases", "raise_if_strict", "read_annotation_file", "read_annotations", "read_audacity_labels",
    "read_elan", "read_label_studio", "read_points_csv", "read_release_points_csv", "read_segments_csv",
    "read_segments_json", "read_subsets", "read_video_labels_csv", "require_labels",
]
