"""Model selection during training: validation loss, or validation mAP over the segments
of the validation videos (never the test split)."""

from __future__ import annotations

import torch

from model import FSENet
from pipeline.config import Config
from pipeline.data.batching import collate
from pipeline.data.samples import SentimentDataset
from pipeline.devices import autocast_dtype
from pipeline.infer.metrics import evaluate_detections
from pipeline.infer.predict import ground_truth_of, predict_scores, segments_from_scores
from pipeline.train.shard_loss import _loss


@torch.no_grad()
def validation_loss(model: FSENet, dataset: SentimentDataset, video_ids: list[str], config: Config,
                    device: str) -> float:
    """The mean total loss per video over `video_ids` (eval mode)."""
    model.eval()
    total, count = 0.0, 0
    streams, classes = config.model.streams, config.model.num_classes
    amp = autocast_dtype(config.infer.amp_dtype, device, "infer.amp_dtype")
    for start in range(0, len(video_ids), config.infer.batch_size):
        samples = [dataset.samples[v] for v in video_ids[start : start + config.infer.batch_size]]
        batch = collate(samples, streams, classes).to(device)
        total += float(_loss(model, batch, config, amp, device)["total"]) * len(samples)
        count += len(samples)
    return total / max(count, 1)


def validation_map(model: FSENet, dataset: SentimentDataset, video_ids: list[str], config: Config,
                   device: str) -> float:
    """Average mAP (TSL-300 protocol) of the model's segments on `video_ids`."""
    amp = autocast_dtype(config.infer.amp_dtype, device, "infer.amp_dtype")
    scores = predict_scores(model, dataset.samples, video_ids, device, config.postprocess, config.infer.batch_size, amp)
    predictions = segments_from_scores(scores, dataset.samples, config.postprocess, dataset.class_names)
    ground_truth = ground_truth_of(dataset.samples, video_ids, dataset.class_names)
    return evaluate_detections(predictions, ground_truth, labels=dataset.class_names).average_map
