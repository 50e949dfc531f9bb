"""extractors/weights.py without torch: the hub folder by torch's own rule, and checkpoint
hashes remembered per file (path, size, mtime, ctime, inode) and recomputed when the file
changes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from extractors.weights import weights_sha256, weights_sha256_cache_path
from tests.conftest import ROOT


def test_hub_folder_is_torchs_own_and_asking_loads_no_torch(tmp_path):
    code = ("import sys; from extractors.weights import hub_checkpoint_dir; print(hub_checkpoint_dir()); "
            "print('torch' in sys.modules); import torch; print(torch.hub.get_dir())")
    for overrides in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {}):
        env = {k: v for k, v in os.environ.items() if k not in ("TORCH_HOME", "XDG_CACHE_HOME")} | overrides
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
        assert result.returncode == 0, result.stderr
        ours, torch_loaded, torchs = result.stdout.split("\n")[:3]
        assert torch_loaded == "False"
        assert ours == os.path.join(torchs, "checkpoints"), overrides


def test_a_checkpoint_hash_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("FSENET_CACHE_DIR", str(tmp_path / "fsenet cache"))
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"a" * 5000)
    assert weights_sha256(weights) == hashlib.sha256(b"a" * 5000).hexdigest()
    record_file = weights_sha256_cache_path()
    assert record_file == tmp_path / "fsenet cache" / "weights-sha256.json"
    records = json.loads(record_file.read_text())
    records[str(weights.resolve())]["sha256"] = "f" * 64  # what comes back now proves the file is not read again
    record_file.write_text(json.dumps(records))
    assert weights_sha256(weights) == "f" * 64

    before = weights.stat()
    weights.write_bytes(b"b" * 5000)  # same size, and the modification time set back: only ctime tells
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert weights_sha256(weights) == hashlib.sha256(b"b" * 5000).hexdigest()


def test_an_unwritable_record_folder_costs_only_speed(tmp_path, monkeypatch):
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    monkeypatch.setenv("FSENET_CACHE_DIR", str(blocker))
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"c" * 100)
    assert weights_sha256(weights) == hashlib.sha256(b"c" * 100).hexdigest()
