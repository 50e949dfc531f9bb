"""cli.py as people meet it: --help and --version load no model code; a misspelt option or
command is one line naming it and a close match (exit 2); a reader that closes the pipe
early (`| head`) ends the command quietly; a redirected stderr gets no progress bars (no
carriage returns) and --quiet leaves only warnings there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from extractors.visual import VisualConfig, VisualExtractor
from pipeline.devices import device_line
from tests.conftest import ROOT, cli


def test_help_and_version_import_no_model_code():
    code = ("import sys, runpy; sys.argv = ['fsenet', '--help']\n"
            "try:\n    runpy.run_path('cli.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'av', 'librosa', 'cv2', 'numpy') if m in sys.modules), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "localize" in result.stdout and result.stderr.strip() == "[]"
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("fsenet ")


@pytest.mark.parametrize(("args", "line"), [
    (["extract", "videos", "--cahce", "cache"], "error: unknown option --cahce (did you mean --cache?)"),
    (["localize", "v.mp4", "--model", "m.pt", "--out", "o", "--max-segmnts=3"],
     "error: unknown option --max-segmnts (did you mean --max-segments?)"),
    (["extrcat", "videos"], "error: unknown command extrcat (did you mean extract?)"),
    (["cache-info", "c", "--zzz"], "error: unknown option --zzz (see fsenet cache-info --help)"),
    (["train", "--out", "run"], "error: fsenet train: the following arguments are required: --features "
                                "(see fsenet train --help)"),
])
def test_a_usage_mistake_is_one_line_that_names_it(args, line):
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line] and result.stdout == ""


def test_a_synth_setting_is_checked_by_every_command_that_takes_settings(tmp_path):
    """The shared config leaves `synth` out, but a typo in it is not silently ignored."""
    result = cli("config", "--set", "synth.seeed=1")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == ["error: unknown setting synth.seeed (did you mean synth.seed?)"]
    settings = tmp_path / "both.yaml"
    settings.write_text("synth:\n  seed: 3\ntrain:\n  epochs: 7\n", encoding="utf-8")
    good = cli("config", "--config", str(settings))  # a file shared with `synth` is accepted, its synth left out
    assert good.returncode == 0 and "epochs: 7" in good.stdout and "synth" not in good.stdout


def test_a_closed_pipe_ends_quietly(tmp_path):
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "config"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line: every write meets a broken pipe
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141  # 128 + SIGPIPE, as a shell reports a command its pipe ended
    assert stderr == ""


def test_redirected_stderr_gets_no_progress_bars_and_quiet_keeps_only_warnings(tmp_path, pattern_video):
    pattern_video("videos/one.mp4", 1.5, size=(64, 48))
    log = tmp_path / "extract.log"
    args = [sys.executable, str(ROOT / "cli.py"), "extract", str(tmp_path / "videos"), "--cache", str(tmp_path / "c"),
            "--streams", "audio,visual", "--random-weights", "--set", "visual.short_side=64",
            "--set", "visual.crop_size=64", "--set", "visual.layer=res5", "--device", "cpu"]
    with open(log, "w") as stderr:
        assert subprocess.run(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr).returncode == 0
    text = log.read_text()
    # the runtime and precision the visual stream resolves to here (the machine decides)
    said_device = device_line("cpu", VisualExtractor.compute_precision(VisualConfig(), "cpu"))
    assert "\r" not in text and said_device in text.splitlines() and "RANDOM weights" in text
    quiet = subprocess.run([*args, "--cache", str(tmp_path / "quiet"), "--quiet"], cwd=ROOT, capture_output=True,
                           text=True)
    assert quiet.returncode == 0
    assert all(line.startswith("warning:") for line in quiet.stderr.splitlines()), quiet.stderr
    assert "1 video(s): 1 extracted" in quiet.stdout
