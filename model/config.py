"""Settings of the FSENet model, its pseudo-labels and its losses.

Every number of ``docs/method.md`` lives here with the method's default. The
dataclasses are frozen and hold only plain values (int, float, bool, str, tuples of
str), so the project's single YAML config (pipeline/config/) carries them as its
``model`` section.

Class names are not a model setting: the model only knows ``num_classes`` C
sentiment classes (index 0..C-1) plus the non-sentiment (background) class at index C.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.setting_checks import check_bool, check_choice, check_int, check_names, check_number, require
from model.streams import GUIDE_STREAM, GUIDED_STREAMS, STREAM_NAMES

PSEUDO_LABEL_KINDS: tuple[str, ...] = ("bspg", "hard", "hard_window", "none")
SUPERVISION_KINDS: tuple[str, ...] = ("point", "video", "full")
OVERLAP_RULES: tuple[str, ...] = ("max", "nearest")
OUTSIDE_WINDOW_RULES: tuple[str, ...] = ("unlabelled", "background", "mined")
BASE_FORMS: tuple[str, ...] = ("topk", "mean")
FOCAL_FORMS: tuple[str, ...] = ("split", "quality")
SINGLE_CLASS_NEGATIVE_RULES: tuple[str, ...] = ("lowest_w_sent", "lowest_similarity", "none")


@dataclass(frozen=True)
class BSPGConfig:
    """Boundary-aware sentiment pseudo-labels (docs/method.md, "BSPG: boundary-aware pseudo-labels").

    Attributes:
        window: half-width w of a point's mound, in snippets (|t - t_p| <= w).
        beta: mound floor; s_t = beta + (1 - beta) * (1 - |t - t_p| / w).
        tau: non-sentiment score above which the sentiment target is zeroed.
        overlap: where mounds overlap, "max" (each class channel takes the max over
            its class's mounds; background is 1 - the max over all mounds) or
            "nearest" (the nearest point's mound alone labels the snippet).
        outside: snippets outside every window are "background" (always background
            targets: the paper's "snippets outside every window get 0" read literally,
            class targets 0 and non-sentiment 1; ``--preset paper`` uses it), "unlabelled"
            (masked out of the frame losses unless the model's background score exceeds
            tau, then they become background targets: the project's first reading),
            or "mined" (the default: unlabelled, except the ``mined_fraction`` x T snippets outside every
            window with the lowest foreground score max_c y_{t,c} (detached): background
            targets; the authors' code likewise always has background seeds: per gap
            between points, the snippets of highest background score), plus the tau rule.
        mined_fraction: share of a video's real snippets mined as background ("mined").
        point_keeps_label: the annotated snippet always keeps its class (target 1),
            even when the tau rule would zero it.
        hard_threshold: for ``pseudo_labels="hard"`` (the paper's ablation): the class
            target of each class the video's points name is 1 where the model's own
            (detached) score y_{t,c} >= hard_threshold and 0 elsewhere, on every real
            snippet (points keep their label); for ``"hard_window"``: inside a window the
            class target is 1 where s_t >= hard_threshold and 0 (background 1)
            elsewhere; with beta = 0.6 >= 0.5 the whole window gets a hard 1.
    """

    window: int = 7
    beta: float = 0.6
    tau: float = 0.95
    overlap: str = "max"
    outside: str = "mined"  # "unlabelled" leaves the class CAS without negatives (it never falls outside the windows)
    mined_fraction: float = 0.25
    point_keeps_label: bool = True
    hard_threshold: float = 0.5

    def __post_init__(self) -> None:
        check_int("model.bspg.window", self.window, 0)
        check_number("model.bspg.beta", self.beta, 0, 1)
        check_number("model.bspg.tau", self.tau, 0, 1)
        check_choice("model.bspg.overlap", self.overlap, OVERLAP_RULES)
        check_choice("model.bspg.outside", self.outside, OUTSIDE_WINDOW_RULES)
        check_number("model.bspg.mined_fraction", self.mined_fraction, 0, 1)
        check_bool("model.bspg.point_keeps_label", self.point_keeps_label)
        check_number("model.bspg.hard_threshold", self.hard_threshold, 0, 1, low_open=True)


@dataclass(frozen=True)
class PSSCConfig:
    """Point-aware sentiment semantics contrast (docs/method.md, "PSSC: point-aware sentiment semantics contrast").

    Attributes:
        topk_divisor: K = max(1, T // topk_divisor) positives per class, T the
            video's real length in snippets; K is also capped at T - N (N points).
        temperature: softmax temperature t of f . p_c / t.
        single_class_negatives: negatives of a video whose points have one class:
            "lowest_w_sent" (the K real, non-point, non-positive snippets of lowest
            W_sent; with ``use_gsp=False`` the lowest similarity d_t^c instead),
            "lowest_similarity" (the K of lowest d_t^c) or "none" (such videos add
            no contrast term).
    """

    topk_divisor: int = 8
    temperature: float = 0.1
    single_class_negatives: str = "lowest_w_sent"

    def __post_init__(self) -> None:
        check_int("model.pssc.topk_divisor", self.topk_divisor, 1)
        check_number("model.pssc.temperature", self.temperature, 0, low_open=True)
        check_choice("model.pssc.single_class_negatives", self.single_class_negatives, SINGLE_CLASS_NEGATIVE_RULES)


@dataclass(frozen=True)
class LossConfig:
    """Weights and shapes of the training losses.

    L_total = L_base + lambda_frame * (L_frame + L_frame_glo) + lambda_sc * L_sc.

    Attributes:
        focal_gamma: gamma of the focal binary cross-entropy of L_frame, L_frame_glo.
        focal_form: how the focal factor meets a soft target y^ (BSPG's mounds; both
            forms are the usual focal loss on targets 0 and 1): "split" weights the two
            log terms by (1 - p)^gamma and p^gamma, which puts the loss's minimum between
            y^ and 0.5 (a mound's 0.6 is fitted at 0.54); "quality" weights the binary
            cross-entropy by |y^ - p|^gamma, whose minimum is p = y^ (docs/method.md,
            "Losses and training").
        lambda_frame: lambda1 (docs/method.md, "Losses and training").
        lambda_sc: lambda2 (docs/method.md, "Losses and training").
        base_includes_background: the video-level target of L_base also marks the
            non-sentiment class as present (every untrimmed video has non-sentiment
            snippets); False restricts L_base to the C sentiment classes.
        base_form: "topk": L_base compares the top-k video scores with the video's
            classes (both normalised over classes); "mean": the paper's form,
            -sum_c avg_t(y^_c) log avg_t(y_c) over the video's real snippets, with the BSPG
            mounds as y^ and every snippet outside the windows counted as background
            (both sides normalised over the C+1 channels).
    """

    focal_gamma: float = 2.0
    focal_form: str = "quality"
    lambda_frame: float = 1.0
    lambda_sc: float = 0.05
    base_includes_background: bool = True
    base_form: str = "topk"

    def __post_init__(self) -> None:
        check_choice("model.loss.base_form", self.base_form, BASE_FORMS)
        check_number("model.loss.focal_gamma", self.focal_gamma, 0)
        check_choice("model.loss.focal_form", self.focal_form, FOCAL_FORMS)
        check_number("model.loss.lambda_frame", self.lambda_frame, 0)
        check_number("model.loss.lambda_sc", self.lambda_sc, 0)
        check_bool("model.loss.base_includes_background", self.base_includes_background)


_NESTED: dict[str, type] = {"bspg": BSPGConfig, "pssc": PSSCConfig, "loss": LossConfig}


@dataclass(frozen=True)
class FSENetConfig:
    """Every setting of FSENet (architecture, supervision, ablation switches).

    Attributes:
        streams: input streams the model consumes, a subset of
            ("visual", "audio", "face") holding "visual" or "audio" or both;
            leaving out "face" is the "no face stream" setting.
        d_model: width d every stream is projected to.
        num_heads: attention heads of every FCI attention (must divide d_model).
        dropout: dropout on the attention outputs (FSD).
        head_dropout: dropout on the classifier input F_mix (the "neck"; the authors'
            code uses 0.7 there and 0.2 in FSD); None: the same as ``dropout``.
        projection_kernel: temporal kernel (snippets, odd) of the per-stream Conv1d.
        gsp_kernel: temporal kernel (snippets, odd) of GSP's convolution E.
        num_classes: C sentiment classes; the model outputs C + 1 scores (the last
            one is non-sentiment).
        embedding_dim: width of the PSSC frame embeddings; 0 uses F_mix itself
            (L2-normalised), > 0 adds a learned 1x1 projection to that width.
        video_topk_divisor: video scores average the top max(1, T // divisor) CAS
            values of each class (T the video's real length).
        use_fci: False is the "GSP only" ablation: F_mix = [F_v; F_a] without any
            attention.
        fci_stages: 1 skips FCI stage 2 (F_mix = [F_v'; F_a']), 2 runs both.
        fci_residual_gate: each FCI attention's output is scaled by a learned
            per-channel gate that starts at 0, so FCI starts as the identity (GSP only)
            and the attention cannot drown the streams at initialisation.
        use_gsp: False removes GSP: W_sent is the constant 1, the global CAS is the
            CAS itself and L_frame_glo is 0 (it would duplicate L_frame).
        pseudo_labels: frame targets under point supervision: "bspg" (soft mounds
            plus the tau rule), "hard" (the model's own frame scores thresholded at
            bspg.hard_threshold), "hard_window" (binary windows plus the tau rule), "none"
            (the annotated snippets only).
        use_frame_losses: False zeroes L_frame and L_frame_glo.
        supervision: "point" (default), "video" (video labels only, L_base alone)
            or "full" (segment masks give every real snippet's target).
        bspg, pssc, loss: nested settings, see their classes.
    """

    streams: tuple[str, ...] = STREAM_NAMES
    d_model: int = 512
    num_heads: int = 8
    dropout: float = 0.1
    head_dropout: float | None = None
    projection_kernel: int = 3
    gsp_kernel: int = 3
    num_classes: int = 2
    embedding_dim: int = 0
    video_topk_divisor: int = 8
    use_fci: bool = True
    fci_stages: int = 2
    fci_residual_gate: bool = False
    use_gsp: bool = True
    pseudo_labels: str = "bspg"
    use_frame_losses: bool = True
    supervision: str = "point"
    bspg: BSPGConfig = field(default_factory=BSPGConfig)
    pssc: PSSCConfig = field(default_factory=PSSCConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        check_names("model.streams", self.streams, STREAM_NAMES, what="stream")
        require(
            any(name in GUIDED_STREAMS for name in self.streams),
            f"model.streams={self.streams!r} needs {' or '.join(map(repr, GUIDED_STREAMS))} (the {GUIDE_STREAM} "
            "alone only guides them)",
        )
        check_int("model.d_model", self.d_model, 1)
        check_int("model.num_heads", self.num_heads, 1)
        require(self.d_model % self.num_heads == 0,
                f"model.num_heads={self.num_heads} must divide model.d_model={self.d_model}")
        check_number("model.dropout", self.dropout, 0, 1, high_open=True)
        if self.head_dropout is not None:
            check_number("model.head_dropout", self.head_dropout, 0, 1, high_open=True)
        for name in ("projection_kernel", "gsp_kernel"):
            check_int(f"model.{name}", getattr(self, name), 1)
            require(getattr(self, name) % 2 == 1,
                    f"model.{name}={getattr(self, name)} must be odd (same-length convolution)")
        check_int("model.num_classes", self.num_classes, 1)
        check_int("model.embedding_dim", self.embedding_dim, 0)
        check_int("model.video_topk_divisor", self.video_topk_divisor, 1)
        check_bool("model.use_fci", self.use_fci)
        check_int("model.fci_stages", self.fci_stages, 1, 2)
        check_bool("model.fci_residual_gate", self.fci_residual_gate)
        check_bool("model.use_gsp", self.use_gsp)
        check_choice("model.pseudo_labels", self.pseudo_labels, PSEUDO_LABEL_KINDS)
        check_bool("model.use_frame_losses", self.use_frame_losses)
        check_choice("model.supervision", self.supervision, SUPERVISION_KINDS)
        for name, kind in _NESTED.items():
            require(isinstance(getattr(self, name), kind),
                    f"model.{name} must be a {kind.__name__}, got {getattr(self, name)!r}")

    @property
    def has_face(self) -> bool:
        """True when the face stream is one of the inputs."""
        return GUIDE_STREAM in self.streams
