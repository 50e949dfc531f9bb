"""The planted-signal problem of tests/pipeline/train/test_quality_holds.py, trained with the
defaults and with one setting changed at a time, over the test's seeds; prints a markdown
table (test avg mAP of best.pt and last.pt, epochs run, share of two-class test videos with
both classes localized) for docs/benchmarks.md.

    .venv/bin/python scripts/planted_variants.py WORKDIR [VARIANT,...]

Each run goes through run_train and evaluate_run exactly as the test's do (its data, its
SETTINGS); WORKDIR keeps the runs (a rerun resumes each one and scores it again).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.bench.doc import machine_description  # noqa: E402
from pipeline.bench.train import VARIANTS as TRAIN_BENCH_VARIANTS  # noqa: E402
from pipeline.config import config_from_layers  # noqa: E402
from pipeline.evaluate.stage import evaluate_run  # noqa: E402
from pipeline.train.stage import run_train  # noqa: E402
from tests.pipeline.train.test_quality_holds import (  # noqa: E402
    SEEDS,
    SETTINGS,
    both_classes_share,
    write_planted_release,
)

BENCH_VARIANTS = {variant.name: variant for variant in TRAIN_BENCH_VARIANTS}
VARIANTS: dict[str, tuple[str, dict]] = {
    "defaults": ("the defaults (the test's settings)", {}),
    **{name: (BENCH_VARIANTS[name].what, BENCH_VARIANTS[name].overrides)
       for name in ("focal_split", "hard_window", "baseline_window")},  # as `bench train` defines them
    "class_scores_localized": ("`postprocess.class_scores_from=localized`",
                               {"postprocess": {"class_scores_from": "localized"}}),
    "no_early_stopping": ("`train.early_stopping_patience=0`", {"train": {"early_stopping_patience": 0}}),
}


def run_variant(root: Path, release: Path, name: str) -> list[dict]:
    """Each seed of one variant: its figures."""
    figures = []
    for seed in SEEDS:
        run_dir = root / f"{name}_seed{seed}"
        config = config_from_layers(SETTINGS, VARIANTS[name][1], {"train": {"seed": seed}})
        summary = run_train(release, None, run_dir, config, "cpu", show_progress=False, log=lambda *_: None)
        scores = {checkpoint: evaluate_run(run_dir, "test", root / f"{name}_seed{seed}_{checkpoint}.json", "cpu",
                                           checkpoint, log=lambda *_: None, record_in_run=False).average_map
                  for checkpoint in ("best.pt", "last.pt")}
        figures.append({**scores, "epochs": summary.epochs_run, "both": both_classes_share(run_dir, release, config)})
    return figures


def row(name: str, figures: list[dict]) -> str:
    best, last = [f["best.pt"] for f in figures], [f["last.pt"] for f in figures]
    cells = [
        VARIANTS[name][0], f"{np.mean(best):.3f} ({', '.join(f'{v:.3f}' for v in best)})",
        f"{np.mean(last):.3f} ({', '.join(f'{v:.3f}' for v in last)})", f"{np.mean(best) - np.mean(last):.3f}",
        ", ".join(str(f["epochs"]) for f in figures), ", ".join(f"{f['both']:.2f}" for f in figures),
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    root = Path(sys.argv[1])
    names = sys.argv[2].split(",") if len(sys.argv) > 2 else list(VARIANTS)
    release = root / "release"
    if not (release / "videosenti_gt.json").is_file():
        write_planted_release(release)
    lines = ["| settings | best.pt, mean (seeds) | last.pt, mean (seeds) | drop | epochs run | both classes |",
             "|---|---|---|---|---|---|"]
    lines += [row(name, run_variant(root, release, name)) for name in names]
    print(f"Machine: {machine_description()}; date {time.strftime('%Y-%m-%d %H:%M')}; seeds {list(SEEDS)}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
