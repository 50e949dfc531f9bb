"""The sections of a trained model's inference: `infer` (how the model runs on samples) and
`postprocess` (CAS -> segments; the recipe is pipeline/infer/postprocess.py)."""

from __future__ import annotations

from dataclasses import dataclass

from model.setting_checks import check_bool, check_choice, check_int, check_number, require
from pipeline.devices import AMP_CHOICES


@dataclass(frozen=True)
class InferConfig:
    """How a trained model runs on samples (config section ``infer``): `evaluate`, `localize`,
    training's validation and diagnostics, `bench localize`. It is this machine's, never a
    checkpoint's: `evaluate` and `localize` use the section of the config they are given, and
    a run resumes whatever it says. Speed and memory only, but for the float rounding that
    the precision brings."""

    batch_size: int = 8  # videos per forward pass (and, at localize, per read of the feature cache)
    # autocast: auto (bf16 on CUDA and on CPUs that run it natively) | bfloat16 | float16 | none
    amp_dtype: str = "auto"

    def __post_init__(self) -> None:
        check_int("infer.batch_size", self.batch_size, 1)
        check_choice("infer.amp_dtype", self.amp_dtype, AMP_CHOICES)


DEFAULT_CAS_THRESHOLDS: tuple[float, ...] = tuple(round(0.025 * i, 3) for i in range(10))  # 0 .. 0.225
DEFAULT_FOREGROUND_THRESHOLDS: tuple[float, ...] = tuple(round(0.4 + 0.025 * i, 3) for i in range(14))  # 0.4 .. 0.725
UPSAMPLE_ALIGNMENTS = ("center", "start")
NMS_KINDS = ("hard", "soft")
SCORE_KINDS = ("cas", "cas_fg", "global")  # what the class columns localized on are (see PostprocessConfig.score)
CLASS_SCORE_SOURCES = ("cas", "localized")  # what the video-level class scores are computed from
THRESHOLD_MODES = ("absolute", "relative")


@dataclass(frozen=True)
class PostprocessConfig:
    """Every constant of the inference post-processing (docs/method.md, "Inference"; the recipe is
    pipeline/infer/postprocess.py)."""

    video_score_topk_divisor: int = 8  # video score = mean of the top max(1, T // this) snippets
    class_score_threshold: float = 0.5  # localize classes whose video score is >= this (else the argmax)
    upsample_factor: int = 24  # bins per snippet after linear interpolation
    upsample_alignment: str = "center"  # "center" (ours) or "start" (the authors' code)
    cas_thresholds: tuple[float, ...] = DEFAULT_CAS_THRESHOLDS  # on the class CAS
    foreground_thresholds: tuple[float, ...] = DEFAULT_FOREGROUND_THRESHOLDS  # on 1 - background
    outer_margin_fraction: float = 0.03  # outer margin = ceil(this * run length) bins each side
    video_score_weight: float = 0.3  # weight of the class's video score in a segment's score
    score_on_thresholded_cas: bool = False  # True: the authors' scoring of CAS-threshold proposals
    nms: str = "hard"  # "hard" or "soft" (Gaussian soft-NMS)
    nms_tiou_threshold: float = 0.5  # hard NMS drops a segment whose tIoU with a kept one is >= this
    soft_nms_sigma: float = 0.5  # soft-NMS weight exp(-tIoU^2 / sigma); soft-NMS ignores nms_tiou_threshold
    max_segments_per_video: int = 0  # keep at most this many segments (best first); 0 keeps all
    # What the class columns are (applied to the model's output by pipeline.infer.predict.predict_cas):
    # "cas": the class CAS y_c; "cas_fg": y_c * (1 - y_bg), what the TSL-300 and FSENet code localize on;
    # "global": the fused global CAS W_sent * y_c (background column (1 - W_sent) * y_bg).
    score: str = "cas_fg"  # measured on validation, CAS x (1 - bg) beat the raw CAS (docs/benchmarks.md)
    # "absolute": thresholds are score values; "relative": each threshold is a fraction of the video's
    # maximum of that signal (class column, resp. 1 - background), so they follow the score scale.
    threshold_mode: str = "absolute"
    # What the video-level class scores (class selection and each segment's bonus) are the top-k mean of:
    # "cas": the raw class CAS, whatever `score` is (TSL-Net's and the FSENet authors' test code);
    # "localized": the scores segments are found on (`score`); with cas_fg this lets the second class
    # of a two-class video through far less often. Kept to reproduce older figures.
    class_scores_from: str = "cas"

    def __post_init__(self) -> None:
        check_int("postprocess.video_score_topk_divisor", self.video_score_topk_divisor, 1)
        check_number("postprocess.class_score_threshold", self.class_score_threshold, 0, 1)
        check_int("postprocess.upsample_factor", self.upsample_factor, 1)
        check_choice("postprocess.upsample_alignment", self.upsample_alignment, UPSAMPLE_ALIGNMENTS)
        for name in ("cas_thresholds", "foreground_thresholds"):
            for index, value in enumerate(getattr(self, name)):
                check_number(f"postprocess.{name}[{index}]", value, 0, 1)
        require(len(self.cas_thresholds) + len(self.foreground_thresholds) >= 1,
                "postprocess.cas_thresholds and postprocess.foreground_thresholds are both empty; "
                "give at least one threshold")
        check_number("postprocess.outer_margin_fraction", self.outer_margin_fraction, 0)
        check_number("postprocess.video_score_weight", self.video_score_weight, 0)
        check_bool("postprocess.score_on_thresholded_cas", self.score_on_thresholded_cas)
        check_choice("postprocess.nms", self.nms, NMS_KINDS)
        check_number("postprocess.nms_tiou_threshold", self.nms_tiou_threshold, 0, 1, low_open=True)
        check_number("postprocess.soft_nms_sigma", self.soft_nms_sigma, 0, low_open=True)
        check_int("postprocess.max_segments_per_video", self.max_segments_per_video, 0, note="0: keep all")
        check_choice("postprocess.score", self.score, SCORE_KINDS)
        check_choice("postprocess.threshold_mode", self.threshold_mode, THRESHOLD_MODES)
        check_choice("postprocess.class_scores_from", self.class_scores_from, CLASS_SCORE_SOURCES)
