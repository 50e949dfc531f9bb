"""The HTML report of a real `localize` run (tests/pipeline/conftest.py): self-contained
(no request leaves the page's own files), the video linked by a working relative path,
and, in headless Chromium opened from file:// as a user would, no console errors and a
click on a segment (band or table row) seeks the video to the segment's start."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

VIDEO_ID = "talks/demo 01"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


class _Links(HTMLParser):
    """Every src / href attribute, and the video element's src."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.video_src: str | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append(value)
                if tag == "video" and name == "src":
                    self.video_src = value


def test_report_is_self_contained_and_links_the_video(localized_run):
    folder = localized_run.out / VIDEO_ID
    text = (folder / "report.html").read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(text)
    assert parser.video_src is not None
    assert (folder / unquote(parser.video_src)).resolve() == localized_run.localized_video.resolve()
    for link in parser.links:  # nothing fetched from elsewhere: relative files or a data: icon
        assert "://" not in link and not link.startswith("//"), link
        assert link.startswith("data:") or (folder / unquote(link)).exists(), link
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert 'id="random-weights-banner"' in text  # the face features came from random weights


def _browser_or_skip():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the browser test needs the playwright package (pip install playwright)"
    )
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip("the browser test needs Debian's chromium (apt-get install -y chromium)")
    return sync_api


def test_report_in_headless_chromium_loads_cleanly_and_a_click_seeks(localized_run):
    sync_api = _browser_or_skip()
    report = (localized_run.out / VIDEO_ID / "report.html").resolve()
    executable = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems, requests = [], []
            page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri())
            page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=15000)
            duration = page.evaluate("document.getElementById('video').duration")
            assert duration == pytest.approx(localized_run.localized_duration, abs=0.1)

            bands = page.locator("#timeline g.segment")
            rows = page.locator("#segments tbody tr[data-start]")
            assert bands.count() == rows.count() >= 1
            away = "v => { const video = document.getElementById('video'); video.currentTime = v; }"
            band = bands.nth(bands.count() - 1)
            start = float(band.get_attribute("data-start"))
            page.evaluate(away, duration - 0.1 if start < duration - 1 else 0.5)  # somewhere else first, so the click must move it
            band.click()
            page.wait_for_function(f"Math.abs(document.getElementById('video').currentTime - {start}) < 0.05", timeout=5000)

            row = rows.first
            row_start = float(row.get_attribute("data-start"))
            page.evaluate(away, duration - 0.1 if row_start < duration - 1 else 0.5)
            row.click()
            page.wait_for_function(
                f"Math.abs(document.getElementById('video').currentTime - {row_start}) < 0.05", timeout=5000
            )
            assert "current" in (row.get_attribute("class") or "")
            assert page.evaluate("document.getElementById('video').textTracks[0].cues.length") == rows.count()
            assert problems == []
            assert all(url.startswith("file://") for url in requests), requests
        finally:
            browser.close()
