"""`bench train`: FSENet at the defaults, the paper's preset, ablations and baselines on a
TSL-300-shaped dataset, several seeds; test avg mAP, Recall and F2 (TSL-300 protocol) of
the checkpoint users get (best.pt) and of the final one (last.pt), the epoch each run
stopped at, and the inference scores compared on the same checkpoints; written to
docs/benchmarks.md.

The dataset is the synthetic release (pipeline/synthetic/release.py) built from the real
TSL-300 annotations when ../shared/tsl300 exists (all 300 videos' real durations, frame
rates, segments, real points and splits), else from the built-in generator. Every run
trains on the train split, picks its epoch on a validation split carved from train (the
paper preset holds none out and keeps its last epoch), and is scored on the test split.

Each run lives in WORKDIR/runs/<variant>_seed<S>/ and is resumable (train resumes from
last.pt; a finished run's figures are kept in its bench.json), so several `bench train`
processes can share the work (e.g. one per variant) and `--report-only` writes the table
from whatever has finished.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cache.atomic import atomic_write_json
from pipeline.bench.doc import markdown_table, section_stamp, update_device_section, update_section
from pipeline.config import Config, config_from_layers, preset_settings, with_overrides
from pipeline.config.infer import InferConfig
from pipeline.evaluate.stage import evaluate_run
from pipeline.synthetic.release import SynthConfig, write_synthetic_release
from pipeline.train.stage import run_train

SHARED_TSL300 = Path(__file__).resolve().parents[3] / "shared" / "tsl300"
SCORE_OPTIONS: dict[str, dict] = {  # inference scores compared on each run's best.pt
    "cas": {"score": "cas"},
    "cas_fg": {"score": "cas_fg"},
    "global": {"score": "global"},
    "cas_fg, class scores from cas_fg (before the fix)": {"score": "cas_fg", "class_scores_from": "localized"},
}


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    overrides: dict = field(default_factory=dict)  # config sections over the defaults (or the preset)
    preset: str | None = None


VARIANTS: tuple[Variant, ...] = (
    Variant("default", "FSENet at the toolkit's defaults"),
    Variant("paper", "FSENet with the paper's settings (--preset paper: no early stopping, no validation split)",
            preset="paper"),
    Variant("paper_losses", "the defaults' schedule (early stopping on validation) with the paper's four loss settings",
            {"model": {"bspg": {"outside": "background"}, "loss": {"base_form": "mean"},
                       "pssc": {"temperature": 1.0, "single_class_negatives": "none"}}}),
    Variant("focal_split", "the defaults with the frame losses' focal factors split over the two log terms (the "
            "earlier default; a soft target is fitted between itself and 0.5)",
            {"model": {"loss": {"focal_form": "split"}}}),
    Variant("gsp_only", "GSP only (no FCI)", {"model": {"use_fci": False}}),
    Variant("fci_one_stage", "FCI one stage + GSP", {"model": {"fci_stages": 1}}),
    Variant("no_gsp", "FCI two stages, no GSP", {"model": {"use_gsp": False}}),
    Variant("hard_labels", "hard-threshold pseudo-labels (the model's own scores >= 0.5)",
            {"model": {"pseudo_labels": "hard"}}),
    Variant("hard_window", "the defaults with hard +-w windows instead of BSPG's soft mounds (tau rule and PSSC kept)",
            {"model": {"pseudo_labels": "hard_window"}}),
    Variant("no_pseudo_labels", "no pseudo-labels (points only)", {"model": {"pseudo_labels": "none"}}),
    Variant("no_frame_losses", "without both frame losses", {"model": {"use_frame_losses": False}}),
    Variant("no_face", "no face stream (visual + audio)", {"model": {"streams": ["visual", "audio"]}}),
    Variant(
        "baseline_window", "baseline: fixed +-w window of hard labels around each point, no tau, no PSSC",
        {"model": {"pseudo_labels": "hard_window", "bspg": {"tau": 1.0}, "loss": {"lambda_sc": 0.0}}},
    ),
    Variant("baseline_points", "baseline: points only, no PSSC",
            {"model": {"pseudo_labels": "none", "loss": {"lambda_sc": 0.0}}}),
)
DEFAULT_VARIANTS: tuple[str, ...] = ("default", "paper", "focal_split", "gsp_only", "baseline_window")

PAPER_AVG_MAP = {
    "default": 21.45, "paper": 21.45, "gsp_only": 18.42, "fci_one_stage": 19.10, "no_gsp": 20.22,
    "hard_labels": 20.29, "no_pseudo_labels": 16.92, "no_frame_losses": 12.53,
}


def chosen_variants(names: Sequence[str] | None) -> list[Variant]:
    """The variants named (default: DEFAULT_VARIANTS), in the order given; ValueError for an unknown name."""
    known = {variant.name: variant for variant in VARIANTS}
    unknown = [name for name in names or () if name not in known]
    if unknown:
        raise ValueError(f"bench train: unknown variant {unknown[0]!r}; choose from {', '.join(known)}")
    return [known[name] for name in (names or DEFAULT_VARIANTS)]


def run_config(variant: Variant, given: dict, seed: int) -> Config:
    """Defaults < the variant's preset < what the bench command was given < the variant < the seed."""
    preset = preset_settings(variant.preset) if variant.preset else {}
    return config_from_layers(preset, given, variant.overrides, {"train": {"seed": seed}})


