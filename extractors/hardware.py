"""What this machine offers the models: usable CPU cores and native bf16 support.

Shared by the extractors (threads, precision) and by the pipeline's training and
inference (threads, autocast), so each asks the same question the same way.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def native_bf16(device: str) -> bool:
    """Does `device` run bf16 natively (CUDA with bf16; a CPU with AVX512-BF16 or AMX)?"""
    import torch  # here: asking about cores must not load torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return torch.backends.mkldnn.is_available() and any(check is not None and check() for check in checks)
