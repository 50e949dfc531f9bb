"""The HTML report of a real `localize` run (tests/pipeline/conftest.py): self-contained
(no request leaves the page's own files), the video linked by a working relative path,
a poster frame embedded, and, in headless Chromium opened from file:// as a user would,
no console errors and a click on a segment (band or table row) seeks the video to the
segment's start. `--video copy` makes a folder that still plays after it is moved. Every
text of the page and of timeline.png has a WCAG contrast of at least 4.5 against what it is
drawn on (computed from the colours they actually use), and the classes are drawn in a
colour-blind-safe pair. At 500 and 360 px wide the timeline's text is still at least 10 px
tall."""

from __future__ import annotations

import base64
import csv
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from pipeline.localize.colours import (
    AA_GRAPHICS,
    AA_TEXT,
    EMOTION_COLOURS,
    NO_FACE_COLOUR,
    contrast_ratio,
    text_colour_on,
)
from pipeline.localize.html_report import SVG_HEIGHT, report_html
from pipeline.localize.outputs import output_file_names
from pipeline.localize.text_formats import timeline_csv_text
from pipeline.localize.timeline_plot import FIGURE_BACKGROUND, TEXT_COLOURS, timeline_png
from pipeline.localize.video import LocalizedVideo
from tests.conftest import cli

VIDEO_ID = "talks/demo 01"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


class _Links(HTMLParser):
    """Every src / href attribute, the video element's src and poster."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.video_src: str | None = None
        self.poster: str | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append(value)
                if tag == "video" and name == "src":
                    self.video_src = value
            if tag == "video" and name == "poster":
                self.poster = value


class _TimelineParts(HTMLParser):
    """Of the timeline's markup: the fill of every SVG <text> (the timeline draws its text
    in HTML, so none is expected), the fills of the SVG's panels (opaque rects) and the
    strokes of its curves; (text colour, background) of each HTML segment band."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self.panels: set[str] = set()
        self.strokes: set[str] = set()
        self.bands: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "segment" in (attributes.get("class") or "").split():
            style = dict(rule.split(":", 1) for rule in attributes["style"].split(";") if rule)
            self.bands.append((style["color"], style["background"]))
        elif tag == "rect" and "fill-opacity" not in attributes and attributes.get("fill", "").startswith("#"):
            self.panels.add(attributes["fill"])
        elif tag == "text":
            self.texts.append(attributes["fill"])
        elif tag == "polyline":
            self.strokes.add(attributes["stroke"])


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


def test_report_embeds_a_small_poster_frame_of_the_video(localized_run):
    parser = _Links()
    parser.feed((localized_run.out / VIDEO_ID / "report.html").read_text(encoding="utf-8"))
    assert parser.poster is not None and parser.poster.startswith("data:image/jpeg;base64,")
    jpeg = base64.b64decode(parser.poster.split(",", 1)[1])
    assert len(jpeg) < 100_000
    assert Image.open(io.BytesIO(jpeg)).size == (320, 240)  # the demo video's own size (under 480 across)


def test_report_and_plot_text_contrast_is_at_least_aa_and_the_class_pair_is_colour_blind_safe(localized_run):
    folder = localized_run.out / VIDEO_ID
    page = (folder / "report.html").read_text(encoding="utf-8")
    svg = _TimelineParts()
    svg.feed(page[page.index('<div class="plot" id="timeline"'): page.index('<div class="legend">')])
    assert svg.panels and svg.bands and not svg.texts  # its text is HTML, measured in Chromium below
    for colour, band in svg.bands:  # "positive 0.82" on its band
        assert contrast_ratio(colour, band) >= AA_TEXT, (colour, band)
    assert {"#0072B2", "#D55E00"} <= svg.strokes  # Okabe-Ito blue (positive), vermillion (negative)
    for stroke in svg.strokes:
        assert contrast_ratio(stroke, "#ffffff") >= AA_GRAPHICS, stroke
    for colour in TEXT_COLOURS:
        assert contrast_ratio(colour, FIGURE_BACKGROUND) >= AA_TEXT, colour
    pixels = np.array(Image.open(folder / "timeline.png").convert("RGB"), dtype=np.int16).reshape(-1, 3)
    for colour in ("#0072B2", "#D55E00"):  # the plot draws the same pair (lines, legend; antialiased)
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=1) <= 12).sum() >= 20, colour
    for old in ((0x1A, 0x98, 0x50), (0xD7, 0x30, 0x27)):  # and not the red/green pair any more
        assert (np.abs(pixels - np.array(old)).max(axis=1) <= 12).sum() == 0, old
    assert not re.search(r"#(1a9850|d73027)", page, re.IGNORECASE)  # the old red/green pair is gone

    # the face-emotion strip: no text on its areas (a label drawn on one would take text_colour_on),
    # its legend's text on the page (checked in Chromium below), the palette drawn in both
    strip = _TimelineParts()
    strip.feed(page[page.index('<svg id="emotion-strip"'):])
    assert all(contrast_ratio(fill, panel) >= AA_TEXT for fill in strip.texts for panel in strip.panels)
    for colour in (*EMOTION_COLOURS, NO_FACE_COLOUR):
        assert contrast_ratio(text_colour_on(colour), colour) >= AA_TEXT, colour
    drawn = [colour for colour in EMOTION_COLOURS[:7] if colour in page]
    assert len(drawn) == 7 and NO_FACE_COLOUR in page  # FER2013's seven classes and "no face"
    for colour in drawn:  # the stacked strip and its legend in the plot
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=1) <= 12).sum() >= 20, colour