def prepare_dataset(workdir: Path, synth: SynthConfig, features: Path | None) -> tuple[Path, str]:
    """(the dataset to train on, a line saying what it is): `features` when given, else the
    synthetic release written (once) under `workdir` with the `synth` settings."""
    if features is not None:
        marker = Path(features) / "synth.json"
        if marker.is_file():
            made = json.loads(marker.read_text())
            settings = made["config"]
            return Path(features), (
                f"synthetic release `{features}` from {made['source']} ({settings['num_videos']} videos, "
                f"durations x{settings['scale']}, seed {settings['seed']}, planted strengths face/audio/visual = "
                f"{settings['face_strength']}/{settings['audio_strength']}/{settings['visual_strength']})"
            )
        return Path(features), f"features given: {features}"
    annotations = SHARED_TSL300 if SHARED_TSL300.is_dir() else None
    out = workdir / ("synthetic_tsl300" if annotations else "synthetic_generated")
    if not (out / "synth.json").is_file():
        print(f"writing the synthetic dataset to {out} ...", file=sys.stderr)
        write_synthetic_release(out, synth, annotations)
    source = "TSL-300's real annotations (../shared/tsl300)" if annotations else "the built-in generator"
    return out, f"synthetic release from {source}, planted strengths face/audio/visual = " \
        f"{synth.face_strength}/{synth.audio_strength}/{synth.visual_strength}"


def _figures(run_dir: Path, checkpoint: str, device: str, infer: InferConfig, postprocess: dict | None = None) -> dict:
    """Test avg mAP, Recall@AVG and F2@AVG of one checkpoint of a run (not recorded in the run)."""
    name = Path(checkpoint).stem + ("" if not postprocess else "_" + "_".join(str(v) for v in postprocess.values()))
    (run_dir / "bench").mkdir(exist_ok=True)
    result = evaluate_run(run_dir, "test", run_dir / "bench" / f"predictions_{name}.json", device, checkpoint,
                          log=lambda *_: None, postprocess_overrides=postprocess, record_in_run=False, infer=infer)
    return {"map": result.average_map, "recall": result.tsl_recall_avg, "f2": result.tsl_f2_avg}


