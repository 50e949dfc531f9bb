"""The candidates of `bench visual` side by side: one 720p video through the visual stream
with each way of running I3D (torch fp32 / bf16, channels-last or not, onnxruntime,
OpenVINO fp32 / bf16, a 224-pixel crop), each row's features compared with the reference
row's (torch fp32 at the default crop: the path that was the default without native bf16).

Per candidate: the network alone on uint8 clips in memory, the whole stream (decoder
thread overlapped with the network, as `extract` runs it), what decoding and the network
would take in turn (decode alone + network alone: the cost of not overlapping them), and
the per-snippet cosine to the reference. A runtime that only reorders float math keeps
the stream's cache identity; a crop change does not (the identity's config changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from extractors.base import ExtractorSettingsError
from extractors.visual import VisualConfig, VisualExtractor
from pipeline.bench.doc import markdown_table
from pipeline.bench.visual_measure import measure_decode, measure_network, measure_visual_stream
from pipeline.config import Config

CANDIDATES: tuple[tuple[str, dict], ...] = (
    ("torch fp32, channels-last (reference; the default before, without native bf16)",
     {"runtime": "torch", "precision": "fp32"}),
    ("torch fp32, contiguous layout", {"runtime": "torch", "precision": "fp32", "channels_last": False}),
    ("torch bf16, channels-last (the default before, with native bf16)", {"runtime": "torch", "precision": "bf16"}),
    ("onnxruntime fp32", {"runtime": "onnxruntime", "precision": "fp32"}),
    ("OpenVINO fp32", {"runtime": "openvino", "precision": "fp32"}),
    ("OpenVINO bf16", {"runtime": "openvino", "precision": "bf16"}),
    ("OpenVINO fp32, crop 224", {"runtime": "openvino", "precision": "fp32", "crop_size": 224}),
    ("OpenVINO bf16, crop 224", {"runtime": "openvino", "precision": "bf16", "crop_size": 224}),
    ("OpenVINO bf16, decoded straight to short side 224, crop 224",
     {"runtime": "openvino", "precision": "bf16", "short_side": 224, "crop_size": 224}),
)
TOLERANCE = 0.999  # the least per-snippet cosine to the reference that keeps the cache identity


@dataclass
class CandidateResult:
    name: str
    settings: VisualConfig
    error: str = ""  # why it did not run (a runtime not installed)
    network_rate: float = 0.0  # video seconds per second, network alone
    stream_seconds: float = 0.0
    decode_seconds: float = 0.0
    duration: float = 0.0
    features: np.ndarray | None = field(default=None, repr=False)


def measure_candidate(name: str, settings: VisualConfig, video: Path, config: Config, device: str) -> CandidateResult:
    """One candidate's figures (the extractor built, timed, dropped)."""
    result = CandidateResult(name, settings)
    try:
        extractor = VisualExtractor(settings, config.decode, device, allow_random_weights=True)
    except ExtractorSettingsError as error:
        result.error = str(error)
        return result
    result.network_rate = config.grid.snippet_seconds / measure_network(extractor, batches=1)
    measured = measure_visual_stream(video, config, extractor, keep_features=True)
    result.decode_seconds = measure_decode(video, config, settings)
    result.stream_seconds, result.duration = measured["total"], measured["duration"]
    result.features = measured["features"]
    return result


def per_snippet_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, D), (T, D) -> (T,) cosine of each row pair."""
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def run_candidates(config: Config, base: VisualConfig, video: Path, device: str) -> list[CandidateResult]:
    """Every candidate on `video`, in CANDIDATES order (a printed line each)."""
    results = []
    for name, overrides in CANDIDATES:
        result = measure_candidate(name, replace(base, **overrides), video, config, device)
        results.append(result)
        if result.error:
            print(f"visual candidate {name}: not run ({result.error})")
        else:
            print(f"visual candidate {name}: {result.duration / result.stream_seconds:.2f}x real time, "
                  f"network alone {result.network_rate:.2f}x")
    return results


def _view(settings: VisualConfig) -> str:
    return f"{settings.short_side} / {settings.crop_size}"


def candidates_table(results: list[CandidateResult], reference_view: tuple[int, int]) -> str:
    """The markdown table of `results` (the first is the reference; `reference_view`: its
    crop size and short side, pixels)."""
    reference = results[0].features
    rows = []
    for r in results:
        if r.error:
            rows.append([r.name, r.settings.runtime, r.settings.precision, _view(r.settings), "-", "-", "-",
                         "-", f"not run: {r.error}"])
            continue
        cosine = per_snippet_cosine(reference, r.features).min() if reference is not None else float("nan")
        same = (r.settings.crop_size, r.settings.short_side) == reference_view
        identity = ("kept" if cosine >= TOLERANCE else "BEYOND tolerance") if same else "changes (crop)"
        in_turn = r.decode_seconds + r.duration / r.network_rate
        rows.append([
            r.name, r.settings.runtime, r.settings.precision, _view(r.settings), f"{r.network_rate:.2f}x",
            f"**{r.duration / r.stream_seconds:.2f}x**", f"{r.duration / in_turn:.2f}x", f"{cosine:.6f}", identity,
        ])
    return markdown_table(
        ["candidate", "runtime", "precision", "short side / crop", "network alone", "visual stream",
         "decode, then network", "cosine min", "cache identity"],
        rows,
    )