def test_summary_and_every_shared_output_hold_no_absolute_path(localized_run):
    root = str(localized_run.root)
    for path in localized_run.out.rglob("*"):
        if "cache" in path.relative_to(localized_run.out).parts or not path.is_file() or path.suffix == ".png":
            continue  # the default feature cache records where the videos were; it is not an output
        if path.suffix == ".eaf" or path.name == "label_studio.json":
            continue  # ELAN's MEDIA_URL and Label Studio's task URL must be absolute (the .eaf has a relative one too)
        assert root not in path.read_text(encoding="utf-8", errors="replace"), path


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
            page.on("console",
                    lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri())
            page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=15000)
            duration = page.evaluate("document.getElementById('video').duration")
            assert duration == pytest.approx(localized_run.localized_duration, abs=0.1)

            bands = page.locator("#timeline .segment")
            rows = page.locator("#segments tbody tr[data-start]")
            assert bands.count() == rows.count() >= 1
            away = "v => { const video = document.getElementById('video'); video.currentTime = v; }"
            band = bands.nth(bands.count() - 1)
            start = float(band.get_attribute("data-start"))
            # somewhere else first, so the click must move it
            page.evaluate(away, duration - 0.1 if start < duration - 1 else 0.5)
            band.click()
            page.wait_for_function(f"Math.abs(document.getElementById('video').currentTime - {start}) < 0.05",
                                   timeout=5000)

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


# The contrast of every text the page renders, against the first opaque background behind it.
PAGE_CONTRASTS = """() => {
  function rgb(value) { const m = value.match(/[\\d.]+/g); return m ? m.map(Number) : null; }
  function luminance(c) {
    const l = c.slice(0, 3).map(v => {
      v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  }
  function background(element) {
    for (let e = element; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c && (c.length < 4 || c[3] > 0)) return c;
    }
    return [255, 255, 255];
  }
  const found = [];
  document.querySelectorAll("body *:not(svg *):not(script):not(style)").forEach(e => {
    const own = Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length) return;
    const a = luminance(rgb(getComputedStyle(e).color)), b = luminance(background(e));
    found.push([e.tagName + "." + e.className, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
  });
  return found;
}"""


def test_video_copy_plays_after_the_folder_moves_and_the_page_passes_contrast(localized_run, tmp_path):
    sync_api = _browser_or_skip()
    out = tmp_path / "copied out"
    result = cli("localize", str(localized_run.new_videos), "--model", str(localized_run.model), "--out", str(out),
                 "--cache", str(localized_run.out / "cache"), "--random-weights", "--device", "cpu", "--video", "copy",
                 "--quiet")  # features cached: nothing is extracted
    assert result.returncode == 1 and "broken" in result.stdout, result.stderr  # the zero-byte file fails alone
    moved = tmp_path / "sent elsewhere"
    shutil.move(out, moved)  # a self-contained folder: it plays wherever it lands
    report = (moved / VIDEO_ID / "report.html").resolve()
    assert (report.parent / localized_run.localized_video.name).is_file()
    executable = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requests = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri())
            page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=15000)
            assert page.evaluate("document.getElementById('video').duration") == pytest.approx(
                localized_run.localized_duration, abs=0.1)
            poster_width = page.evaluate("""() => new Promise(done => { const image = new Image();
                image.onload = () => done(image.naturalWidth); image.onerror = () => done(0);
                image.src = document.getElementById('video').poster; })""")
            assert poster_width == 320
            assert page.locator("#video-note").inner_text() == ""  # nothing to say: the video plays
            assert all(url.startswith(moved.resolve().as_uri()) or url.startswith("data:")
                       for url in requests), requests
            contrasts = page.evaluate(PAGE_CONTRASTS)
            assert len(contrasts) > 10
            low = [(element, round(ratio, 2)) for element, ratio in contrasts if ratio < AA_TEXT]
            assert not low, low
        finally:
            browser.close()


