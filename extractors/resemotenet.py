"""ResEmoteNet (Roy et al., 2024): the facial-emotion network whose fc1 layer embeds faces.

Facts taken from the authors' repository, github.com/ArnabKumarRoy02/ResEmoteNet
(read at commit fabbe680, 2025-02-03; layer names and shapes carried over so that their
published checkpoints load as is, the code written here):

- `approach/ResEmoteNet.py`: three conv blocks conv3x3 3->64->128->256 (padding 1, with
  bias), each BatchNorm + ReLU + 2x2 max pooling (dropout 0.2 after the first two); a
  squeeze-excitation block on 256 channels (reduction 16, two bias-free linears `se.fc.0`
  and `se.fc.2`); three residual blocks 256->512->1024->2048, stride 2, each
  conv3x3-BN-ReLU-conv3x3-BN plus a 1x1 conv + BN shortcut (`shortcut.0`, `shortcut.1`),
  all convs with bias; global average pooling; fc1 2048->1024, fc2 1024->512,
  fc3 512->256 (each ReLU then dropout 0.5), fc4 256->K. K was 6 at commit 9d1805a and
  is 7 since fb67963 ("updated class number"); here K is read from the checkpoint.
- `eval_image.py`, `eval_livecam.py`, `cross_db_test.py`: checkpoints are dicts with the
  weights under 'model_state_dict', loaded with torch.load(weights_only=True); the
  7-class order is happy, surprise, sad, anger, disgust, fear, neutral (the same as
  `data_preprocessing/data_csv.py`'s label mapping).
- `train_files/ResEmoteNet_train.py` and `eval_image.py`: the input transform is
  Resize((64, 64)) on a PIL RGB image, Grayscale(num_output_channels=3), ToTensor,
  Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]).
  `preprocess_faces` reproduces it with PIL (bilinear antialiased resize, ITU-R 601-2
  luma), without torchvision's transform objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from extractors.resemotenet_facts import EMBEDDING_DIM, FER2013_LABELS, SIX_CLASS_LABELS  # noqa: F401 (their names here too)
from extractors.weights import inflated_size_problem

INPUT_SIDE = 64  # pixels; faces are resized to INPUT_SIDE x INPUT_SIDE
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STATE_DICT_KEY = "model_state_dict"


class SqueezeExcitation(nn.Module):
    """Channel re-weighting: (N, C, H, W) -> (N, C, H, W). Parameters `fc.0`, `fc.2` (no bias)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.fc(self.avg_pool(x).flatten(1))
        return x * weights[:, :, None, None]


class ResidualBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN plus a projected shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, padding=0),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResEmoteNet(nn.Module):
    """Faces (N, 3, 64, 64), normalized as `preprocess_faces` does -> (embedding, logits).

    embedding: (N, 1024) fc1 activations after its ReLU (what the network passes on to
    fc2); logits: (N, num_classes) fc4 outputs (softmax gives emotion probabilities).
    """

    def __init__(self, num_classes: int = len(FER2013_LABELS)):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(128)
        self.conv3 = nn.Conv2d(128, 256, kernel_size=3, padding=1)
        self.bn3 = nn.BatchNorm2d(256)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcitation(256)
        self.res_block1 = ResidualBlock(256, 512, stride=2)
        self.res_block2 = ResidualBlock(512, 1024, stride=2)
        self.res_block3 = ResidualBlock(1024, 2048, stride=2)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Linear(2048, EMBEDDING_DIM)
        self.fc2 = nn.Linear(EMBEDDING_DIM, 512)
        self.fc3 = nn.Linear(512, 256)
        self.dropout1 = nn.Dropout(0.2)
        self.dropout2 = nn.Dropout(0.5)
        self.fc4 = nn.Linear(256, num_classes)

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.dropout1(F.max_pool2d(self.relu(self.bn1(self.conv1(faces))), 2))
        x = self.dropout1(F.max_pool2d(self.relu(self.bn2(self.conv2(x))), 2))
        x = F.max_pool2d(self.relu(self.bn3(self.conv3(x))), 2)
        x = self.se(x)
        x = self.res_block3(self.res_block2(self.res_block1(x)))
        x = self.pool(x).flatten(1)
        embedding = F.relu(_linear(self.fc1, x))
        x = self.dropout2(F.relu(_linear(self.fc2, self.dropout2(embedding))))
        x = self.dropout2(F.relu(_linear(self.fc3, x)))
        return embedding, _linear(self.fc4, x)


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`layer(x)`; on the CPU computed in float64 and rounded to float32, because the CPU's
    float32 matrix product splits its sums differently with the number of torch threads
    (fc1 differed by ~1e-8 between 1 and 2 threads) and features must not depend on how
    many cores a machine or a Ray worker has. The convolutions do not vary; the head is
    small (a few MFLOP per face)."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return layer(x)
    return F.linear(x.double(), layer.weight.double(), layer.bias.double()).float()


