"""Turn the user's --device choice into a torch device string."""

from __future__ import annotations


class DeviceError(Exception):
    pass


def resolve_device(choice: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'; 'cuda' without one is an error."""
    import torch  # imported here: commands that never touch a model start faster

    if choice == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if choice == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise DeviceError(f"--device {choice}: no CUDA GPU is usable here; pass --device cpu or auto")
    index = int(choice.split(":", 1)[1]) if ":" in choice else 0
    if index >= torch.cuda.device_count():
        raise DeviceError(f"--device {choice}: only {torch.cuda.device_count()} GPU(s) here")
    return choice
