"""pipeline/infer/checkpoint.py: a checkpoint is refused before torch.load when its zip
members would inflate to far more than the file holds (a zip bomb), and read as before
when it is what torch.save writes."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

from pipeline.infer.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, read_checkpoint, save_checkpoint
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