class CheckpointFormatError(ValueError):
    """A file that is not a ResEmoteNet checkpoint in the authors' format."""


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """The weights of a ResEmoteNet checkpoint (loaded on the CPU, tensors only).

    Accepts the authors' format, {'model_state_dict': state_dict, ...} (other entries,
    such as an optimizer state, are ignored), and a bare state dict (what their training
    script saves with torch.save(model.state_dict())).
    """
    bomb = inflated_size_problem(Path(path))  # before torch.load inflates anything
    if bomb:
        raise CheckpointFormatError(f"{path}: cannot be read as a PyTorch checkpoint ({bomb})")
    try:
        loaded = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip or unsafe-type errors: one line for the user
        raise CheckpointFormatError(
            f"{path}: cannot be read as a PyTorch checkpoint ({type(error).__name__}); "
            "expected ResEmoteNet weights saved with torch.save"
        ) from None
    if isinstance(loaded, Mapping) and STATE_DICT_KEY in loaded:
        loaded = loaded[STATE_DICT_KEY]
    if not isinstance(loaded, Mapping) or "fc4.weight" not in loaded:
        raise CheckpointFormatError(
            f"{path}: not a ResEmoteNet checkpoint (no '{STATE_DICT_KEY}' entry with fc4.weight); "
            "use one of the authors' published checkpoints"
        )
    return {key: value for key, value in loaded.items() if isinstance(value, torch.Tensor)}


def num_classes_in(state_dict: Mapping[str, torch.Tensor]) -> int:
    """K, the number of emotion classes: fc4's output width."""
    return int(state_dict["fc4.weight"].shape[0])


def load_resemotenet(path: Path | str) -> ResEmoteNet:
    """A ResEmoteNet with the checkpoint's weights, K taken from it, in eval mode on the CPU.

    Raises CheckpointFormatError when names or shapes differ from the published layout.
    """
    state_dict = read_state_dict(path)
    model = ResEmoteNet(num_classes_in(state_dict))
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise CheckpointFormatError(
            f"{path}: its weights do not match the ResEmoteNet layout ({first})"
        ) from None
    return model.eval()


def random_resemotenet(num_classes: int, seed: int) -> ResEmoteNet:
    """A ResEmoteNet with PyTorch's default initialisation from `seed`, in eval mode."""
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = ResEmoteNet(num_classes)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval()


def preprocess_faces(crops: Sequence[np.ndarray]) -> torch.Tensor:
    """Face crops ((h, w, 3) uint8 RGB, any size) -> (N, 3, 64, 64) float32 network input.

    As the authors' transform: bilinear (antialiased) resize of the RGB crop to 64x64,
    PIL 'L' grayscale (L = 0.299 R + 0.587 G + 0.114 B), replicated to 3 channels,
    scaled to [0, 1] and normalized per channel with the ImageNet mean and std.
    """
    batch = np.empty((len(crops), INPUT_SIDE, INPUT_SIDE), dtype=np.float32)
    for index, crop in enumerate(crops):
        image = Image.fromarray(np.ascontiguousarray(crop))  # (h, w, 3) uint8 -> mode RGB
        gray = image.resize((INPUT_SIDE, INPUT_SIDE), Image.BILINEAR).convert("L")
        batch[index] = np.asarray(gray, dtype=np.float32) / 255.0
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[None, :, None, None]
    gray = torch.from_numpy(batch)[:, None, :, :].expand(-1, 3, -1, -1)
    return (gray - mean) / std
