"""Shared test helpers: small real videos written with ffmpeg inside each test."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture
def one_thread():
    """torch on one thread for the test: tiny tensors run ~10x faster on one thread than
    on two busy shared cores, and results do not depend on the thread count."""
    import torch  # here: most tests never load torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The `error: ...` line of a command that must fail with exit status 2 and that one line."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def make_read_only(path: Path):
    """Make `path` and everything under it unwritable: chmod a-w, or as root (which ignores
    modes) the immutable flag; skips the test where neither works. Returns the undo."""
    if os.geteuid() != 0:
        for item in [path, *path.rglob("*")]:
            item.chmod(item.stat().st_mode & ~0o222)
        return lambda: [item.chmod(item.stat().st_mode | 0o200) for item in [path, *path.rglob("*")]]
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "-R", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a folder read-only for root here (no chattr +i)")
    return lambda: subprocess.run([chattr, "-R", "-i", str(path)], check=True)
