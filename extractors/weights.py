"""Where an extractor's checkpoint comes from, and how it is identified in the cache.

The rule every stream with weights follows: a path in config wins; else the file is
looked up in torch.hub's standard cache ($TORCH_HOME/hub/checkpoints, relocatable with
TORCH_HOME), downloaded there when a URL is known and the network answers; else the run
stops before any work with a message that says where to put the file -- unless the user
chose random weights (--random-weights), which are then recorded in every cache entry.
The sha256 of the file is the weights' identity: features from other weights never mix.

Nothing here imports torch: an extractor's identity (settings + weights sha256) is known
before its network is built, so a rerun with nothing to do builds none. Hashing a large
checkpoint takes seconds, so each file's sha256 (and the few other facts an identity needs,
`file_fact`: a checkpoint's class count, an embedded model's sha256) is remembered in a small JSON file
(`weights_sha256_cache_path()`: $FSENET_CACHE_DIR, else $XDG_CACHE_HOME/fsenet, else
~/.cache/fsenet), keyed by the file's absolute path, size, mtime, ctime and inode: any write
to the file changes its ctime (which no tool can set back), so a changed file is hashed
again. The record is only a shortcut; when that folder cannot be written, files are hashed
every run.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cache.atomic import atomic_write_json
from cache.fingerprint import file_sha256


class WeightsError(Exception):
    """No usable checkpoint; the message says where to put one."""


@dataclass(frozen=True)
class CheckpointSpec:
    stream: str  # config section, e.g. "visual"
    description: str  # e.g. "I3D R50 Kinetics-400 (pytorchvideo)"
    file_name: str  # name in the hub checkpoints folder
    url: str | None = None  # where the published file lives
    expected_sha256: str | None = None  # published hash, when known (recorded, not enforced)


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path | None  # None for random weights
    sha256: str | None
    random_seed: int | None = None
    published_sha256: str | None = None  # the published file's hash, when known

    @property
    def is_random(self) -> bool:
        return self.path is None

    def identity(self) -> dict:
        if self.is_random:
            return {"random": True, "seed": self.random_seed}
        identity = {"random": False, "sha256": self.sha256, "file": self.path.name}
        if self.published_sha256:
            identity["published"] = self.sha256 == self.published_sha256
        return identity


# The published I3D R50 Kinetics-400 checkpoint (pytorchvideo 0.1.5, models/hub/resnet.py,
# checkpoint_paths["i3d_r50"]; tests/extractors/test_visual.py checks it against pytorchvideo).
I3D_CHECKPOINT = CheckpointSpec(
    stream="visual",
    description="I3D R50 Kinetics-400 (pytorchvideo I3D_8x8_R50)",
    file_name="I3D_8x8_R50.pyth",
    url="https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/I3D_8x8_R50.pyth",
)


# torch.save writes its members stored (uncompressed): a checkpoint's members add up to about
# its own size. A zip whose members would inflate to much more (a "zip bomb": 1.6 MB that
# torch.load inflates to 1.5 GiB in memory before anything can refuse it) is refused unread.
MAX_INFLATION = 4  # members may add up to this many times the file's size ...
INFLATION_ALLOWANCE_BYTES = 64 * 2**20  # ... or the file's size plus this, whichever is more


def inflated_size_problem(path: Path) -> str | None:
    """Why the PyTorch checkpoint at `path` must not be loaded: its zip members declare more
    bytes than MAX_INFLATION x its size (and INFLATION_ALLOWANCE_BYTES more than it), checked
    from the zip's directory before a byte is inflated; None when they do not, or when it is
    no zip (torch.load then says what it is)."""
    import zipfile

    size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if declared <= max(MAX_INFLATION * size, size + INFLATION_ALLOWANCE_BYTES):
        return None
    return (f"its members would inflate to {declared / 2**20:.0f} MiB from a {size / 2**20:.1f} MiB file "
            "(a zip bomb, not a checkpoint torch.save wrote)")


def hub_checkpoint_dir() -> Path:
    """torch.hub's checkpoint folder, by torch.hub.get_dir's rule ($TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub) without importing torch; torch's own
    answer when it is already imported (it may have been moved with torch.hub.set_dir)."""
    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir()) / "checkpoints"
    cache = os.getenv("XDG_CACHE_HOME", "~/.cache")
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub" / "checkpoints"


def fsenet_cache_dir() -> Path:
    """fsenet's own relocatable cache folder: $FSENET_CACHE_DIR, else $XDG_CACHE_HOME/fsenet,
    else ~/.cache/fsenet (remembered hashes here; networks exported for other runtimes in
    its `exported` folder, extractors/i3d_runtime.py)."""
    folder = os.getenv("FSENET_CACHE_DIR") or os.path.join(os.getenv("XDG_CACHE_HOME") or "~/.cache", "fsenet")
    return Path(os.path.expanduser(folder))


def weights_sha256_cache_path() -> Path:
    """The JSON file of remembered checkpoint hashes (see the module docstring)."""
    return fsenet_cache_dir() / "weights-sha256.json"


def _stat_key(path: Path) -> tuple[str, dict]:
    stat = path.stat()
    return str(path.resolve()), {
        "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns, "inode": stat.st_ino,
    }


def _read_hash_records(record_file: Path) -> dict:
    try:
        records = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def file_fact(path: Path, fact: str, compute: Callable[[Path], Any] | None = None) -> Any:
    """A fact about the file at `path` (its "sha256", the sha256 of a model embedded in it,
    a checkpoint's class count), from the remembered record while the file is unchanged
    (same size, mtime, ctime, inode), else `compute(path)` now, remembered beside the file's
    other facts (a changed file forgets them all). None when it is not remembered and
    `compute` is None. Facts must be JSON values."""
    key, stat = _stat_key(path)
    record_file = weights_sha256_cache_path()
    records = _read_hash_records(record_file)
    known = records.get(key)
    unchanged = isinstance(known, dict) and {k: known.get(k) for k in stat} == stat
    if unchanged and known.get(fact) is not None:
        return known[fact]
    if compute is None:
        return None
    value = compute(path)
    records = {name: record for name, record in records.items() if os.path.exists(name)}  # forget deleted files
    records[key] = {**(known if unchanged else {}), **stat, fact: value}
    try:
        atomic_write_json(record_file, records)
    except OSError:  # a read-only home: computed every run
        pass
    return value


def weights_sha256(path: Path) -> str:
    """The sha256 of the checkpoint at `path`, remembered while the file is unchanged (file_fact)."""
    return file_fact(path, "sha256", file_sha256)


def _try_download(spec: CheckpointSpec, destination: Path) -> bool:
    if not spec.url or os.environ.get("FSENET_OFFLINE"):
        return False
    import torch

    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(spec.url, str(destination), progress=True)
    except Exception:  # offline, refused, timed out: fall through to the clear message
        return False
    return destination.is_file()


def resolve_weights(
    spec: CheckpointSpec, configured_path: str, allow_random: bool, random_seed: int = 0, download: bool = True
) -> ResolvedWeights:
    """The checkpoint to load, by the rule in this module's docstring."""
    if configured_path:
        path = Path(configured_path).expanduser()
        if not path.is_file():
            raise WeightsError(
                f"{spec.stream}.weights_path={configured_path}: no such file; fix the path, or leave it "
                f"empty to use {hub_checkpoint_dir() / spec.file_name}"
            )
    else:
        path = hub_checkpoint_dir() / spec.file_name
        if not path.is_file() and not (download and _try_download(spec, path)):
            if allow_random:
                return ResolvedWeights(None, None, random_seed)
            source = f" (download: {spec.url})" if spec.url else ""
            raise WeightsError(
                f"no {spec.description} checkpoint: put {spec.file_name} in {path.parent}{source} or set "
                f"{spec.stream}.weights_path=FILE, or pass --random-weights to run with random weights"
            )
    return ResolvedWeights(path, weights_sha256(path), published_sha256=spec.expected_sha256)
