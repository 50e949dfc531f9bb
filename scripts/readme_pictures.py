"""Regenerate the README's pictures (docs/report.png, docs/timeline.png) from a demo run.

    .venv/bin/fsenet demo --out demo_out                 # once (about 8 minutes on 2 idle cores)
    .venv/bin/python scripts/readme_pictures.py [--demo demo_out] [--docs docs]

Takes the first localized video of the demo, copies its timeline plot, and screenshots its
HTML report in headless Chromium (Debian's `chromium`, driven by playwright; nothing is
downloaded) after clicking the highest-scoring segment, so the picture shows the seek, the
frame there and its subtitle. Writes only the two files under --docs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPORT_VIEWPORT = {"width": 850, "height": 800}


def find_chromium() -> str:
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    raise SystemExit("error: no chromium found; install Debian's: apt-get install -y chromium")


def _band_score(label: str) -> float:
    """A band's score from its label ("positive 0.94"); 0 when it shows none."""
    try:
        return float(label.split()[-1])
    except (IndexError, ValueError):
        return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("demo_out"), help="a `demo --out` folder (default demo_out)")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="where the pictures go (default docs)")
    args = parser.parse_args()
    reports = sorted((args.demo / "localize").glob("*/report.html"))
    if not reports:
        print(f"error: no report under {args.demo / 'localize'}; run `python cli.py demo --out {args.demo}` first",
              file=sys.stderr)
        return 2
    report = reports[0]
    args.docs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(report.parent / "timeline.png", args.docs / "timeline.png")

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport=REPORT_VIEWPORT)
        page.goto(report.resolve().as_uri())
        page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=15000)
        bands = page.locator("#timeline .segment")
        scores = [_band_score(bands.nth(i).text_content() or "") for i in range(bands.count())]
        if scores:
            band = bands.nth(max(range(len(scores)), key=scores.__getitem__))
            middle = (float(band.get_attribute("data-start")) + float(band.get_attribute("data-end"))) / 2
            band.click()  # seeks to the segment's start
            page.evaluate(f"document.getElementById('video').currentTime = {middle}")  # then into it, to show its frame
            shown = f"Math.abs(document.getElementById('video').currentTime - {middle}) < 0.05 && " \
                "document.getElementById('video').readyState >= 2 && !document.getElementById('video').seeking"
            for _ in range(100):  # polled from here: the report's CSP forbids the page evaluating strings
                if page.evaluate(shown):
                    break
                page.wait_for_timeout(50)
            page.wait_for_timeout(800)  # the player's loading spinner fades out
        page.screenshot(path=str(args.docs / "report.png"), full_page=False)
        browser.close()
    print(f"wrote {args.docs / 'report.png'} and {args.docs / 'timeline.png'} from {report.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
