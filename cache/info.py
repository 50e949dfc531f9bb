"""`cache-info`: one record per cached video, for people (a table) and machines (--json)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cache.identity import ExtractorIdentity
from cache.store import CacheError, FeatureCache


def cache_records(cache_dir: Path) -> list[dict]:
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
                "valid": check.valid,
                "problems": check.problems,
            }
        )
    return records


def format_records(records: list[dict], show: Callable[[str], str]) -> str:
    """A plain-text table: id, duration, snippets, streams with widths, validity.

    show: how a name or a problem (text from file names) is written for the terminal
    (pipeline.console.printable: control characters as escapes)."""
    rows = [("id", "duration_s", "snippets", "streams", "valid")]
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
                "yes" if record["valid"] else "NO: " + show("; ".join(record["problems"])),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4] for row in rows]
    return "\n".join(lines + [f"{len(records)} video(s)"])
