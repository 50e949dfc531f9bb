"""The I3D R50 network the visual stream owns: pytorchvideo's `i3d_r50` builder, its
published Kinetics-400 checkpoint, and a feature head that stops before the classifier.

Facts this module relies on (read from the sources, not guessed):

- pytorchvideo 0.1.5, `pytorchvideo/models/hub/resnet.py`: `i3d_r50` = `create_resnet`
  with stem kernel (5, 7, 7), a MaxPool3d (2, 1, 1) after the first stage, temporal
  kernels (3,1,1) / [(3,1,1),(1,1,1)] x2 / [(1,1,1),(3,1,1)] in conv_a, and the checkpoint
  URL https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/I3D_8x8_R50.pyth,
  loaded as `checkpoint["model_state"]`.
- `create_resnet` defaults: head = AvgPool3d kernel (4, 7, 7), stride 1 (in
  `create_res_basic_head`), dropout, Linear 2048 -> 400, then an adaptive average over
  the remaining positions. So for an input of 8 frames the classifier sees
  mean-over-positions(AvgPool3d(res5)) -- a 2048-d vector -- and, the projection being
  linear, logits = proj(that vector). `I3DFeatureNet(layer="head_pool")` returns exactly
  that vector.
- The model zoo table (pytorchvideo docs/model_zoo.md): I3D R50, 8x8, top-1 73.27,
  37.53 GFLOPs (at 8 x 224 x 224), 28.04 M parameters.

The module imports torch and pytorchvideo at import time (it defines torch modules; the
import costs seconds, most of it pytorchvideo pulling in torchvision); `extractors.visual`
imports it only when the network is built, and the checkpoint's name and URL live in
`extractors.weights` (I3D_CHECKPOINT), so an identity is known without it.
Only `pytorchvideo.models` is imported, never `pytorchvideo.transforms` (which breaks on
current torchvision); the preprocessing is done in `extractors.visual`.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from extractors.weights import I3D_CHECKPOINT, WeightsError, inflated_size_problem

with warnings.catch_warnings():  # pytorchvideo's package init touches deprecated torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from pytorchvideo.models.hub.resnet import i3d_r50

# Feature layers: name -> (number of leading `Net.blocks` to run, feature width D).
# blocks: 0 stem, 1 res2, 2 MaxPool3d (2,1,1), 3 res3, 4 res4, 5 res5, 6 head.
FEATURE_LAYERS: dict[str, tuple[int, int]] = {
    "head_pool": (6, 2048),  # the checkpoint's own head pooling: what its classifier projects
    "res5": (6, 2048),  # mean of res5 over time and space
    "res4": (5, 1024),
    "res3": (4, 512),
    "res2": (2, 256),
}


def build_i3d_r50() -> nn.Module:
    """The Kinetics-400 I3D R50 architecture (pytorchvideo builder, its own random init)."""
    return i3d_r50(pretrained=False)


def load_i3d_checkpoint(model: nn.Module, path: Path) -> None:
    """Load a checkpoint in the published format ({'model_state': state_dict, ...}).

    torch.load runs with weights_only=True. Raises WeightsError (naming the file) when the
    file is not a torch checkpoint or does not hold exactly this architecture's tensors.
    """
    bomb = inflated_size_problem(path)  # before torch.load inflates anything
    if bomb:
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({bomb}); download {I3D_CHECKPOINT.url} again")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(
            f"{path}: not a readable PyTorch checkpoint ({first_line}); download "
            f"{I3D_CHECKPOINT.url} again"
        ) from None
    state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise WeightsError(
            f"{path}: expected a pytorchvideo checkpoint (a dict with 'model_state'); "
            f"use {I3D_CHECKPOINT.file_name} from {I3D_CHECKPOINT.url}"
        )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong_shape:
        details = []
        if missing:
            details.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong_shape:
            details.append(f"{len(wrong_shape)} of another shape (e.g. {wrong_shape[0]})")
        raise WeightsError(
            f"{path}: not an I3D R50 Kinetics-400 checkpoint (tensors: {', '.join(details)}); "
            f"use {I3D_CHECKPOINT.file_name} from {I3D_CHECKPOINT.url}"
        )
    model.load_state_dict(state)


_CONV_NORM_PAIRS = (
    ("conv", "norm"),  # stem
    ("conv_a", "norm_a"),  # bottleneck
    ("conv_b", "norm_b"),
    ("conv_c", "norm_c"),
    ("branch1_conv", "branch1_norm"),  # projection shortcut
)


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm3d into the Conv3d before it (in place; returns module).

    pytorchvideo's blocks skip a norm that is None, so the folded norm is set to None.
    Same numbers up to float rounding, one memory pass less per convolution.
    """
    for child in module.children():
        fold_batch_norms(child)
    for conv_name, norm_name in _CONV_NORM_PAIRS:
        conv, norm = getattr(module, conv_name, None), getattr(module, norm_name, None)
        if isinstance(conv, nn.Conv3d) and isinstance(norm, nn.BatchNorm3d):
            setattr(module, conv_name, fuse_conv_bn_eval(conv, norm))
            setattr(module, norm_name, None)
    return module


