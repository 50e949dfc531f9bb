"""Videos of different lengths -> one padded batch of tensors for FSENet.

The dataset hands out one VideoSample per video (features on that video's snippet grid,
points, segments, video labels); this module pads them to the longest video in the
batch, with a padding mask the model and losses respect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from model import PointLabels
from pipeline.data.samples import VideoSample


@dataclass
class Batch:
    video_ids: list[str]
    features: dict[str, torch.Tensor]  # stream -> (B, T, D_s) float32
    padding_mask: torch.Tensor  # (B, T) bool, True at real snippets
    face_mask: torch.Tensor | None  # (B, T) float32
    point_labels: PointLabels  # (B, P) each
    video_labels: torch.Tensor  # (B, C) float32 multi-hot
    segment_masks: torch.Tensor  # (B, T, C) float32, 1 inside ground-truth segments (zeros when unknown)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            video_ids=self.video_ids,
            features={name: values.to(device, non_blocking=True) for name, values in self.features.items()},
            padding_mask=self.padding_mask.to(device),
            face_mask=self.face_mask.to(device) if self.face_mask is not None else None,
            point_labels=PointLabels(*(tensor.to(device) for tensor in self.point_labels)),
            video_labels=self.video_labels.to(device),
            segment_masks=self.segment_masks.to(device),
        )


def segment_snippet_mask(sample: VideoSample, num_classes: int) -> np.ndarray:
    """(T, C) float32: 1 where a snippet's centre lies inside a segment of class c."""
    mask = np.zeros((sample.num_snippets, num_classes), dtype=np.float32)
    if len(sample.segments) == 0:
        return mask
    centres = (np.arange(sample.num_snippets) + 0.5) * sample.snippet_seconds
    for start, end, class_index in sample.segments:
        mask[(centres >= start) & (centres < end), int(class_index)] = 1.0
    return mask


def crop_sample(sample: VideoSample, max_snippets: int, generator: torch.Generator) -> VideoSample:
    """A random window of at most `max_snippets` snippets (points and segments shifted).

    The video labels follow the crop: with points they are the classes of the points
    inside it, else (segments only) the classes of the segments left in it; video-level
    labels alone cannot be cropped and are kept."""
    if max_snippets <= 0 or sample.num_snippets <= max_snippets:
        return sample
    start = int(torch.randint(0, sample.num_snippets - max_snippets + 1, (1,), generator=generator))
    stop = start + max_snippets
    offset_seconds = start * sample.snippet_seconds
    inside = (sample.points[:, 0] >= start) & (sample.points[:, 0] < stop)
    points = sample.points[inside].copy()
    points[:, 0] -= start
    segments = sample.segments.copy()
    if len(segments):
        segments[:, :2] = np.clip(segments[:, :2] - offset_seconds, 0.0, max_snippets * sample.snippet_seconds)
        segments = segments[segments[:, 1] > segments[:, 0]]
    video_labels = sample.video_labels
    if len(sample.points) or len(sample.segments):
        present = points[:, 1] if len(sample.points) else segments[:, 2].astype(np.int64)
        video_labels = np.zeros_like(sample.video_labels)
        video_labels[np.unique(present)] = 1.0
    return replace(
        sample,
        video_labels=video_labels,
        features={name: values[start:stop] for name, values in sample.features.items()},
        face_mask=sample.face_mask[start:stop] if sample.face_mask is not None else None,
        duration_seconds=max_snippets * sample.snippet_seconds,
        points=points,
        point_seconds=sample.point_seconds[inside] - offset_seconds,
        segments=segments,
    )


def resident_features(samples: dict[str, VideoSample], streams: Sequence[str],
                      device: torch.device | str) -> dict[str, VideoSample]:
    """The samples with their feature arrays moved to `device` once (torch tensors), so
    that `collate` pads them there: on a GPU this replaces a host-side copy and transfer
    of the whole batch per step (tens of MB for TSL-300-sized videos) by device copies."""
    return {
        video_id: replace(
            sample, features={name: torch.as_tensor(sample.features[name]).to(device) for name in streams}
        )
        for video_id, sample in samples.items()
    }


