"""Files `localize` writes for the annotation tools, so a person can open the result,
correct it and feed it back as training labels (`train --annotations`; the readers are
pipeline/data/annotations/elan.py, label_studio.py, audacity.py):

- ``<name>.eaf`` (ELAN, EAF 3.0): one tier per class, the shown segments as its
  annotations (value = the class), the video as the media descriptor (absolute file URL
  and the path relative to the .eaf);
- ``<name>.labels.txt`` (Audacity label track): ``start<TAB>end<TAB>class`` per shown segment;
- ``label_studio.json`` (the run): Label Studio tasks with the shown segments as
  predictions (``timelinelabels`` frame ranges at the task's ``fps``), and
  ``label_studio_config.xml``, the labeling config they fit.

Times are the shown segments' seconds; ELAN stores whole milliseconds, Audacity six
decimals. Names are data: in the XML files a character XML 1.0 forbids (control characters
but tab and line ends, U+FFFE, U+FFFF) is written as its escape (`\\x1b`, as the terminal
shows it), so a class name cannot make the file invalid. A model trained on random-weight
features says so in the .eaf header (PROPERTY fsenet:random_weights), the task data and the
prediction's model_version.
"""

from __future__ import annotations

import math
import mimetypes
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from pipeline.console import printable
from pipeline.localize.video import LocalizedVideo, segment_key

EAF_SCHEMA = "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
LINGUISTIC_TYPE = "sentiment"
LABEL_STUDIO_FROM_NAME, LABEL_STUDIO_TO_NAME = "sentiment", "video"
FALLBACK_FRAME_RATE = 25.0  # Label Studio frames when the video's own rate is unknown


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # what XML 1.0 forbids in text and attributes


def xml_document(text: str) -> str:
    """Serialised XML with every character XML 1.0 forbids written as its escape (printable:
    ESC -> \\x1b); they can only stand in names (text, attribute values), never in markup."""
    return _NOT_XML.sub(lambda match: printable(match.group()), text)


def _in_time_order(shown: Sequence[dict]) -> list[tuple[float, float, str, float]]:
    """(start s, end s, label, score) of the shown segments, by start."""
    return sorted((*segment_key(e), float(e["score"])) for e in shown)


def _clean_label(label: str) -> str:
    """A label on one line without tabs (Audacity's field separator)."""
    return " ".join(str(label).split())


def relative_media_url(source: Path, folder: Path) -> str | None:
    """The video's path from `folder` as a relative URL ("./a%20b.mp4", "../../videos/x.mp4");
    None when there is none (another drive)."""
    try:
        relative = os.path.relpath(Path(source).resolve(), Path(folder).resolve())
    except ValueError:
        return None
    url = quote(os.fsencode(Path(relative).as_posix()))  # the name's bytes: names that are not UTF-8 too
    return url if url.startswith("../") else f"./{url}"