def use_inplace_relu(module: nn.Module) -> nn.Module:
    """Make every ReLU in `module` work in place (inference only: no autograd to feed)."""
    for child in module.modules():
        if isinstance(child, nn.ReLU):
            child.inplace = True
    return module


class I3DFeatureNet(nn.Module):
    """The leading blocks of an I3D R50 plus a pooling: clips -> one vector per clip.

    forward(clips (B, 3, F, H, W) normalized RGB in any float dtype) -> (B, D) float32.
    layer "head_pool": the head's AvgPool3d (4, 7, 7), stride 1, averaged over its output
    positions (needs F >= 8 and H, W >= 193); "resN": stage N's output averaged over
    time and space.
    """

    def __init__(self, model: nn.Module, layer: str):
        super().__init__()
        if layer not in FEATURE_LAYERS:
            raise ValueError(f"unknown I3D feature layer {layer!r}; choose from {', '.join(FEATURE_LAYERS)}")
        num_blocks, self.output_dim = FEATURE_LAYERS[layer]
        self.layer = layer
        self.trunk = nn.Sequential(*list(model.blocks)[:num_blocks])
        self.head_pool = model.blocks[6].pool if layer == "head_pool" else None

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        maps = self.trunk(clips).float()  # (B, D, t, h, w): small, pooled in float32
        if self.head_pool is not None:
            maps = self.head_pool(maps)
        return maps.mean(dim=(2, 3, 4))


class ClipFeatureNet(nn.Module):
    """The visual stream's whole network input to output, as one graph (what is exported
    for OpenVINO and onnxruntime): uint8 RGB clips (B, F, S, S, 3) -> (B, D) float32.

    Pixels are normalized as `extractors.visual` does for torch, (x - 255 mean) / (255 std)
    per channel, then run through `feature_net` (an I3DFeatureNet, BatchNorms folded).
    """

    def __init__(self, feature_net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.feature_net = feature_net
        shape = (1, 3, 1, 1, 1)
        self.register_buffer("pixel_offset", torch.tensor([255.0 * m for m in mean]).view(shape))
        self.register_buffer("pixel_scale", torch.tensor([1.0 / (255.0 * s) for s in std]).view(shape))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        pixels = clips.permute(0, 4, 1, 2, 3).float()  # (B, 3, F, S, S)
        return self.feature_net((pixels - self.pixel_offset) * self.pixel_scale)


def export_onnx_bytes(network: ClipFeatureNet, frames_per_clip: int, crop_size: int) -> bytes:
    """`network` as an ONNX model, its batch size left open: input "clips" (B, F, S, S, 3)
    uint8, output "features" (B, D) float32. torch's TorchScript exporter (it needs the onnx
    package): about 2 s for I3D, where the dynamo exporter takes 10-20 s and onnxscript."""
    import io

    example = torch.zeros((2, frames_per_clip, crop_size, crop_size, 3), dtype=torch.uint8)
    model = io.BytesIO()
    with warnings.catch_warnings():  # the exporter warns about its own deprecation and internals
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network.eval(), (example,), model, input_names=["clips"], output_names=["features"], dynamo=False,
            dynamic_axes={"clips": {0: "batch"}, "features": {0: "batch"}}, opset_version=17,
        )
    return model.getvalue()
