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
    for message in (warning, "device: cpu, fp32", warning, "device: cpu, fp32",
                    random_weights_warning(["face", "visual"])):
        log(message)
    assert said == [warning, "device: cpu, fp32", "device: cpu, fp32"]  # the streams in any order: one line
    assert warning.startswith("warning: the face, visual features come from RANDOM weights")
    another = warnings_once(said.append)  # the next run warns again
    another(warning)
    assert said[-1] == warning and len(said) == 4


def test_bytes_that_are_not_utf8_print_as_hex_escapes_and_paste_back_into_a_shell(tmp_path):
    import os
    import subprocess

    from pipeline.console import json_for_stdout, shell_path

    name = os.fsdecode(b"r\xe9sum\xe9 it's \\ \x1b.mp4")  # Latin-1 bytes, a quote, a backslash, ESC
    assert printable(name) == "r\\xe9sum\\xe9 it's \\ \\x1b.mp4"
    quoted = shell_path(tmp_path / name)
    assert quoted.startswith("$'") and "\x1b" not in quoted and "\udce9" not in quoted
    (tmp_path / name).write_bytes(b"")
    pasted = subprocess.run(["bash", "-c", f"printf %s {quoted}"], capture_output=True)  # as typed at a prompt
    assert pasted.stdout == os.fsencode(tmp_path / name)
    assert shell_path("out/day 1/report.html") == "'out/day 1/report.html'"  # plain names: as before
    assert json_for_stdout({"id": name}) == '{\n  "id": "r\\udce9sum\\udce9 it\'s \\\\ \\u001b.mp4"\n}'
