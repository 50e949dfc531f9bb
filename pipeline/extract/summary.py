"""What commands print for people at the end of a run."""

from __future__ import annotations

from pipeline.extract.stage import ExtractSummary


def print_extract_summary(summary: ExtractSummary) -> None:
    outcomes = summary.outcomes
    counts = {status: sum(o.status == status for o in outcomes) for status in ("extracted", "up to date", "failed")}
    print(
        f"{len(outcomes)} video(s): {counts['extracted']} extracted, {counts['up to date']} already up to date, "
        f"{counts['failed']} failed"
    )
    if summary.failures:
        print("failed:")
        for outcome in summary.failures:
            print(f"  {outcome.source}: {outcome.reason}")
    print(f"report: {summary.report_path}")