def resident_bytes(samples: dict[str, VideoSample], streams: Sequence[str]) -> int:
    """Bytes that `resident_features` would put on the device."""
    return sum(sample.features[name].nbytes for sample in samples.values() for name in streams)


def collate(
    samples: Sequence[VideoSample], streams: Sequence[str], num_classes: int, device: torch.device | str = "cpu",
    pad_multiple: int = 1,
) -> Batch:
    """Pad `samples` to the longest one, rounded up to a multiple of `pad_multiple`
    snippets (few distinct batch shapes, so GPU kernels picked per shape are reused);
    streams in `streams` only. The features are padded on `device` (where they already
    are when `resident_features` put them there); the rest of the batch is built on the
    CPU (call `.to(device)` on the result)."""
    batch_size = len(samples)
    longest = max(sample.num_snippets for sample in samples)
    longest = -(-longest // pad_multiple) * pad_multiple
    most_points = max(1, max(len(sample.points) for sample in samples))
    features = {
        name: torch.zeros(batch_size, longest, samples[0].features[name].shape[1], device=device) for name in streams
    }
    padding_mask = torch.zeros(batch_size, longest, dtype=torch.bool)
    has_face = "face" in streams
    face_mask = torch.zeros(batch_size, longest) if has_face else None
    point_indices = torch.zeros(batch_size, most_points, dtype=torch.long)
    point_classes = torch.zeros(batch_size, most_points, dtype=torch.long)
    point_mask = torch.zeros(batch_size, most_points, dtype=torch.bool)
    video_labels = torch.zeros(batch_size, num_classes)
    segment_masks = torch.zeros(batch_size, longest, num_classes)
    for row, sample in enumerate(samples):
        length = sample.num_snippets
        for name in streams:
            features[name][row, :length] = torch.as_tensor(sample.features[name]).to(device, non_blocking=True)
        padding_mask[row, :length] = True
        if face_mask is not None:
            presence = sample.face_mask if sample.face_mask is not None else np.ones(length, np.float32)
            face_mask[row, :length] = torch.from_numpy(np.asarray(presence, dtype=np.float32))
        count = len(sample.points)
        if count:
            point_indices[row, :count] = torch.from_numpy(sample.points[:, 0])
            point_classes[row, :count] = torch.from_numpy(sample.points[:, 1])
            point_mask[row, :count] = True
        video_labels[row] = torch.from_numpy(sample.video_labels)
        segment_masks[row, :length] = torch.from_numpy(segment_snippet_mask(sample, num_classes))
    return Batch(
        video_ids=[sample.video_id for sample in samples],
        features=features,
        padding_mask=padding_mask,
        face_mask=face_mask,
        point_labels=PointLabels(point_indices, point_classes, point_mask),
        video_labels=video_labels,
        segment_masks=segment_masks,
    )


def length_sorted_batches(video_ids: Sequence[str], lengths: dict[str, int], batch_size: int) -> list[list[str]]:
    """Deterministic batches of similar length (for inference: less padding)."""
    ordered = sorted(video_ids, key=lambda video_id: (lengths[video_id], video_id))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def training_batches(
    lengths: Sequence[int], batch_size: int, bucket_batches: int, generator: torch.Generator
) -> list[list[int]]:
    """One epoch's batches of indices into `lengths` (snippets per video), in random order.

    With `bucket_batches` > 0 the shuffled videos are cut into buckets of
    batch_size * bucket_batches, each bucket sorted by length before it is cut into
    batches: videos of similar length share a batch, so little attention is spent on
    padding (attention costs T^2), while the epoch stays random. 0: plain random batches.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if bucket_batches <= 0:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    bucket = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), bucket):
        by_length = sorted(order[start : start + bucket], key=lambda index: lengths[index])
        batches += [by_length[i : i + batch_size] for i in range(0, len(by_length), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]
