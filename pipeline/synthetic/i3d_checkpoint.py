"""An I3D R50 checkpoint in the published format (I3D_8x8_R50.pyth) with random values
shaped like a trained network's, for the tests and `bench visual` where the real file
cannot be downloaded.

pytorchvideo's own random init zeroes the last BatchNorm of every residual branch, so a
network built with it computes little more than its stem and shortcuts; here every
branch is live (BatchNorm statistics and scales drawn, small at the end of each branch as
in trained nets), which makes comparisons of runtimes and precisions as demanding as with
the real weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from extractors.i3d import build_i3d_r50


def random_i3d_state(seed: int) -> dict[str, torch.Tensor]:
    """Every tensor of the I3D R50 state dict with random values (BN statistics included)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in build_i3d_r50().state_dict().items():
        if not value.is_floating_point():  # num_batches_tracked
            state[name] = value
        elif name.endswith("running_var"):
            state[name] = torch.rand(value.shape, generator=generator) + 0.5
        elif name.endswith("running_mean") or ("norm" in name and name.endswith("bias")):
            state[name] = 0.1 * torch.randn(value.shape, generator=generator)
        elif "norm" in name:  # BN scale; small at the end of each residual branch, as trained nets have
            low, width = (0.1, 0.2) if "norm_c" in name else (0.5, 0.5)
            state[name] = low + width * torch.rand(value.shape, generator=generator)
        elif value.dim() == 5:  # Conv3d weights, He-scaled
            state[name] = torch.randn(value.shape, generator=generator) * (2.0 / value[0].numel()) ** 0.5
        else:  # the classifier
            state[name] = 0.01 * torch.randn(value.shape, generator=generator)
    return state


def write_random_i3d_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write a checkpoint in the published I3D_8x8_R50.pyth layout, random values; returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 196, "model_state": random_i3d_state(seed), "cfg": "MODEL:\n  ARCH: i3d\n"}, path)
    return path