def bench_one_run(variant: Variant, given: dict, seed: int, dataset: Path, workdir: Path, device: str) -> dict:
    """Train (or resume) one variant and seed, then score it; the figures are kept in RUN/bench.json."""
    run_dir = workdir / "runs" / f"{variant.name}_seed{seed}"
    done = run_dir / "bench.json"
    if done.is_file():
        return json.loads(done.read_text())
    started = time.perf_counter()
    config = run_config(variant, given, seed)
    summary = run_train(dataset, None, run_dir, config, device, show_progress=False, log=lambda *_: None)
    history = json.loads((run_dir / "history.json").read_text())
    stopped = json.loads((run_dir / "run.json").read_text()).get("stopped", {})
    figures = {
        "variant": variant.name, "seed": seed,
        "best": _figures(run_dir, "best.pt", device, config.infer),
        "final": _figures(run_dir, "last.pt", device, config.infer),
        "scores": {label: _figures(run_dir, "best.pt", device, config.infer, options)["map"]
                   for label, options in SCORE_OPTIONS.items()},
        "stopped_epoch": stopped.get("epoch", summary.epochs_run), "stop_reason": stopped.get("reason", ""),
        "best_epoch": summary.best_epoch,
        "epoch_seconds": statistics.median([record["seconds"] for record in history]) if history else math.nan,
        "wall_seconds_this_process": time.perf_counter() - started,
    }
    atomic_write_json(done, figures)
    print(f"{variant.name} seed {seed}: best.pt {100 * figures['best']['map']:.2f}, final "
          f"{100 * figures['final']['map']:.2f} "
          f"avg mAP, stopped at epoch {figures['stopped_epoch']} (best {figures['best_epoch']})", file=sys.stderr)
    return figures


def _spread(values: list[float], scale: float = 100.0) -> str:
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * statistics.fmean(values):.2f} ± {scale * spread:.2f}"


def _variant_row(variant: Variant, runs: list[dict]) -> list[str]:
    return [
        variant.name, variant.what, str(len(runs)), _spread([r["best"]["map"] for r in runs]),
        _spread([r["final"]["map"] for r in runs]), _spread([r["best"]["recall"] for r in runs]),
        _spread([r["best"]["f2"] for r in runs]), ", ".join(str(r["stopped_epoch"]) for r in runs) or "-",
        ", ".join(str(r["best_epoch"] if r["best_epoch"] is not None else "last") for r in runs) or "-",
        f"{statistics.fmean([r['epoch_seconds'] for r in runs]):.1f}" if runs else "-",
        str(PAPER_AVG_MAP.get(variant.name, "-")),
    ]


def result_tables(variants: list[Variant], finished: dict[str, list[dict]]) -> str:
    """Markdown: one row per variant (mean ± std over finished seeds), then the inference
    scores on the same best.pt checkpoints."""
    header = ["variant", "what", "seeds done", "test avg mAP, best.pt (%)", "test avg mAP, final (%)",
              "Recall@AVG, best.pt (%)", "F2@AVG, best.pt (%)", "stopped at epoch", "best.pt epoch", "s / epoch",
              "paper avg mAP (TSL-300)"]
    rows = [_variant_row(variant, finished.get(variant.name, [])) for variant in variants]
    score_header = ["variant", *SCORE_OPTIONS]
    score_rows = [
        [variant.name,
         *(_spread([r["scores"][label] for r in finished.get(variant.name, [])]) for label in SCORE_OPTIONS)]
        for variant in variants
    ]
    return (markdown_table(header, rows) + "\n\nInference scores on the same best.pt checkpoints (test avg mAP, %): "
            "`postprocess.score`, video-level class scores from the raw class CAS unless said.\n\n"
            + markdown_table(score_header, score_rows))


def finished_runs(workdir: Path, variants: list[Variant], seeds: list[int]) -> dict[str, list[dict]]:
    """variant name -> the bench.json figures of its finished seeds."""
    found: dict[str, list[dict]] = {}
    for variant in variants:
        for seed in seeds:
            path = workdir / "runs" / f"{variant.name}_seed{seed}" / "bench.json"
            if path.is_file():
                found.setdefault(variant.name, []).append(json.loads(path.read_text()))
    return found


def _paper_schedule(chosen: list[Variant], given: dict, seed: int) -> str:
    """The paper preset's schedule as this command ran it (its 600 epochs unless --set train.epochs)."""
    paper = [variant for variant in chosen if variant.preset == "paper"]
    if not paper:
        return ""
    config = run_config(paper[0], given, seed)
    return (f"The paper preset: {config.train.epochs} epochs without early stopping, validation fraction "
            f"{config.data.validation_fraction} (the preset's own schedule is 600 epochs). ")


