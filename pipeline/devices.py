"""Where and how the models run: the user's --device choice, the autocast dtype, CPU threads.

Shared ground of every stage that runs a model (extract, train, evaluate, localize).
"""

from __future__ import annotations

from extractors.hardware import available_cores, native_bf16

AMP_CHOICES = ("auto", "bfloat16", "float16", "none")


class DeviceError(Exception):
    pass


def resolve_device(choice: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'; 'cuda' without one is an error."""
    if choice == "cpu":  # no torch needed to say so
        return "cpu"
    import torch  # imported here: commands that never touch a model start faster

    available = torch.cuda.is_available()
    if choice == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise DeviceError(f"--device {choice}: no CUDA GPU is usable here; pass --device cpu or auto")
    index = int(choice.split(":", 1)[1]) if ":" in choice else 0
    if index >= torch.cuda.device_count():
        raise DeviceError(f"--device {choice}: only {torch.cuda.device_count()} GPU(s) here")
    return choice


def autocast_dtype(amp_dtype: str, device: str, setting: str = "train.amp_dtype"):
    """The torch autocast dtype for the value `amp_dtype` of the setting `setting`
    (train.amp_dtype, infer.amp_dtype) on `device`; None: full precision.

    auto: bf16 where the hardware runs it natively (CUDA with bf16; CPUs with AVX512-BF16
    or AMX), else full precision. float16 only on CUDA (DeviceError elsewhere).
    """
    import torch

    if amp_dtype == "none":
        return None
    if amp_dtype == "auto":
        return torch.bfloat16 if native_bf16(device) else None
    if amp_dtype == "float16":
        if torch.device(device).type != "cuda":
            raise DeviceError(f"{setting}=float16 needs a CUDA device; use bfloat16, auto or none on CPU")
        return torch.float16
    return torch.bfloat16


def set_cpu_threads(requested: int, processes_here: int = 1) -> None:
    """`requested` torch threads; 0: this process's share of the cores it may use."""
    import torch

    torch.set_num_threads(requested or max(1, available_cores() // processes_here))


def precision_name(dtype) -> str:
    """"bf16", "fp16" or "fp32" for an autocast dtype (None: full precision)."""
    return {"torch.bfloat16": "bf16", "torch.float16": "fp16"}.get(str(dtype), "fp32")


def describe_device(device: str) -> str:
    """"cpu", or "cuda (NVIDIA H200)" / "cuda:1 (...)" with the GPU's name, for people."""
    if not device.startswith("cuda"):
        return device
    import torch

    index = int(device.split(":", 1)[1]) if ":" in device else 0
    return f"{device} ({torch.cuda.get_device_name(index)})"


def device_line(device: str, precision: str) -> str:
    """What a stage says before it computes: "device: cuda (NVIDIA H200), bf16"."""
    return f"device: {describe_device(device)}, {precision}"
