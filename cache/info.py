"""`cache-info`: one record per cached video, for people (a table) and machines (--json)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cache.identity import ExtractorIdentity
from cache.store import CacheError, FeatureCache


def cache_records(cache_dir: Path, requested: list[str] | None = None) -> list[dict]:
    """One record per entry (also those whose meta.json is gone): what it holds, per stream,
    and whether it is valid. `requested`: the streams the last extract asked for (None:
    unknown); each record's "missing_streams" are those of them it does not hold (an
    interrupted or failed extract), [] when `requested` is None."""
    cache = FeatureCache(cache_dir)
    if not cache.is_cache():
        raise CacheError(f"{cache_dir}: not a feature cache (no cache.json); pass the folder given to extract --cache")
    records = []
    for video_id in cache.entry_ids():  # with the entries whose meta.json is gone
        check = cache.check_entry(video_id)
        meta = check.meta or {}
        grid = meta.get("grid", {})
        records.append(
            {
                "id": video_id,
                "source": meta.get("source", {}).get("path"),
                "duration_seconds": meta.get("probe", {}).get("duration_seconds"),
                "num_snippets": grid.get("num_snippets"),
                "snippet_seconds": grid.get("snippet_seconds"),
                "streams": {
                    name: {
                        "shape": record["shape"],
                        "has_mask": bool(record.get("mask_file")),
                        "extras": {k: v["shape"] for k, v in record.get("extras", {}).items()},
                        "extractor": record["extractor"],
                        "random_weights": ExtractorIdentity(record["extractor"]).is_random,
                    }
                    for name, record in sorted(meta.get("streams", {}).items())
                },
                "missing_streams": [stream for stream in requested or [] if stream not in meta.get("streams", {})],
                "valid": check.valid,
                "problems": check.problems,
            }
        )
    return records


def format_records(records: list[dict], show: Callable[[str], str], requested: list[str] | None = None) -> str:
    """A plain-text table: id, duration, snippets, the streams held with their widths, the
    requested ones missing, validity; a first line naming the `requested` streams (the last
    extract's; None: unknown, no such line) and a last one counting entries that lack some.

    show: how a name or a problem (text from file names) is written for the terminal
    (pipeline.console.printable: control characters as escapes)."""
    rows = [("id", "duration_s", "snippets", "streams", "missing", "valid")]
    for record in records:
        streams = " ".join(
            f"{show(name)}[{info['shape'][1]}{', RANDOM weights' if info['random_weights'] else ''}]"
            for name, info in record["streams"].items()
        )
        duration = record["duration_seconds"]
        rows.append(
            (
                show(record["id"]),
                f"{duration:.2f}" if isinstance(duration, (int, float)) else "?",
                str(record["num_snippets"]),
                streams or "-",
                ",".join(record["missing_streams"]) or "-",
                "yes" if record["valid"] else "NO: " + show("; ".join(record["problems"])),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)), row[5]])
             for row in rows]
    if requested is not None:
        lines.insert(0, f"the last extract asked for: {', '.join(requested)}")
    incomplete = sum(bool(record["missing_streams"]) for record in records)
    ending = (f"; {incomplete} without every stream the last extract asked for (rerun it to add them)" if incomplete
              else "")
    return "\n".join(lines + [f"{len(records)} video(s){ending}"])
