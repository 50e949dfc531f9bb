"""FSENet: face-guided sentiment boundary enhancement for point-supervised TSL.

Public API:
    FSENetConfig (+ BSPGConfig, PSSCConfig, LossConfig)  settings with method.md defaults
    FSENet, FSENetOutput                                  the model (tensors in, tensors out)
    fsenet_loss                                           every loss term, incl. "total"
    fsenet_loss_parts, combine_loss_parts, LossPart       the terms as (sum, count), for sharded batches
    PointLabels, FrameLabels, make_frame_labels           supervision containers / targets
    bspg_pseudo_labels, hard_pseudo_labels,
    point_only_labels, segment_frame_labels               frame-target generators
    pssc_loss, focal_bce, video_base_loss                 individual losses
    masked_topk_mean                                      padding-aware top-k pooling
"""

import importlib

from model.config import BSPGConfig, FSENetConfig, LossConfig, PSSCConfig

# name -> the module that defines it, imported on first use: the settings above load
# without torch (every config load needs them), the model and its losses with it.
_LAZY = {
    **dict.fromkeys(("FrameLabels", "PointLabels", "bspg_pseudo_labels", "hard_pseudo_labels", "point_only_labels",
                     "segment_frame_labels"), "model.bspg"),
    **dict.fromkeys(("FSENet", "FSENetOutput"), "model.fsenet"),
    **dict.fromkeys(("LOSS_TERMS", "PART_TERMS", "LossPart", "combine_loss_parts", "focal_bce", "fsenet_loss",
                     "fsenet_loss_parts", "make_frame_labels", "video_base_loss"), "model.losses"),
    "pssc_loss": "model.pssc",
    "masked_topk_mean": "model.temporal_pooling",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")

__all__ = [
    "BSPGConfig",
    "FSENet",
    "FSENetConfig",
    "FSENetOutput",
    "FrameLabels",
    "LOSS_TERMS",
    "LossConfig",
    "LossPart",
    "PART_TERMS",
    "PSSCConfig",
    "PointLabels",
    "bspg_pseudo_labels",
    "combine_loss_parts",
    "focal_bce",
    "fsenet_loss",
    "fsenet_loss_parts",
    "hard_pseudo_labels",
    "make_frame_labels",
    "masked_topk_mean",
    "point_only_labels",
    "pssc_loss",
    "segment_frame_labels",
    "video_base_loss",
]
