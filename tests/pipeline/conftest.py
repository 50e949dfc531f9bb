"""Fixtures shared by the pipeline tests: a tiny synthetic release (test_train.py,
test_distributed_train.py), and a small real model with a real `localize` run
(test_localize.py, test_report.py).

Training data: 4 demo videos (the astronaut photo and a voice-like sound, 6-10 s) with
point and segment annotations, features of the audio and face streams (face with random
weights: no checkpoint in the tests' TORCH_HOME), a tiny FSENet trained 3 epochs with
the real `train` command. New videos for `localize`: one more demo video under a folder
whose name has a space, and a zero-byte file (a failure the run must list and survive).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.synthetic.demo_videos import write_demo_annotations, write_demo_videos
from tests.conftest import cli

TINY_TRAINING = [
    "--epochs", "3", "--set", "model.d_model=32", "--set", "model.num_heads=2", "--set", "train.learning_rate=0.002",
    "--set", "train.batch_size=4", "--set", "train.validate_every_epochs=3", "--no-progress", "--device", "cpu",
]


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Path:
    """A synthetic release in the TSL-300 layout: 18 short videos, narrow features."""
    out = tmp_path_factory.mktemp("release") / "synthetic"
    result = cli(
        "synth", "--out", str(out), "--set", "synth.num_videos=18", "--set", "synth.scale=0.2",
        "--set", "synth.visual_width=48", "--set", "synth.face_width=40", "--set", "synth.audio_row_width=6",
        "--set", "synth.seed=3",
    )
    assert result.returncode == 0, result.stderr
    return out


@dataclass
class LocalizedRun:
    """Paths of the shared run."""

    root: Path
    model: Path  # the trained checkpoint (best.pt)
    training_cache: Path
    new_videos: Path  # folder given to localize
    localized_video: Path  # the demo video inside it
    localized_duration: float  # its duration (s)
    broken_video: Path  # the zero-byte file inside it
    out: Path  # localize --out
    result: object  # the CompletedProcess of the first localize
    extracted: object  # ... of the extract and the train that made the model
    trained: object


@pytest.fixture(scope="session")
def localized_run(tmp_path_factory) -> LocalizedRun:
    # TORCH_HOME / DEEPFACE_HOME as the function-scoped autouse fixture sets them.
    homes = tmp_path_factory.getbasetemp() / "homes"
    saved = {key: os.environ.get(key) for key in ("TORCH_HOME", "DEEPFACE_HOME", "FSENET_OFFLINE", "FSENET_CACHE_DIR")}
    os.environ.update(TORCH_HOME=str(homes / "torch"), DEEPFACE_HOME=str(homes / "deepface"), FSENET_OFFLINE="1",
                      FSENET_CACHE_DIR=str(homes / "fsenet"))
    try:
        root = tmp_path_factory.mktemp("localize")
        videos = write_demo_videos(root / "train videos", 4, duration_seconds=8.0, test_videos=1, seed=5)
        write_demo_annotations(root / "annotations", videos)
        cache = root / "training cache"
        extracted = cli("extract", str(root / "train videos"), "--cache", str(cache), "--streams", "audio,face",
                        "--random-weights", "--no-progress")
        assert extracted.returncode == 0, extracted.stderr
        run_dir = root / "run"
        trained = cli("train", "--features", str(cache), "--annotations", str(root / "annotations"), "--out",
                      str(run_dir), *TINY_TRAINING)
        assert trained.returncode == 0, trained.stderr

        new_videos = root / "new videos"
        [new_video] = write_demo_videos(new_videos / "talks", 1, duration_seconds=9.0, test_videos=0, seed=11)
        broken = new_videos / "broken.mp4"
        broken.write_bytes(b"")
        out = root / "localized out"
        result = cli("localize", str(new_videos), "--model", str(run_dir / "best.pt"), "--out", str(out),
                     "--random-weights", "--no-progress", "--device", "cpu")
        return LocalizedRun(
            root, run_dir / "best.pt", cache, new_videos, new_video.path, new_video.duration_seconds, broken,
            out, result,
            extracted, trained,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
