"""ELAN annotation files (.eaf, EAF 2.x / 3.x XML).

What is read: ``TIME_ORDER/TIME_SLOT`` (``TIME_VALUE`` in milliseconds), each ``TIER`` and
its ``ANNOTATION``s: ``ALIGNABLE_ANNOTATION`` (two time slots) and ``REF_ANNOTATION`` (the
times of the annotation it refers to, on a dependent tier).

- **Class**: the annotation's value when it names a class, else the tier's name (a tier
  "positive" whose annotations are empty or free text). A tier where neither names a
  class (a transcript, notes) is skipped with one line.
- **Point or segment**: an annotation lasting at most ``data.point_max_seconds`` (0.1 s by
  default; zero-length ones included) is a point at its middle; longer ones are segments.
- **Video**: the file's stem ("talk.eaf" -> "talk"), or the video its
  ``MEDIA_DESCRIPTOR`` links (``RELATIVE_MEDIA_URL``, ``MEDIA_URL``), matched against the
  videos that have features (see :func:`~pipeline.data.annotations.checks.match_video_id`).

The XML is parsed without a DTD (pipeline/data/annotations/safe_xml.py). A file that is
not ELAN's is an AnnotationError; a bad annotation is one line naming the file, the
annotation id and its tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element

from pipeline.data.annotations.checks import Checker, finite_float, match_video_id, media_path
from pipeline.data.annotations.records import AnnotationError, AnnotationSet, ClassVocabulary, ReadOptions
from pipeline.data.annotations.safe_xml import XmlRefused, parse_untrusted_xml

ELAN_ROOT = "ANNOTATION_DOCUMENT"
MAX_REFERENCE_DEPTH = 32  # REF_ANNOTATION chains longer than this are treated as broken


def _read_root(path: Path) -> Element:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AnnotationError(f"{path}: cannot read annotation file ({error.strerror})") from None
    try:
        root = parse_untrusted_xml(data)
    except XmlRefused as error:
        raise AnnotationError(f"{path}: {error}; expected an ELAN .eaf file") from None
    if root.tag != ELAN_ROOT:
        raise AnnotationError(f"{path}: root element <{root.tag}> is not ELAN's "
                              f"<{ELAN_ROOT}>; expected an ELAN .eaf file")
    header = root.find("HEADER")
    units = header.get("TIME_UNITS", "milliseconds") if header is not None else "milliseconds"
    if units != "milliseconds":
        raise AnnotationError(f"{path}: <HEADER TIME_UNITS={units!r}>: only milliseconds "
                              "are read; save it again in ELAN")
    return root


def elan_media_paths(path: Path, root: Element) -> list[PurePosixPath]:
    """The media files an .eaf links (relative links resolved against its folder), without extension."""
    header = root.find("HEADER")
    if header is None:
        return []
    found = []
    for descriptor in header.findall("MEDIA_DESCRIPTOR"):
        if descriptor.get("RELATIVE_MEDIA_URL"):
            found.append(media_path(descriptor.get("RELATIVE_MEDIA_URL", ""), path.parent))
        if descriptor.get("MEDIA_URL"):
            found.append(media_path(descriptor.get("MEDIA_URL", ""), path.parent))
    if header.get("MEDIA_FILE"):
        found.append(media_path(header.get("MEDIA_FILE", ""), path.parent))
    return [media for media in found if media is not None]


def _annotation_times(root: Element) -> dict[str, tuple[float | None, float | None]]:
    """Annotation id -> (start s, end s); None where a time slot has no usable value.
    A REF_ANNOTATION takes the times of the annotation it refers to."""
    slots: dict[str, float | None] = {}
    for slot in root.iter("TIME_SLOT"):
        milliseconds = finite_float(slot.get("TIME_VALUE"))
        slots[slot.get("TIME_SLOT_ID", "")] = None if milliseconds is None else milliseconds / 1000.0
    times: dict[str, tuple[float | None, float | None]] = {}
    for annotation in root.iter("ALIGNABLE_ANNOTATION"):
        times[annotation.get("ANNOTATION_ID", "")] = (
            slots.get(annotation.get("TIME_SLOT_REF1", "")), slots.get(annotation.get("TIME_SLOT_REF2", ""))
        )
    references = {a.get("ANNOTATION_ID", ""): a.get("ANNOTATION_REF", "") for a in root.iter("REF_ANNOTATION")}
    for annotation_id in references:
        target = annotation_id
        for _ in range(MAX_REFERENCE_DEPTH):
            target = references.get(target, target)
            if target in times:
                times[annotation_id] = times[target]
                break
    return times


def _tier_marks(tier: Element) -> list[tuple[str, str]]:
    """(annotation id, value) of each annotation of a tier, in file order."""
    marks = []
    for annotation in tier.findall("ANNOTATION"):
        for element in annotation:
            if element.tag in ("ALIGNABLE_ANNOTATION", "REF_ANNOTATION"):
                marks.append((element.get("ANNOTATION_ID", ""), (element.findtext("ANNOTATION_VALUE") or "").strip()))
    return marks


def _read_tier(tier: Element, video_id: str, times: dict, checker: Checker, result: AnnotationSet) -> None:
    """The points and segments of one tier (see the module docstring for the class rule)."""
    tier_id = tier.get("TIER_ID", "")
    vocabulary = checker.vocabulary
    tier_class = vocabulary.index_of(tier_id)
    marks = _tier_marks(tier)
    value_classes = [vocabulary.index_of(value) if value else None for _, value in marks]
    if tier_class is None and all(index is None for index in value_classes):
        if marks:
            checker.problem(f"{checker.path}: tier {tier_id!r}", f"neither its name nor any of its {len(marks)} "
                            f"annotation values names a class (known: {vocabulary.accepted_labels()}); tier skipped")
        return
    for (annotation_id, value), value_class in zip(marks, value_classes, strict=True):
        where = f"{checker.path}: annotation {annotation_id!r} (tier {tier_id!r})"
        class_index, label = (value_class, value) if value_class is not None else (tier_class, tier_id)
        if class_index is None:
            checker.problem(where, f"value {value!r} names no class (known: {vocabulary.accepted_labels()}); dropped")
            continue
        start, end = times.get(annotation_id, (None, None))
        if start is None or end is None:
            checker.problem(where, "is not aligned to time (a time slot without a value); dropped")
            continue
        checker.add_mark(video_id, start, end, label, class_index, where, result)


def read_elan(
    path: Path | str,
    vocabulary: ClassVocabulary,
    durations: Mapping[str, float] | None = None,
    options: ReadOptions | None = None,
) -> AnnotationSet:
    """Points and segments of an ELAN .eaf file (see the module docstring).

    durations: video -> duration (s) of the videos with features; None takes the video id
    from the file's stem and skips the range checks.
    """
    path = Path(path)
    root = _read_root(path)
    checker = Checker(path, vocabulary, durations, options)
    result = AnnotationSet()
    media = elan_media_paths(path, root)
    video_id = match_video_id([PurePosixPath(path.with_suffix("").as_posix()), *media], durations)
    if video_id is None:
        linked = ", ".join(repr(m.name) for m in media) or "none"
        checker.problem(str(path), f"no video with features is named {path.stem!r} or linked by its media descriptor "
                        f"({linked}); file skipped (rename it after its video)")
    else:
        result.videos.add(video_id)
        times = _annotation_times(root)
        for tier in root.findall("TIER"):
            _read_tier(tier, video_id, times, checker, result)
    result.problems = checker.problems
    result.file_read(str(path))
    return result
