"""The `train` section: the schedule, the optimiser and how batches are made."""

from __future__ import annotations

from dataclasses import dataclass

from model.setting_checks import check_bool, check_choice, check_int, check_names, check_number, check_seed
from pipeline.devices import AMP_CHOICES

SELECTION_METRICS = ("auto", "map", "loss")
FEATURES_ON_DEVICE = ("auto", "always", "never")
LR_SCHEDULES = ("constant", "cosine")
DIAGNOSTICS_SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 600  # the paper's schedule
    batch_size: int = 8  # videos per step (the authors' code); under torchrun the global batch, shared by all processes
    learning_rate: float = 1e-5  # Adam (paper)
    weight_decay: float = 5e-4  # the authors' code
    seed: int = 123  # the authors' code
    validate_every_epochs: int = 10
    selection_metric: str = "auto"  # auto: validation mAP when the split has segments, else validation loss
    max_train_snippets: int = 0  # crop longer videos to a random window of this many snippets (0: never)
    grad_clip_norm: float = 0.0  # 0: no clipping
    length_bucket_batches: int = 8  # batches per length bucket (similar lengths share a batch); 0: plain random batches
    # autocast: auto (bf16 on CUDA and on CPUs that run it natively) | bfloat16 | float16 | none
    amp_dtype: str = "auto"
    num_threads: int = 0  # torch CPU threads; 0: the cores this process may use
    # batch length rounded up to a multiple of this (masked padding; fewer shapes for GPU kernels to warm up on); 0: 64
    # on CUDA, 1 elsewhere
    pad_multiple_snippets: int = 0
    # keep training features on the GPU and pad batches there: auto (on CUDA when they fit in half its free memory) |
    # always | never
    features_on_device: str = "auto"
    lr_schedule: str = "constant"  # constant | cosine (decays to lr_min_fraction x learning_rate at the last step)
    lr_min_fraction: float = 0.0  # cosine: final learning rate as a fraction of train.learning_rate
    warmup_epochs: int = 0  # linear warm-up of the learning rate from 0 over this many epochs
    # stop after this many validation checks without a gain (quality decays after its peak on noisy points); 0: never
    early_stopping_patience: int = 3
    # a gain is at least this much in the selection metric (avg mAP, or loss); smaller changes do not renew patience
    early_stopping_min_delta: float = 0.005
    # early stopping never ends a run before this epoch (a flat early stretch is not a plateau)
    early_stopping_start_epoch: int = 100
    # after the run: train a new model on train + validation for the best epoch count -> RUN_DIR/refit.pt
    refit: bool = False
    # at each validation check, add loss terms, mAP and score behaviour of these splits (train, validation, test) to
    # history.json (pipeline/train/diagnostics.py); test figures are never used for selection
    diagnostics_splits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_int("train.epochs", self.epochs, 1)
        check_int("train.batch_size", self.batch_size, 1)
        check_number("train.learning_rate", self.learning_rate, 0, low_open=True)
        check_number("train.weight_decay", self.weight_decay, 0)
        check_seed("train.seed", self.seed)
        check_int("train.validate_every_epochs", self.validate_every_epochs, 1)
        check_choice("train.selection_metric", self.selection_metric, SELECTION_METRICS)
        check_int("train.max_train_snippets", self.max_train_snippets, 0, note="0: never")
        check_number("train.grad_clip_norm", self.grad_clip_norm, 0, note="0: no clipping")
        check_int("train.length_bucket_batches", self.length_bucket_batches, 0)
        check_choice("train.amp_dtype", self.amp_dtype, AMP_CHOICES)
        check_int("train.num_threads", self.num_threads, 0, note="0: the cores this process may use")
        check_int("train.pad_multiple_snippets", self.pad_multiple_snippets, 0, note="0: automatic")
        check_choice("train.features_on_device", self.features_on_device, FEATURES_ON_DEVICE)
        check_choice("train.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_number("train.lr_min_fraction", self.lr_min_fraction, 0, 1)
        check_int("train.warmup_epochs", self.warmup_epochs, 0)
        check_int("train.early_stopping_patience", self.early_stopping_patience, 0, note="0: never")
        check_number("train.early_stopping_min_delta", self.early_stopping_min_delta, 0)
        check_int("train.early_stopping_start_epoch", self.early_stopping_start_epoch, 0)
        check_bool("train.refit", self.refit)
        check_names("train.diagnostics_splits", self.diagnostics_splits, DIAGNOSTICS_SPLITS, what="split",
                    empty_ok=True)
