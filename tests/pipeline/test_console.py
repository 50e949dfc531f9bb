"""pipeline/console.py: names reach the terminal with control characters escaped; a run says each warning once."""

from pipeline.console import printable, random_weights_warning, warnings_once


def test_control_characters_are_escaped_and_letters_kept():
    assert printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert printable("a\nb\r\tc\x00\x7f") == "a\\nb\\r\\tc\\x00\\x7f"
    assert printable("evil\u202etxt.mp4 \u2028") == "evil\\u202etxt.mp4 \\u2028"
    assert printable("café 日本語 clip (1).mp4") == "café 日本語 clip (1).mp4"
    assert "\n" not in printable("line one\n\nline two") and printable(42) == "42"


def test_a_run_says_each_warning_once_and_every_other_message_as_it_comes():
    said: list[str] = []
    log = warnings_once(said.append)
    warning = random_weights_warning(["visual", "face"])
    for message in (warning, "device: cpu, fp32", warning, "device: cpu, fp32", random_weights_warning(["face", "visual"])):
        log(message)
    assert said == [warning, "device: cpu, fp32", "device: cpu, fp32"]  # the streams in any order: one line
    assert warning.startswith("warning: the face, visual features come from RANDOM weights")
    another = warnings_once(said.append)  # the next run warns again
    another(warning)
    assert said[-1] == warning and len(said) == 4