def eaf_text(video: LocalizedVideo, class_names: Sequence[str], eaf_path: Path, created: str,
             properties: dict[str, str]) -> str:
    """The ELAN document of one video (see the module docstring).

    created: the DATE attribute (xsd:dateTime, e.g. 2024-05-14T10:21:07+01:00);
    properties: HEADER PROPERTY name -> text (provenance).
    """
    root = ET.Element("ANNOTATION_DOCUMENT", {
        "AUTHOR": "fsenet localize", "DATE": created, "FORMAT": "3.0", "VERSION": "3.0",
        "xmlns:xsi": XSI_NAMESPACE, "xsi:noNamespaceSchemaLocation": EAF_SCHEMA,
    })
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    source = Path(video.source).resolve()
    media = {"MEDIA_URL": source.as_uri(), "MIME_TYPE": mimetypes.guess_type(source.name)[0] or "unknown"}
    relative = relative_media_url(source, eaf_path.parent)
    if relative:
        media["RELATIVE_MEDIA_URL"] = relative
    ET.SubElement(header, "MEDIA_DESCRIPTOR", media)
    segments = _in_time_order(video.shown)
    for name, text in {**properties, "lastUsedAnnotationId": str(len(segments))}.items():
        ET.SubElement(header, "PROPERTY", {"NAME": name}).text = text
    time_order = ET.SubElement(root, "TIME_ORDER")
    tiers = {label: ET.Element("TIER", {"LINGUISTIC_TYPE_REF": LINGUISTIC_TYPE, "TIER_ID": label})
             for label in class_names}
    for number, (start, end, label, _) in enumerate(segments, start=1):
        for slot, seconds in ((2 * number - 1, start), (2 * number, end)):
            ET.SubElement(time_order, "TIME_SLOT",
                          {"TIME_SLOT_ID": f"ts{slot}", "TIME_VALUE": str(round(seconds * 1000))})
        tier = tiers.setdefault(label, ET.Element("TIER", {"LINGUISTIC_TYPE_REF": LINGUISTIC_TYPE, "TIER_ID": label}))
        alignable = ET.SubElement(ET.SubElement(tier, "ANNOTATION"), "ALIGNABLE_ANNOTATION", {
            "ANNOTATION_ID": f"a{number}", "TIME_SLOT_REF1": f"ts{2 * number - 1}", "TIME_SLOT_REF2": f"ts{2 * number}",
        })
        ET.SubElement(alignable, "ANNOTATION_VALUE").text = label
    root.extend(tiers.values())
    ET.SubElement(root, "LINGUISTIC_TYPE", {
        "GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": LINGUISTIC_TYPE, "TIME_ALIGNABLE": "true",
    })
    ET.indent(root, space="    ")
    return xml_document('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")


def audacity_text(shown: Sequence[dict]) -> str:
    """An Audacity label track of the shown segments: start<TAB>end<TAB>label (seconds)."""
    return "".join(f"{start:.6f}\t{end:.6f}\t{_clean_label(label)}\n" for start, end, label, _ in _in_time_order(shown))


def label_studio_frames(start: float, end: float, fps: float) -> tuple[int, int]:
    """Label Studio timeline frames (counted from 1; frame n covers [(n - 1) / fps, n / fps))
    covering [start, end] seconds."""
    first = math.floor(start * fps + 1e-6) + 1
    return first, max(first, math.ceil(end * fps - 1e-6))


def label_studio_task(video: LocalizedVideo, model_version: str, random_weights: bool) -> dict:
    """One Label Studio task: the video and its shown segments as a prediction."""
    fps = float(video.frame_rate) if video.frame_rate and video.frame_rate > 0 else FALLBACK_FRAME_RATE
    results, scores = [], []
    for number, (start, end, label, score) in enumerate(_in_time_order(video.shown), start=1):
        first, last = label_studio_frames(start, end, fps)
        results.append({
            "id": f"fsenet_{number}", "from_name": LABEL_STUDIO_FROM_NAME, "to_name": LABEL_STUDIO_TO_NAME,
            "type": "timelinelabels", "origin": "prediction", "score": round(score, 4),
            "value": {"ranges": [{"start": first, "end": last}], "timelinelabels": [label]},
        })
        scores.append(score)
    return {
        "data": {"video": str(Path(video.source).resolve()), "video_id": video.video_id, "fps": fps,
                 "duration_seconds": round(video.duration_seconds, 3), "random_weights": random_weights},
        "predictions": [{
            "model_version": model_version + (" (random-weight features)" if random_weights else ""),
            "score": round(sum(scores) / len(scores), 4) if scores else 0.0,
            "result": results,
        }],
    }


def label_studio_config(class_names: Sequence[str]) -> str:
    """The labeling config the tasks fit: a <Video> whose timeline runs at each task's fps
    and <TimelineLabels> with one label per class."""
    view = ET.Element("View")
    ET.SubElement(view, "Video", {"name": LABEL_STUDIO_TO_NAME, "value": "$video", "frameRate": "$fps",
                                  "timelineHeight": "120"})
    labels = ET.SubElement(view, "TimelineLabels", {"name": LABEL_STUDIO_FROM_NAME, "toName": LABEL_STUDIO_TO_NAME})
    for name in class_names:
        ET.SubElement(labels, "Label", {"value": name})
    ET.indent(view, space="  ")
    return xml_document(ET.tostring(view, encoding="unicode") + "\n")
