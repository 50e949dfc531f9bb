"""Where an extractor's checkpoint comes from, and how it is identified in the cache.

The rule every stream with weights follows: a path in config wins; else the file is
looked up in torch.hub's standard cache ($TORCH_HOME/hub/checkpoints, relocatable with
TORCH_HOME), downloaded there when a URL is known and the network answers; else the run
stops before any work with a message that says where to put the file -- unless the user
chose random weights (--random-weights), which are then recorded in every cache entry.
The sha256 of the file is the weights' identity: features from other weights never mix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


def hub_checkpoint_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


_HASHES: dict[tuple[str, int, float], str] = {}


def _sha256_cached(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


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
    return ResolvedWeights(path, _sha256_cached(path), published_sha256=spec.expected_sha256)