def run_train_bench(
    config: Config, given: dict, synth: SynthConfig, workdir: Path, doc: Path, seeds: list[int],
    variants: list[str] | None, device: str, features: Path | None = None, command: str = "fsenet bench train",
    report_only: bool = False,
) -> str:
    """Train and score every chosen variant and seed (seed by seed, so the first seed of every
    variant finishes first), then write the tables to `doc`. given: the settings the command
    was given (--preset/--config/--set), applied to every variant."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    chosen = chosen_variants(variants)
    dataset_path, dataset_note = prepare_dataset(workdir, synth, features)
    if not report_only:
        for seed in seeds:
            for variant in chosen:
                bench_one_run(variant, given, seed, dataset_path, workdir, device)
    finished = finished_runs(workdir, chosen, seeds)
    base = run_config(chosen_variants(["default"])[0], given, seeds[0])
    settings = (
        f"Dataset: {dataset_note}. Seeds {seeds}; mean ± standard deviation over the seeds done. Every variant: "
        f"d_model {base.model.d_model}, batch {base.train.batch_size}, Adam lr {base.train.learning_rate}, "
        f"device {device}; the defaults' schedule: up to {base.train.epochs} epochs, validation every "
        f"{base.train.validate_every_epochs}, early stopping after "
        f"{base.train.early_stopping_patience} checks without a "
        f"gain of {base.train.early_stopping_min_delta}, never before epoch {base.train.early_stopping_start_epoch}. "
        f"{_paper_schedule(chosen, given, seeds[0])}"
        "best.pt: the epoch the validation split picked (the paper preset has none: its last epoch); final: last.pt. "
        "Figures on the test split."
    )
    body = section_stamp(command) + "\n" + result_tables(chosen, finished) + "\n\n" + settings + "\n"
    update_section(doc, "train", "Training: defaults, paper preset, ablations and baselines on TSL-300-shaped data "
                   "(`bench train`)", body)
    print(result_tables(chosen, finished))
    return body


def run_epoch_bench(
    config: Config, synth: SynthConfig, workdir: Path, doc: Path, epochs: int, device: str,
    features: Path | None = None, command: str = "python cli.py bench epoch",
) -> dict:
    """Epoch time of the configured model on the TSL-300-shaped dataset (`epochs` epochs)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dataset_path, dataset_note = prepare_dataset(workdir, synth, features)
    epoch_config = with_overrides(config, {"train": {"epochs": epochs, "validate_every_epochs": epochs + 1}})
    run_dir = workdir / "runs" / f"epoch_time_{time.strftime('%Y%m%d_%H%M%S')}"
    summary = run_train(dataset_path, None, run_dir, epoch_config, device, show_progress=False, log=lambda *_: None)
    seconds = [record["seconds"] for record in summary.history]
    steady = seconds[1:] or seconds
    figures = {"epochs": len(seconds), "first_epoch_seconds": seconds[0], "epoch_seconds": statistics.fmean(steady)}
    rows = [[
        device, str(config.model.d_model), str(config.train.batch_size),
        str(config.train.max_train_snippets or "whole videos"),
        config.train.amp_dtype, f"{seconds[0]:.1f}", f"{statistics.fmean(steady):.1f}",
        f"{600 * statistics.fmean(steady) / 60:.0f}",
    ]]
    header = ["device", "d_model", "batch", "train crop", "autocast", "first epoch s", "epoch s", "600 epochs, min"]
    body = (
        markdown_table(header, rows) + "\n\n"
        f"Dataset: {dataset_note}; training split only ({len(seconds)} epochs timed, validation excluded). "
        "The paper's schedule is 600 epochs.\n"
    )
    update_device_section(doc, "epoch", "Training speed (`bench epoch`)", command, device, body)
    print(markdown_table(header, rows))
    return figures