# Every text the timeline renders (HTML over its SVG, and any SVG text): its rendered height
# and horizontal extent in CSS pixels; and the height of the plot.
TIMELINE_TEXTS = """() => {
  const found = [];
  document.querySelectorAll(".timeline *").forEach(e => {
    if (e.closest("title")) return;
    Array.from(e.childNodes).filter(n => n.nodeType === 3 && n.textContent.trim()).forEach(n => {
      const range = document.createRange();
      range.selectNodeContents(n);
      const box = range.getBoundingClientRect();
      const kind = typeof e.className === "string" ? e.className : e.className.baseVal;
      if (box.width > 0) found.push({text: n.textContent.trim(), kind: kind, height: box.height, left: box.left,
                                     right: box.right});
    });
  });
  return {texts: found, plot: document.getElementById("timeline").getBoundingClientRect().height};
}"""


# What reaches past the window's width (or left of it), every <details> opened first: the
# page's scroll width and each element of the body whose box does, as "tag text: left..right".
WIDER_THAN_WINDOW = """() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const limit = document.documentElement.clientWidth;
  const wide = [];
  document.querySelectorAll("body *").forEach(e => {
    const box = e.getBoundingClientRect();
    if (box.width > 0 && (box.right > limit + 0.01 || box.left < -0.01)) {
      wide.push(`${e.tagName.toLowerCase()} ${(e.textContent || "").trim().slice(0, 30)}: ${box.left}..${box.right}`);
    }
  });
  return {limit: limit, scroll: document.documentElement.scrollWidth, wide: wide};
}"""

REALISTIC_HEADER = {  # what localize writes (outputs.run_header): a sha256 is one long word
    "model": "best.pt", "model_sha256": "0123456789abcdef" * 4, "epoch": 3, "class_names": ["negative", "positive"],
    "streams": ["audio", "face"], "trained_on": "training cache",
    "extractors": {"audio": {"name": "audio", "version": 3, "weights": "no weights"},
                   "face": {"name": "face", "version": 2, "weights": "RANDOM weights"}},
    "random_weights": True, "random_weight_streams": ["face"], "created": "2026-12-08T10:00:00+0100",
}


def test_the_timeline_stays_legible_on_a_narrow_window(tmp_path):
    """At 500 px (a narrow window), 360 px (a phone) and 320 px every text of the timeline is at
    least 10 px tall (it was 5 and 4 px when the whole SVG scaled down), the time labels do
    not overlap, nothing leaves the window, and the plot keeps its height. Nothing of the
    page is wider than the window, its <details> open: at 360 px the "ELAN (.eaf)" link
    wrapped inside itself and reached 1 px past it, the model's sha256 ran off the page, and at
    320 px the segments table was 39 px wider than the window."""
    sync_api = _browser_or_skip()
    rng = np.random.default_rng(1)
    snippets, names = 148, ("happy", "sad", "neutral")
    presence = (rng.random(snippets) > 0.2).astype(np.float32)
    shown = [{"label": "positive", "score": 0.82, "segment": [5.12, 19.2]},
             {"label": "negative", "score": 0.61, "segment": [40.3, 47.0]}]
    video = LocalizedVideo("talks/long one", tmp_path / "long one.mp4", 94.72, 0.64,
                           rng.random((snippets, 3)), presence,
                           shown, shown, tmp_path, emotions=rng.dirichlet(np.ones(3), snippets).astype(np.float32),
                           emotion_names=names)
    page_text = report_html(video, ("negative", "positive"), REALISTIC_HEADER, output_file_names(video.video_id))
    (tmp_path / "report.html").write_text(page_text, encoding="utf-8")
    executable = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            for width in (500, 360, 320):
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.goto((tmp_path / "report.html").as_uri())
                found = page.evaluate(TIMELINE_TEXTS)
                texts = found["texts"]
                assert found["plot"] == SVG_HEIGHT  # only time is squeezed
                ticks = sorted((t for t in texts if "tick" in t["kind"]), key=lambda t: t["left"])
                assert [t["text"] for t in ticks] == ["0:00", "0:20", "0:40", "1:00", "1:20"]  # every other one
                small = [(t["text"], round(t["height"], 1)) for t in texts if t["height"] < 10]
                assert not small, (width, small)
                assert all(a["right"] + 4 <= b["left"] for a, b in zip(ticks, ticks[1:], strict=False)), (width, ticks)
                assert all(0 <= t["left"] and t["right"] <= width for t in texts), (width, texts)
                overflow = page.evaluate(WIDER_THAN_WINDOW)
                assert overflow["limit"] == width and overflow["scroll"] <= width and not overflow["wide"], overflow
                page.close()
        finally:
            browser.close()


