"""pipeline/api.py on tiny real data: four demo videos (the astronaut photo and a voice-like
sound, 5 s), their audio features, a tiny model trained on them, a new video localized with
and without an output folder; and what importing the module costs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pipeline import api
from pipeline.config import ConfigError, load_config
from pipeline.devices import autocast_dtype, device_line, precision_name
from pipeline.synthetic.demo_videos import write_demo_annotations, write_demo_videos
from tests.conftest import ROOT

TINY = {"model": {"d_model": 32, "num_heads": 2, "streams": ["audio"]},
        "train": {"epochs": 2, "batch_size": 2, "validate_every_epochs": 2, "learning_rate": 0.002}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(root, cache, run summary, the new video) made through the API."""
    root = tmp_path_factory.mktemp("api")
    videos = write_demo_videos(root / "videos", 4, duration_seconds=8.0, test_videos=1)  # 3 of 4 hold sentiment
    write_demo_annotations(root / "annotations", videos)
    [new_video] = write_demo_videos(root / "new", 1, duration_seconds=5.0, test_videos=0, seed=4)
    first = api.extract(root / "videos", root / "cache", streams=["audio"], device="cpu", quiet=True)
    assert first.counts() == {"extracted": 4, "up to date": 0, "failed": 0}
    run = api.train(root / "cache", root / "annotations", root / "run", device="cpu", quiet=True, **TINY)
    return root, run, new_video.path


def test_import_exposes_the_three_stages_and_loads_no_model_code():
    code = ("import sys, pipeline.api as a; assert callable(a.extract) and callable(a.train) and callable(a.localize); "
            "print(sorted(m for m in ('torch', 'av', 'librosa', 'cv2', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_extract_again_finds_everything_up_to_date_and_train_writes_a_model(trained):
    root, run, _ = trained
    again = api.extract(root / "videos", root / "cache", streams=["audio"], device="cpu", quiet=True)
    assert again.counts() == {"extracted": 0, "up to date": 4, "failed": 0}
    assert run.epochs_run == 2 and (run.run_dir / "best.pt").is_file()


def test_localize_without_out_returns_segments_and_scores_and_writes_nothing(trained, tmp_path, capsys):
    root, run, video = trained
    before = {path for path in root.rglob("*")}
    result = api.localize(video, run.run_dir / "best.pt", device="cpu", progress=False)
    assert {path for path in root.rglob("*")} == before  # no file beside the video, the model or the cache
    [found] = result.videos
    assert result.out_dir is None and found.output_dir is None and found.report is None
    assert found.class_names == ("negative", "positive")
    rows = int(np.ceil(round(found.duration_seconds / found.snippet_seconds, 6)))
    assert found.scores.shape == (rows, 3) and np.all((found.scores >= 0) & (found.scores <= 1))
    assert found.snippet_start_seconds()[1] == pytest.approx(found.snippet_seconds)
    assert found.all_segments, "the model kept no segment at all"
    for segment in found.segments:
        assert 0 <= segment.start_seconds < segment.end_seconds <= found.duration_seconds + 1e-6
        assert segment.label in found.class_names and segment in found.all_segments
    # bf16 or fp32: the CPU decides
    precision = precision_name(autocast_dtype(load_config(None).train.amp_dtype, "cpu"))
    # said once, before the model runs
    assert capsys.readouterr().err.splitlines().count(device_line("cpu", precision)) == 1


def test_localize_with_out_writes_the_files_and_shows_at_most_max_segments(trained, tmp_path):
    _, run, video = trained
    result = api.localize(video, run.run_dir / "best.pt", out=tmp_path / "out", device="cpu", quiet=True,
                          localize={"max_segments": 1, "video": "copy"})
    found = result[video.stem]
    assert found.report is not None and found.report.is_file()
    assert (found.output_dir / video.name).is_file()  # --video copy: the folder plays on its own
    assert len(found.segments) <= 1 and len(found.all_segments) >= len(found.segments)
    assert (tmp_path / "out" / "results.json").is_file()


def test_settings_are_checked_like_set(trained):
    with pytest.raises(ConfigError, match="did you mean train.epochs"):
        api.settings(train={"epoch": 3})
    with pytest.raises(ConfigError, match="as a dict"):
        api.settings(train=3)
    assert api.settings(audio={"n_mfcc": 20}).audio.n_mfcc == 20
