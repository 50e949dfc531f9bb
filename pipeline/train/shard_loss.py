"""FSENet's loss on this process's share of a global batch (one process: plain FSENet + loss)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from model import PART_TERMS, FSENet, LossPart, combine_loss_parts, fsenet_loss_parts
from pipeline.config import Config
from pipeline.data.batching import Batch
from pipeline.data.samples import VideoSample
from pipeline.train.distributed import DistributedContext


def _loss_parts(model: FSENet, batch: Batch, config: Config, amp: torch.dtype | None,
                device: str) -> dict[str, LossPart]:
    with torch.autocast(device_type=torch.device(device).type, dtype=amp or torch.bfloat16, enabled=amp is not None):
        output = model(batch.features, batch.padding_mask, batch.face_mask)
    supervision = config.model.supervision
    return fsenet_loss_parts(
        output,
        config.model,
        point_labels=batch.point_labels if supervision != "video" or batch.point_labels.mask.any() else None,
        video_labels=batch.video_labels,
        segment_masks=batch.segment_masks if supervision == "full" else None,
    )


def _loss(model: FSENet, batch: Batch, config: Config, amp: torch.dtype | None, device: str) -> dict[str, torch.Tensor]:
    return combine_loss_parts(_loss_parts(model, batch, config, amp, device), config.model)


class ShardLoss(nn.Module):
    """FSENet and its loss on this process's share of a global batch, as one module.

    Every loss term is a sum over videos or snippets divided by a count over the batch
    (videos; labelled snippets; videos with a PSSC term), and nothing else couples the
    videos of a batch (PSSC's sets and prototypes are per video). So each process divides
    its shard's sums by the counts of the whole global batch (summed over the processes
    here, in the forward pass): the terms of all shards add up to exactly the terms one
    process computes on the global batch. `weight` 0 makes a stand-in shard count for
    nothing. For one process this is plain FSENet + fsenet_loss.

    DistributedDataParallel wraps this module rather than FSENet, so that its outputs
    are the loss terms alone: parameters the configured loss never reaches (GSP under
    video supervision, ...) then count as unused instead of being waited for.
    """

    def __init__(self, model: FSENet, config: Config, amp: torch.dtype | None, distributed: DistributedContext):
        super().__init__()
        self.model = model
        self.config = config
        self.amp = amp
        self.distributed = distributed

    def forward(self, batch: Batch, weight: float = 1.0) -> dict[str, torch.Tensor]:
        parts = _loss_parts(self.model, batch, self.config, self.amp, self.distributed.device)
        if weight != 1.0:
            parts = {name: LossPart(part.total * weight, part.count * weight) for name, part in parts.items()}
        counts = self.distributed.sum_over_ranks(torch.stack([parts[name].count for name in PART_TERMS]))
        return combine_loss_parts(parts, self.config.model, dict(zip(PART_TERMS, counts, strict=True)))


def own_shard(global_batch: list[VideoSample], distributed: DistributedContext) -> tuple[list[VideoSample], float]:
    """This process's share of a global batch and its loss weight (1).

    A process whose share is empty (a batch with fewer videos than processes) runs the
    batch's first video with weight 0: it joins the gradient all-reduce and adds nothing.
    """
    shard = distributed.shard(global_batch)
    return (shard, 1.0) if shard else (global_batch[:1], 0.0)


def wrap_for_processes(step_loss: ShardLoss, distributed: DistributedContext) -> nn.Module:
    """DistributedDataParallel around `step_loss` when several processes train; else itself."""
    if not distributed.is_distributed:
        return step_loss
    device = torch.device(distributed.device)
    # static_graph: the same parameters take part in every step (the config decides which)
    return DistributedDataParallel(
        step_loss, device_ids=[device.index] if device.type == "cuda" else None, static_graph=True
    )


def dropout_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of the dropout draws of one process in one epoch (several processes only)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, dtype=np.uint64)[0] >> 1)
