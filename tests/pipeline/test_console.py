"""pipeline/console.py: names reach the terminal with control characters escaped."""

from pipeline.console import printable


def test_control_characters_are_escaped_and_letters_kept():
    assert printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert printable("a\nb\r\tc\x00\x7f") == "a\\nb\\r\\tc\\x00\\x7f"
    assert printable("evil\u202etxt.mp4 \u2028") == "evil\\u202etxt.mp4 \\u2028"
    assert printable("café 日本語 clip (1).mp4") == "café 日本語 clip (1).mp4"
    assert "\n" not in printable("line one\n\nline two") and printable(42) == "42"
