"""`bench train`: FSENet, each ablation switch and two baselines on a TSL-300-shaped
dataset, several seeds, mean and spread of avg mAP, Recall and F2 (TSL-300 protocol),
and epoch time; written to docs/benchmarks.md.

The dataset is the synthetic release (pipeline/synthetic/release.py) built from the real TSL-300
annotations when ../shared/tsl300 exists (real durations, frame rates, segments, points,
splits), else from the built-in generator. Every run trains on the train split, picks
its epoch on a validation split carved from train, and is scored on the test split.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.bench.doc import markdown_table, section_stamp, update_device_section, update_section
from pipeline.config import Config, with_overrides
from pipeline.evaluate.stage import evaluate_run
from pipeline.synthetic.release import write_synthetic_release
from pipeline.train.stage import run_train

SHARED_TSL300 = Path(__file__).resolve().parents[3] / "shared" / "tsl300"


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    model_overrides: dict


# The paper's ablation rows (method.md) and two baselines of the supervision.
VARIANTS: tuple[Variant, ...] = (
    Variant("full", "FSENet (FCI two-stage + GSP, BSPG, PSSC, both frame losses)", {}),
    Variant("gsp_only", "GSP only (no FCI)", {"use_fci": False}),
    Variant("fci_one_stage", "FCI one stage + GSP", {"fci_stages": 1}),
    Variant("no_gsp", "FCI two stages, no GSP", {"use_gsp": False}),
    Variant("hard_labels", "hard-threshold pseudo-labels (the model's own scores >= 0.5)", {"pseudo_labels": "hard"}),
    Variant("no_pseudo_labels", "no pseudo-labels (points only)", {"pseudo_labels": "none"}),
    Variant("no_frame_losses", "without both frame losses", {"use_frame_losses": False}),
    Variant("no_face", "no face stream (visual + audio)", {"streams": ["visual", "audio"]}),
    Variant(
        "baseline_window", "baseline: fixed +-w window of hard labels around each point, no tau, no PSSC",
        {"pseudo_labels": "hard_window", "bspg": {"tau": 1.0}, "loss": {"lambda_sc": 0.0}},
    ),
    Variant("baseline_points", "baseline: points only, no PSSC", {"pseudo_labels": "none", "loss": {"lambda_sc": 0.0}}),
)

PAPER_AVG_MAP = {
    "full": 21.45, "gsp_only": 18.42, "fci_one_stage": 19.10, "no_gsp": 20.22,
    "hard_labels": 20.29, "no_pseudo_labels": 16.92, "no_frame_losses": 12.53,
}


def _spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.2f} ± {100 * spread:.2f}"


def prepare_dataset(workdir: Path, config: Config, features: Path | None) -> tuple[Path, str]:
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
        write_synthetic_release(out, config.synth, annotations)
    source = "TSL-300's real annotations (../shared/tsl300)" if annotations else "the built-in generator"
    return out, f"synthetic release from {source}, planted strengths face/audio/visual = " \
        f"{config.synth.face_strength}/{config.synth.audio_strength}/{config.synth.visual_strength}"


def run_train_bench(
    config: Config, workdir: Path, doc: Path, seeds: list[int], variants: list[str] | None, device: str,
    features: Path | None = None, command: str = "python cli.py bench train",
) -> list[list[str]]:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dataset_path, dataset_note = prepare_dataset(workdir, config, features)
    chosen = [v for v in VARIANTS if variants is None or v.name in variants]
    rows = []
    for variant in chosen:
        scores: dict[str, list[float]] = {"map": [], "recall": [], "f2": [], "epoch": []}
        for seed in seeds:
            run_config = with_overrides(config, {"model": variant.model_overrides, "train": {"seed": seed}})
            run_dir = workdir / "runs" / f"{variant.name}_seed{seed}"
            started = time.perf_counter()
            summary = run_train(dataset_path, None, run_dir, run_config, device, show_progress=False, log=lambda *_: None)
            result = evaluate_run(run_dir, "test", run_dir / "predictions_test.json", device, log=lambda *_: None)
            epoch_seconds = [record["seconds"] for record in summary.history] or [float("nan")]
            scores["map"].append(result.average_map)
            scores["recall"].append(result.tsl_recall_avg)
            scores["f2"].append(result.tsl_f2_avg)
            scores["epoch"].append(statistics.fmean(epoch_seconds))
            print(
                f"{variant.name} seed {seed}: avg mAP {100 * result.average_map:.2f}, Recall {100 * result.tsl_recall_avg:.2f}, "
                f"F2 {100 * result.tsl_f2_avg:.2f}, {statistics.fmean(epoch_seconds):.1f} s/epoch "
                f"({time.perf_counter() - started:.0f} s)", file=sys.stderr,
            )
        rows.append([
            variant.name, variant.what, _spread(scores["map"]), _spread(scores["recall"]), _spread(scores["f2"]),
            f"{statistics.fmean(scores['epoch']):.1f}", str(PAPER_AVG_MAP.get(variant.name, "-")),
        ])
    header = ["variant", "what", "avg mAP (%)", "Recall@AVG (%)", "F2@AVG (%)", "s / epoch", "paper avg mAP (TSL-300)"]
    settings = (
        f"Dataset: {dataset_note}. Seeds {seeds}; mean ± standard deviation over seeds. "
        f"Training: {config.train.epochs} epochs, batch {config.train.batch_size}, Adam lr {config.train.learning_rate}, "
        f"d_model {config.model.d_model}, max_train_snippets {config.train.max_train_snippets}, device {device}. "
        "Model selection on a validation split carved from train; figures on the test split."
    )
    body = section_stamp(command) + "\n" + markdown_table(header, rows) + "\n\n" + settings + "\n"
    update_section(doc, "train", "Training: ablations and baselines on TSL-300-shaped data (`bench train`)", body)
    print(markdown_table(header, rows))
    return rows


def run_epoch_bench(
    config: Config, workdir: Path, doc: Path, epochs: int, device: str, features: Path | None = None,
    command: str = "python cli.py bench epoch",
) -> dict:
    """Epoch time of the configured model on the TSL-300-shaped dataset (`epochs` epochs)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dataset_path, dataset_note = prepare_dataset(workdir, config, features)
    run_config = with_overrides(config, {"train": {"epochs": epochs, "validate_every_epochs": epochs + 1}})
    run_dir = workdir / "runs" / f"epoch_time_{time.strftime('%Y%m%d_%H%M%S')}"
    summary = run_train(dataset_path, None, run_dir, run_config, device, show_progress=False, log=lambda *_: None)
    seconds = [record["seconds"] for record in summary.history]
    steady = seconds[1:] or seconds
    figures = {"epochs": len(seconds), "first_epoch_seconds": seconds[0], "epoch_seconds": statistics.fmean(steady)}
    rows = [[
        device, str(config.model.d_model), str(config.train.batch_size), str(config.train.max_train_snippets or "whole videos"),
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
