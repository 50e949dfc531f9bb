"""pipeline/infer/checkpoint.py: a checkpoint is refused before torch.load when its zip
members would inflate to far more than the file holds (a zip bomb), read as before when it
is what torch.save writes, and one written in an earlier version's format still loads."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

from model import FSENet
from pipeline.config import load_config
from pipeline.config.infer import InferConfig
from pipeline.infer.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    load_trained_model,
    read_checkpoint,
    save_checkpoint,
)
from tests.conftest import ROOT

INFLATED_MIB = 384


def write_bomb(path: Path) -> Path:
    """A real checkpoint (torch.save) whose tensor storage member is replaced by INFLATED_MIB
    of zeros, deflated: well under a MiB on disk, what torch.load would inflate in memory."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "weights": torch.zeros(4)}, buffer)
    with zipfile.ZipFile(buffer) as real, zipfile.ZipFile(path, "w") as bomb:
        for member in real.infolist():
            if not member.filename.endswith("/data/0"):
                bomb.writestr(member, real.read(member))
                continue
            inflating = zipfile.ZipInfo(member.filename)
            inflating.compress_type = zipfile.ZIP_DEFLATED
            with bomb.open(inflating, "w") as storage:
                for _ in range(INFLATED_MIB):
                    storage.write(bytes(2**20))
    return path


MEASURE = """
import resource, sys
sys.path.insert(0, sys.argv[2])
import torch
from pipeline.infer.checkpoint import CheckpointError, read_checkpoint
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_checkpoint(sys.argv[1])
    print("loaded")
except CheckpointError as error:
    print(error)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_a_zip_bomb_checkpoint_is_refused_before_anything_is_inflated(tmp_path):
    bomb = write_bomb(tmp_path / "small.pt")
    assert bomb.stat().st_size < 2**20
    result = subprocess.run([sys.executable, "-c", MEASURE, str(bomb), str(ROOT)], capture_output=True, text=True,
                            timeout=120)
    message, grown_mib = result.stdout.strip().splitlines()
    assert message.startswith(f"{bomb}: not a readable checkpoint: its members would inflate to {INFLATED_MIB} MiB")
    assert int(grown_mib) < 64, f"peak memory grew {grown_mib} MiB while refusing"  # the bomb would add 384


def test_a_checkpoint_torch_save_wrote_still_reads(tmp_path):
    weights = {"layer": torch.randn(512, 512)}  # 1 MiB of tensors: stored, as torch.save stores them
    save_checkpoint(tmp_path / "best.pt", {"model_state": weights})
    read = read_checkpoint(tmp_path / "best.pt")
    assert torch.equal(read["model_state"]["layer"], weights["layer"])


# The config section of a checkpoint as the version before the `infer` section wrote it: every
# section of that day, the synthetic release's `synth` among them, and inference's batch size
# and precision only in `train`.
OLD_CONFIG = {
    "grid": {"frame_rate": 25.0, "snippet_frames": 16},
    "decode": {"ffmpeg_binary": "", "threads": 0, "min_decoded_fraction": 0.9, "hardware": "none"},
    "extract": {"streams": ["audio"], "device": "auto", "engine": "local", "workers": 1},
    "audio": {"sample_rate": 16000, "n_mfcc": 40, "n_mels": 64},
    "model": {"streams": ["audio"], "d_model": 8, "num_heads": 2, "num_classes": 2,
              "bspg": {"window": 7, "beta": 0.6}, "pssc": {"topk_divisor": 8}, "loss": {"lambda_sc": 0.05}},
    "data": {"class_names": ["negative", "positive"], "validation_fraction": 0.1, "release_visual_folder": "rgb"},
    "train": {"epochs": 30, "batch_size": 4, "amp_dtype": "none", "learning_rate": 0.002, "seed": 123},
    "postprocess": {"score": "cas_fg", "nms": "hard", "cas_thresholds": [0.0, 0.1]},
    "localize": {"min_score": 0.0, "max_segments": 0, "video": "relative"},
    "synth": {"seed": 0, "num_videos": 300, "scale": 1.0, "streams": ["visual", "audio", "face"]},
}


def _old_checkpoint(path: Path, config: dict) -> Path:
    model = FSENet(load_config(None, ["model.streams=audio", "model.d_model=8", "model.num_heads=2"]).model,
                   {"audio": 5})
    save_checkpoint(path, {"config": config, "stream_dims": {"audio": 5}, "model_state": model.state_dict(),
                           "class_names": ["negative", "positive"], "feature_spec": {"streams": {"audio": 5}},
                           "epoch": 30, "best_metric": 0.5})
    return path


def test_a_checkpoint_with_the_sections_of_an_earlier_version_loads(tmp_path):
    trained = load_trained_model(_old_checkpoint(tmp_path / "best.pt", OLD_CONFIG), "cpu")
    assert trained.streams == ("audio",) and trained.config.postprocess.cas_thresholds == (0.0, 0.1)
    assert (trained.config.train.batch_size, trained.config.train.amp_dtype) == (4, "none")
    assert not hasattr(trained.config, "synth") and not any("synth" in note for note in trained.notes)

    other = _old_checkpoint(tmp_path / "other.pt", {**OLD_CONFIG, "retired": {"x": 1}})  # a section no version has
    notes = load_trained_model(other, "cpu").notes
    assert "note: the saved config's section(s) retired are not read by this version (left out)" in notes


def test_inference_runs_as_this_machines_infer_section_says_not_the_checkpoints(tmp_path):
    path = _old_checkpoint(tmp_path / "best.pt", {**OLD_CONFIG, "infer": {"batch_size": 32, "amp_dtype": "bfloat16"}})
    assert load_trained_model(path, "cpu").config.infer == InferConfig()  # this machine's defaults
    mine = InferConfig(batch_size=2, amp_dtype="none")
    trained = load_trained_model(path, "cpu", infer=mine)
    assert trained.config.infer == mine and trained.config.train.batch_size == 4  # training's stays the checkpoint's
