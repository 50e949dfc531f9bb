"""pipeline/localize/text_formats.py: names in subtitles stay inside their NOTE or cue."""

import pytest

from pipeline.localize.text_formats import cue_text, one_line, srt_text, vtt_text

SHOWN = [{"label": "positive", "score": 0.8, "segment": [1.0, 2.0]}]


@pytest.mark.parametrize("name", [
    "a\n\nSTYLE\n::cue { color: red }\n\nb", "a\r\n\r\nSTYLE", "a\r\rb", "a\n\n\nb", "x --> y", "x ---> y",
    "x -\n-> y", "a\u2028\u2029b",
])
def test_a_name_in_a_webvtt_note_stays_one_line_without_an_arrow(name):
    text = vtt_text(SHOWN, False, f"fsenet localize: {name}")
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT" and blocks[1].startswith("NOTE ") and "\n" not in blocks[1].strip("\n")
    assert "\r" not in text and "-->" not in blocks[1] and len(blocks) == 3  # header, note, one cue
    assert blocks[2].split("\n")[1] == "00:00:01.000 --> 00:00:02.000"


def test_a_class_name_cannot_add_a_cue_or_a_tag():
    hostile = [{"label": "p\n\n2\n00:00:05,000 --> 00:00:09,000\n<b>x</b> & y", "score": 0.5, "segment": [0.0, 1.0]}]
    assert cue_text(hostile[0], False) == "p 2 00:00:05,000 -> 00:00:09,000 <b>x</b> & y 0.50"
    assert srt_text(hostile, False).count("-->") == 1
    cue = vtt_text(hostile, False).strip().split("\n\n")[-1].split("\n")[2]
    assert cue == "p 2 00:00:05,000 -&gt; 00:00:09,000 &lt;b&gt;x&lt;/b&gt; &amp; y 0.50"
    assert one_line("a\n\n\nb") == "a b"
