"""Where the visual stream's I3D runs: in torch, or exported once to ONNX and run by
OpenVINO or onnxruntime on the CPU (`visual.runtime`).

The exported graph is the whole network half (extractors/i3d.py `ClipFeatureNet`): the
decoder's uint8 clips (B, F, S, S, 3) in, the (B, D) float32 features out, normalization,
the BatchNorm-folded I3D and its pooling included. Exporting needs torch's exporter and
the `onnx` package and takes a few seconds, so it is done once per weights and settings: the
file is kept in `exported_network_dir()`
($FSENET_CACHE_DIR/exported, else $XDG_CACHE_HOME/fsenet/exported, else
~/.cache/fsenet/exported), named by a hash of everything that decides its numbers
(`ExportSpec`: the weights' identity, i.e. the checkpoint's sha256 or the seed of random
weights; the layer, clip shape, mean and std; the torch and pytorchvideo versions). A
cache folder that cannot be written costs an export every run, nothing more.

The runtimes compute the same function as torch, in fp32 (the float sums reordered) or
in bf16 where `visual.precision` resolves to it (as torch's bf16 does): features agree
with torch's fp32 features within cosine 0.999 per snippet (tests/extractors/
test_i3d_runtime.py), so the runtime is a runtime field, not part of the stream's identity.

OpenVINO's package import also imports its model converter, whose telemetry writes
~/intel and sends a usage event on import; only the runtime is used here, so the
converter is held back while openvino loads (`_import_openvino`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cache.atomic import atomic_write_bytes
from extractors.base import ExtractorSettingsError
from extractors.weights import fsenet_cache_dir

if TYPE_CHECKING:
    from extractors.i3d import ClipFeatureNet

RUNTIMES = ("auto", "torch", "openvino", "onnxruntime")
EXPORTED_RUNTIMES = ("openvino", "onnxruntime")
EXPORTER_PACKAGES = ("onnx",)  # what torch.onnx.export (TorchScript exporter) needs
EXPORT_FORMAT = 1  # bumped when ClipFeatureNet or the export call changes the graph


def installed(package: str) -> bool:
    """Can `package` be imported here (looked up, not imported)? A package set to None in
    sys.modules (Python's way to block an import) counts as missing."""
    if package in sys.modules:
        return sys.modules[package] is not None
    return importlib.util.find_spec(package) is not None


def _missing(setting: str, package: str) -> ExtractorSettingsError:
    return ExtractorSettingsError(
        f"{setting} needs the {package} package: pip install {package} (or set visual.runtime=torch)"
    )


def resolve_runtime(choice: str, device: str) -> str:
    """The runtime `visual.runtime=choice` means on `device`. auto: OpenVINO on the CPU where
    it and the exporter are installed (the fastest on CPU, docs/benchmarks.md), else torch.
    Raises ExtractorSettingsError (one line: the package and its install command) for an
    exported runtime that is not installed, or asked for off the CPU."""
    if choice not in RUNTIMES:
        raise ExtractorSettingsError(f"visual.runtime must be one of {', '.join(RUNTIMES)}, got {choice!r}")
    if choice == "auto":
        ready = all(installed(package) for package in ("openvino", *EXPORTER_PACKAGES))
        return "openvino" if device == "cpu" and ready else "torch"
    if choice == "torch":
        return choice
    if device != "cpu":
        raise ExtractorSettingsError(
            f"visual.runtime={choice} runs on the CPU; use visual.runtime=torch (or auto) on {device}"
        )
    for package in (choice, *EXPORTER_PACKAGES):
        if not installed(package):
            raise _missing(f"visual.runtime={choice}", package)
    return choice


@dataclass(frozen=True)
class ExportSpec:
    """Everything that decides the exported graph's numbers (shapes in pixels and frames)."""

    weights: dict  # ResolvedWeights.identity(): the checkpoint's sha256, or random weights' seed
    layer: str
    frames_per_clip: int
    crop_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def file_name(self) -> str:
        """e.g. i3d_r50-head_pool-8x256-0123456789abcdef.onnx: readable, and keyed by a
        sha256 of the spec, the export format and the torch and pytorchvideo versions
        (random weights and the exporter's graph depend on them)."""
        versions = {package: importlib.metadata.version(package) for package in ("torch", "pytorchvideo")}
        key = json.dumps({**asdict(self), "format": EXPORT_FORMAT, **versions}, sort_keys=True, default=list)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return f"i3d_r50-{self.layer}-{self.frames_per_clip}x{self.crop_size}-{digest}.onnx"


def exported_network_dir() -> Path:
    """Where exported networks are kept (relocatable with FSENET_CACHE_DIR; see above)."""
    return fsenet_cache_dir() / "exported"


def exported_network(spec: ExportSpec, build: Callable[[], ClipFeatureNet]) -> Path | bytes:
    """The ONNX model for `spec`: its file in exported_network_dir() (exported now from
    `build()` when not there yet), or the model's bytes when that folder cannot be written."""
    path = exported_network_dir() / spec.file_name()
    if path.is_file():
        return path
    for package in EXPORTER_PACKAGES:
        if not installed(package):
            raise _missing("exporting I3D for visual.runtime=openvino/onnxruntime", package)
    from extractors.i3d import export_onnx_bytes

    model = export_onnx_bytes(build(), spec.frames_per_clip, spec.crop_size)
    try:
        atomic_write_bytes(path, model)
    except OSError:  # a read-only cache folder: exported again next run
        return model
    return path


def _import_openvino():
    """openvino, imported without its model converter (openvino.tools.ovc), whose import
    runs telemetry that writes ~/intel; a converter imported before stays as it was."""
    blocked = "openvino.tools.ovc" not in sys.modules
    if blocked:
        sys.modules["openvino.tools.ovc"] = None  # makes `import openvino.tools.ovc` fail, which openvino allows
    try:
        import openvino
    finally:
        if blocked:
            del sys.modules["openvino.tools.ovc"]
    return openvino


class OpenVinoClipNet:
    """The exported network compiled by OpenVINO for this CPU (latency mode: one request
    uses every thread). __call__: (B, F, S, S, 3) uint8 clips -> (B, D) float32."""

    def __init__(self, model: Path | bytes, precision: str, threads: int):
        if not installed("openvino"):
            raise _missing("visual.runtime=openvino", "openvino")
        openvino = _import_openvino()
        core = openvino.Core()
        network = core.read_model(str(model)) if isinstance(model, Path) else core.read_model(model, b"")
        config = {
            "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._request = core.compile_model(network, "CPU", config).create_infer_request()

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        return np.array(self._request.infer({0: clips})[0], dtype=np.float32)


class OnnxRuntimeClipNet:
    """The exported network in an onnxruntime session on the CPU, in fp32.
    __call__: (B, F, S, S, 3) uint8 clips -> (B, D) float32."""

    def __init__(self, model: Path | bytes, threads: int):
        if not installed("onnxruntime"):
            raise _missing("visual.runtime=onnxruntime", "onnxruntime")
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # else its import writes under ~/.cache/Microsoft
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        source = str(model) if isinstance(model, Path) else model
        self._session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run(None, {"clips": clips})[0], dtype=np.float32)
