"""Shared test helpers: small real videos written with ffmpeg inside each test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from extractors.decode import find_ffmpeg  # noqa: E402
from pipeline.synthetic.videos import write_test_pattern_video  # noqa: E402

SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    """Keep model hubs and DeepFace's folder out of the user's home during tests."""
    homes = tmp_path_factory.getbasetemp() / "homes"
    monkeypatch.setenv("TORCH_HOME", str(homes / "torch"))
    monkeypatch.setenv("DEEPFACE_HOME", str(homes / "deepface"))
    monkeypatch.setenv("FSENET_OFFLINE", "1")
    monkeypatch.setenv("FSENET_CACHE_DIR", str(homes / "fsenet"))


@pytest.fixture(scope="session")
def ffmpeg_binary() -> str:
    return find_ffmpeg()


def run_ffmpeg(*args: str) -> None:
    """Run ffmpeg with list arguments (no shell); fail the test with its message."""
    result = subprocess.run(
        [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")


@pytest.fixture
def pattern_video(tmp_path):
    """Factory: write_test_pattern_video into tmp_path by file name."""

    def make(name: str, duration_seconds: float, **kwargs) -> Path:
        return write_test_pattern_video(tmp_path / name, duration_seconds, **kwargs)

    return make


def cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python cli.py ARGS` as a user would; returns the completed process (text)."""
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
    )
