"""The toolkit as Python functions, for notebooks and scripts (the commands call the same
stages): what a feature cache holds."""

from __future__ import annotations

from pathlib import Path

from cache.info import cache_records, format_records
from pipeline.console import printable


def cache_info(cache_dir: Path | str) -> list[dict]:
    """One record per cached video: id, source, duration, snippets, streams (shape, mask,
    extras, extractor identity, random weights), valid, problems."""
    return cache_records(Path(cache_dir))


def format_cache_info(records: list[dict]) -> str:
    """The plain-text table `cache-info` prints (names with control characters escaped)."""
    return format_records(records, printable)