HOSTILE_EMOTIONS = ("<script>alert(1)</script>", "=cmd|' /C calc'!A0", "$\\foo{$", 'a"b&c')


def _made_up_video(tmp_path: Path, emotions: bool, face: bool = True) -> LocalizedVideo:
    """A localized video made in the test (no extraction): 12 snippets, a face in 8."""
    rng = np.random.default_rng(0)
    presence = np.array([1, 1, 0.5, 0, 0, 1, 1, 1, 0, 1, 1, 0], dtype=np.float32)
    probabilities = rng.dirichlet(np.ones(len(HOSTILE_EMOTIONS)), 12).astype(np.float32) * (presence > 0)[:, None]
    shown = [{"label": "positive", "score": 0.7, "segment": [0.64, 2.56]}]
    return LocalizedVideo(
        "clip", tmp_path / "clip.mp4", 7.68, 0.64, rng.random((12, 3)), presence if face else None, shown, shown,
        tmp_path, emotions=probabilities if emotions else None, emotion_names=HOSTILE_EMOTIONS if emotions else None,
    )


def test_hostile_emotion_names_stay_text_and_videos_without_emotions_say_so(tmp_path):
    classes = ("negative", "positive")
    video = _made_up_video(tmp_path, emotions=True)
    page = report_html(video, classes, {"model": "m.pt"}, {})
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&quot;b&amp;c" in page and "no-emotions" not in page
    titles = re.findall(r"<title>([^<]*)</title>", page[page.index('<svg id="emotion-strip"'):])
    assert len(titles) == 8 + 3  # one per snippet with a face (8), one per run of snippets without (3)
    assert sum(title.endswith(": no face") for title in titles) == 3
    rows = list(csv.reader(io.StringIO(timeline_csv_text(video, classes, False))))
    assert rows[0][5:-1] == ["top_emotion", *(f"emotion_{name}" for name in HOSTILE_EMOTIONS)]
    assert {row[5] for row in rows[1:]} >= {"'=cmd|' /C calc'!A0", "$\\foo{$"}  # a formula cell is quoted
    assert all(not cell.startswith(("=", "@", "+")) for row in rows for cell in row)
    assert rows[4][5:-1] == [""] * 5  # no face in snippet 3: no emotions, no top emotion
    assert timeline_png(video, classes, False)[:8] == b"\x89PNG\r\n\x1a\n"  # '$...$' is drawn as text

    for face, why in ((True, "holds no emotion probabilities"), (False, "have no face stream")):
        plain = _made_up_video(tmp_path, emotions=False, face=face)
        page = report_html(plain, classes, {"model": "m.pt"}, {})
        assert '<svg id="emotion-strip"' not in page and "No face-emotion strip: " in page and why in page
        header = timeline_csv_text(plain, classes, False).splitlines()[0]
        assert header == "time_s,negative,positive,background,face_presence,top_emotion,random_weights"
        assert timeline_png(plain, classes, False)[:4] == b"\x89PNG"


def report_data_block(page: str) -> str:
    """The text of the page's JSON data element, up to the first '</script' (where a browser ends it)."""
    opening = '<script type="application/json" id="report-data">'
    start = page.index(opening) + len(opening)
    return page[start:page.lower().index("</script", start)]


def test_names_holding_script_markup_cannot_swallow_the_page_script(tmp_path):
    import json

    classes = ("neg<!--<SCRIPT x", "pos</script><script>alert(1)//")  # a comment opener, then a script opener
    video = _made_up_video(tmp_path, emotions=False)
    video.shown[0]["label"] = classes[1]
    video.source = tmp_path / "<!--<script>.mp4"
    page = report_html(video, classes, {"model": "m.pt"}, {})
    block = report_data_block(page)
    assert "<" not in block  # neither "<!--" nor "<script" nor "</script" inside: the element ends where it should
    data = json.loads(block)
    assert data["video_name"] == "<!--<script>.mp4" and data["cues"][0]["text"].startswith(classes[1])
    assert page.count("<script") == 2 and page.rstrip().endswith("</script>\n</body>\n</html>")
    after = page[page.index(block) + len(block):]
    assert after.startswith("</script>\n<script>") and "JSON.parse(document.getElementById(\"report-data\")" in after
