"""FSENet: face-guided sentiment discovery with class activation heads.

Tensors in, tensors out: no file I/O, no device choice, no post-processing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import FSENetConfig
from model.fsd import (
    FaceCentricInteraction,
    FaceQuery,
    GlobalSentimentPerception,
    StreamProjection,
    zero_padding,
)
from model.streams import GSP_ORDER, GUIDE_STREAM, GUIDED_STREAMS
from model.temporal_pooling import masked_topk_mean


class FSENetOutput(NamedTuple):
    """What :class:`FSENet` returns; every tensor is zero at padded snippets.

    Attributes:
        cas: (B, T, C+1) float32 class activation sequence y in [0, 1]; channel C is
            non-sentiment.
        global_cas: (B, T, C+1) float32 y~ = [W_sent * y_{1:C}; (1 - W_sent) * y_{C+1}]
            (equal to ``cas`` when GSP is switched off).
        w_sent: (B, T) float32 sentiment intensity W_sent in [0, 1] (1 without GSP).
        embeddings: (B, T, E) float32 L2-normalised frame embeddings for PSSC.
        video_scores: (B, C+1) float32 mean of each class's top max(1, T_b // 8)
            CAS values over real snippets.
        padding_mask: (B, T) bool, True at real snippets (what the losses need).
    """

    cas: Tensor
    global_cas: Tensor
    w_sent: Tensor
    embeddings: Tensor
    video_scores: Tensor
    padding_mask: Tensor


class FSENet(nn.Module):
    """FSENet (FSD = FCI + GSP, CAS heads, PSSC embeddings).

    Args:
        config: the model's settings (only the architecture fields matter here).
        stream_dims: input width D_s of each stream, e.g.
            ``{"visual": 2048, "audio": 160, "face": 1024}``; must cover
            ``config.streams`` (extra names are ignored, so the widths of every
            cached stream can be passed and ``config.streams`` chooses).

    Streams: any subset of visual/audio/face holding visual or audio. Without a face
    stream FCI stage 1 is skipped (F' = F) and GSP sees [F_a; F_v]; with only one of
    visual/audio FCI stage 2 is skipped (F'' = F') and F_mix is that stream alone (width d).
    """

    def __init__(self, config: FSENetConfig, stream_dims: Mapping[str, int]) -> None:
        super().__init__()
        missing = [name for name in config.streams if name not in stream_dims]
        if missing:
            raise ValueError(
                f"stream_dims lacks the width of stream(s) {', '.join(missing)}; "
                f"config.streams = {config.streams}"
            )
        for name in config.streams:
            width = stream_dims[name]
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise ValueError(f"stream_dims[{name!r}]={width!r} must be a positive integer")
        self.config = config
        self.stream_dims = {name: int(stream_dims[name]) for name in config.streams}
        self.guided_streams = tuple(name for name in GUIDED_STREAMS if name in config.streams)
        width = config.d_model
        kernel = config.projection_kernel

        self.projections = nn.ModuleDict(
            {name: StreamProjection(self.stream_dims[name], width, kernel) for name in self.guided_streams}
        )
        self.face_query = (
            FaceQuery(self.stream_dims[GUIDE_STREAM], width, kernel) if config.has_face else None
        )
        self.fci = (
            FaceCentricInteraction(
                width, config.num_heads, config.dropout, config.fci_stages, config.streams,
                config.fci_residual_gate,
            )
            if config.use_fci
            else None
        )
        gsp_streams = len(self.guided_streams) + int(config.has_face)
        self.gsp = (
            GlobalSentimentPerception(gsp_streams, width, config.gsp_kernel) if config.use_gsp else None
        )
        mix_width = width * len(self.guided_streams)
        self.classifier_dropout = nn.Dropout(config.dropout if config.head_dropout is None else config.head_dropout)
        self.classifier = nn.Conv1d(mix_width, config.num_classes + 1, 1)
        self.embedding_head = (
            nn.Conv1d(mix_width, config.embedding_dim, 1) if config.embedding_dim > 0 else None
        )

    @property
    def embedding_width(self) -> int:
        """Width E of the PSSC embeddings."""
        if self.config.embedding_dim > 0:
            return self.config.embedding_dim
        return self.config.d_model * len(self.guided_streams)

    def _checked_padding_mask(self, features: Mapping[str, Tensor], padding_mask: Tensor | None) -> Tensor:
        """(B, T) bool padding mask after checking every configured stream's shape."""
        config = self.config
        for name in config.streams:
            if name not in features:
                raise ValueError(f"FSENet input lacks stream {name!r}; it needs {config.streams}")
        first = features[config.streams[0]]
        if first.dim() != 3:
            raise ValueError(f"stream {config.streams[0]!r} must be (B, T, D), got shape {tuple(first.shape)}")
        batch, num_snippets = first.shape[:2]
        for name in config.streams:
            shape = tuple(features[name].shape)
            if shape != (batch, num_snippets, self.stream_dims[name]):
                raise ValueError(
                    f"stream {name!r} has shape {shape}; expected "
                    f"({batch}, {num_snippets}, {self.stream_dims[name]})"
                )
        if padding_mask is None:
            padding_mask = features.get("padding_mask")  # type: ignore[assignment]
        if padding_mask is None:
            padding_mask = torch.ones(batch, num_snippets, dtype=torch.bool, device=first.device)
        padding_mask = padding_mask.to(torch.bool)
        if tuple(padding_mask.shape) != (batch, num_snippets):
            raise ValueError(
                f"padding_mask has shape {tuple(padding_mask.shape)}; expected ({batch}, {num_snippets})"
            )
        return padding_mask

    def _face_query(self, features: Mapping[str, Tensor], face_mask: Tensor | None,
                    padding_mask: Tensor) -> Tensor | None:
        """The projected face stream (B, T, d) that queries FCI and feeds GSP; None without faces."""
        if self.face_query is None:
            return None
        batch, num_snippets = padding_mask.shape
        if face_mask is None:
            face_mask = features.get("face_mask")  # type: ignore[assignment]
        if face_mask is None:
            face_mask = torch.ones(batch, num_snippets, device=padding_mask.device)
        if tuple(face_mask.shape) != (batch, num_snippets):
            raise ValueError(f"face_mask has shape {tuple(face_mask.shape)}; expected ({batch}, {num_snippets})")
        return self.face_query(features[GUIDE_STREAM], face_mask, padding_mask)

    def _global_cas(self, cas: Tensor, projected: dict[str, Tensor], face_query: Tensor | None,
                    padding_mask: Tensor) -> tuple[Tensor, Tensor]:
        """(W_sent (B, T), global CAS (B, T, C+1)): GSP's intensity gates the class scores
        and (1 - W_sent) the background; without GSP, W_sent is 1 and the CAS is kept."""
        if self.gsp is None:
            return padding_mask.to(torch.float32), cas
        present = {**projected, GUIDE_STREAM: face_query}
        gsp_inputs = [present[name] for name in GSP_ORDER if present.get(name) is not None]
        w_sent = self.gsp(gsp_inputs, padding_mask) * padding_mask
        gate = w_sent.unsqueeze(-1)
        num_classes = self.config.num_classes
        global_cas = torch.cat([gate * cas[..., :num_classes], (1.0 - gate) * cas[..., num_classes:]], dim=-1)
        return w_sent, global_cas * padding_mask.unsqueeze(-1)

    def forward(
        self,
        features: Mapping[str, Tensor],
        padding_mask: Tensor | None = None,
        face_mask: Tensor | None = None,
    ) -> FSENetOutput:
        """Run the model on a batch.

        Args:
            features: stream name -> (B, T, D_s) features on one snippet grid. A
                whole batch dict may be passed: only the configured stream names are
                read, and its "padding_mask" / "face_mask" entries are used when the
                arguments are None.
            padding_mask: (B, T) bool, True at real snippets (default: all real).
                Every video needs at least one real snippet.
            face_mask: (B, T) float in [0, 1], face presence per snippet (default:
                a face everywhere). Ignored without a face stream.

        Returns:
            :class:`FSENetOutput`.
        """
        padding_mask = self._checked_padding_mask(features, padding_mask)
        projected = {
            name: self.projections[name](features[name], padding_mask) for name in self.guided_streams
        }
        face_query = self._face_query(features, face_mask, padding_mask)
        guided = self.fci(projected, face_query, padding_mask) if self.fci is not None else projected
        mixed = torch.cat([guided[name] for name in self.guided_streams], dim=-1)  # F_mix (B, T, n*d)

        cas_logits = self.classifier(self.classifier_dropout(mixed).transpose(1, 2)).transpose(1, 2)
        cas = torch.sigmoid(cas_logits.float()) * padding_mask.unsqueeze(-1)
        w_sent, global_cas = self._global_cas(cas, projected, face_query, padding_mask)

        embedding_source = mixed
        if self.embedding_head is not None:
            embedding_source = self.embedding_head(mixed.transpose(1, 2)).transpose(1, 2)
        embeddings = zero_padding(F.normalize(embedding_source.float(), dim=-1, eps=1e-6), padding_mask)
        return FSENetOutput(
            cas=cas,
            global_cas=global_cas,
            w_sent=w_sent,
            embeddings=embeddings,
            video_scores=masked_topk_mean(cas, padding_mask, self.config.video_topk_divisor),
            padding_mask=padding_mask,
        )
