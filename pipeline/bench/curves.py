"""Learning curves (why validation mAP decays after its peak): train variants with per-epoch
diagnostics, plot them, tabulate final vs best epoch.

    fsenet bench curves --features DATA --name NAME [--seeds 1,2] [--set KEY=VALUE ...] [--device cuda]
    fsenet bench curves RUN_DIR... --plot docs/learning_curves.png [--split validation]
    fsenet bench curves RUN_DIR... [--metric map_cas_fg_abs] [--patience 3] [--split test]

or, the same as subcommands:

    python -m pipeline.bench.curves run --features DATA --workdir W --name NAME --seeds 1,2 \
        [--set KEY=VALUE ...]            # trains W/runs/NAME_seed<S> with train.diagnostics_splits
    python -m pipeline.bench.curves plot --out docs/learning_curves.png W/runs/NAME_seed1 ...
    python -m pipeline.bench.curves table W/runs/*_seed*

`run` adds ``train.diagnostics_splits=[validation, test]`` unless --set gives it; the test
figures are read for diagnosis only (selection uses validation, as in every run). Every
figure comes from RUN/history.json, so `plot` and `table` work on any run trained with
diagnostics.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

# (history keys, panel title) per panel of the learning-curve figure; "{split}" is the split
# plotted (validation or test), "validation_" keys are the validation split's, bare "loss_*"
# keys the training epoch's mean (train mode, crops).
CURVE_PANELS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("{split}_map",), "avg mAP (tIoU 0.1-0.3), configured inference"),
    (("loss_total", "validation_loss_total"), "loss total: train (-), validation (--)"),
    (("loss_base", "loss_frame", "loss_frame_glo", "loss_sc"), "train loss terms"),
    (("validation_loss_base", "validation_loss_frame", "validation_loss_frame_glo", "validation_loss_sc"),
     "validation loss terms"),
    (("{split}_cas_in", "{split}_cas_out"), "class CAS inside (-) / outside (--) GT"),
    (("{split}_bg_in", "{split}_bg_out"), "background score inside (-) / outside (--) GT"),
    (("{split}_auc_cas", "{split}_auc_fg"), "ROC AUC in vs out: max class CAS (-), 1 - bg (--)"),
    (("{split}_share_cas_lowest", "{split}_share_fg_lowest"),
     "share >= lowest threshold: CAS 0.025 (-), 1-bg 0.4 (--)"),
    (("{split}_proposals_per_video",), "segments per video after NMS"),
    (("{split}_map_cas_abs", "{split}_map_cas_fg_abs", "{split}_map_global_abs", "{split}_map_global_rel"),
     "avg mAP by inference score"),
)
LINE_STYLES: tuple[str, ...] = ("-", "--", ":", "-.")


def train_variant(features: Path, workdir: Path, name: str, seeds: Sequence[int], overrides: Sequence[str],
                  device: str = "cpu", config_file: Path | None = None) -> list[Path]:
    """Train one variant for each seed into WORKDIR/runs/NAME_seed<S> (resumes finished or
    killed runs); returns the run folders."""
    from pipeline.config import load_config
    from pipeline.train.stage import run_train

    sets = list(overrides)
    if not any(item.startswith("train.diagnostics_splits=") for item in sets):
        sets.append("train.diagnostics_splits=[validation,test]")
    run_dirs = []
    for seed in seeds:
        config = load_config(config_file, [*sets, f"train.seed={seed}"])
        run_dir = Path(workdir) / "runs" / f"{name}_seed{seed}"
        summary = run_train(Path(features), None, run_dir, config, device, show_progress=False, log=lambda *_: None)
        print(f"{name} seed {seed}: best validation {summary.selection_metric} {summary.best_metric:.4f} "
              f"at epoch {summary.best_epoch}", file=sys.stderr)
        (run_dir / "variant.json").write_text(json.dumps({"name": name, "seed": seed, "overrides": sets}, indent=1))
        run_dirs.append(run_dir)
    return run_dirs


def read_history(run_dir: Path) -> list[dict]:
    """The validated epochs of RUN/history.json (records that carry validation figures)."""
    history = json.loads((Path(run_dir) / "history.json").read_text())
    return [record for record in history if any(key.startswith("validation_") for key in record)]


def final_and_best(records: list[dict], split: str, metric: str = "map") -> dict[str, float]:
    """`split`'s `metric` (a history key without the split prefix, e.g. "map" or
    "map_cas_fg_abs") at the last validated epoch, at the epoch the validation split's
    same metric picks, and its peak over the run."""
    scored = [record for record in records if f"validation_{metric}" in record]
    chosen = max(scored, key=lambda record: record[f"validation_{metric}"])
    return {
        "final": scored[-1].get(f"{split}_{metric}", math.nan),
        "at_selected": chosen.get(f"{split}_{metric}", math.nan),
        "peak": max(record.get(f"{split}_{metric}", -math.inf) for record in scored),
        "selected_epoch": chosen["epoch"],
        "epochs": scored[-1]["epoch"],
    }


def early_stop(records: list[dict], patience_checks: int, metric: str = "map") -> tuple[dict, dict]:
    """(selected record, stop record) of train.early_stopping_patience replayed on a
    recorded validation curve: training stops at the first check `patience_checks`
    checks after the best so far, keeping the best."""
    scored = [record for record in records if f"validation_{metric}" in record]
    best = scored[0]
    for index, record in enumerate(scored):
        if record[f"validation_{metric}"] > best[f"validation_{metric}"]:
            best = record
        if index - scored.index(best) >= patience_checks:
            return best, record
    return best, scored[-1]


def curve_table(run_dirs: Sequence[Path], metric: str = "map", patience_checks: int = 3) -> str:
    """Markdown: per run, validation and test `metric` at the final epoch, at the epoch the
    validation split picks over the whole run, and with early stopping replayed."""
    lines = [
        f"| run | epochs | val final | val best (epoch) | test final | test at val-best | test peak "
        f"| early stop (patience {patience_checks} checks): stop epoch, test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run_dir in run_dirs:
        records = read_history(run_dir)
        if not records:
            continue
        val, test = final_and_best(records, "validation", metric), final_and_best(records, "test", metric)
        kept, stopped = early_stop(records, patience_checks, metric)
        lines.append(
            f"| {Path(run_dir).name} | {val['epochs']} | {val['final']:.3f} | {val['at_selected']:.3f} "
            f"({val['selected_epoch']}) | {test['final']:.3f} | {test['at_selected']:.3f} | {test['peak']:.3f} "
            f"| {stopped['epoch']}, {kept.get(f'test_{metric}', math.nan):.3f} |"
        )
    return "\n".join(lines)


def _draw_panel(panel, run_dirs: Sequence[Path], keys: tuple[str, ...], split: str) -> None:
    """One line per run (colour) and key (line style) of a panel."""
    for run_index, run_dir in enumerate(run_dirs):
        records = read_history(run_dir)
        for key_index, template in enumerate(keys):
            key = template.format(split=split)
            points = [(record["epoch"], record[key]) for record in records if key in record]
            if points:
                epochs, values = zip(*points, strict=True)
                panel.plot(epochs, values, LINE_STYLES[key_index % len(LINE_STYLES)], color=f"C{run_index % 10}",
                           linewidth=1.2, label=template.split("_", 1)[1] if run_index == 0 and len(keys) > 2 else None)
    if len(keys) > 2:
        panel.legend(fontsize=6, loc="best")


def plot_curves(run_dirs: Sequence[Path], out_png: Path, split: str = "validation", title: str = "") -> None:
    """One panel per CURVE_PANELS entry; colour = run, line style = key (x: epoch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    columns = 5
    rows = math.ceil(len(CURVE_PANELS) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.1 * rows), squeeze=False)
    for panel, (keys, panel_title) in zip(axes.flat, CURVE_PANELS, strict=False):
        _draw_panel(panel, run_dirs, keys, split)
        panel.set_title(panel_title, fontsize=8)
        panel.set_xlabel("epoch", fontsize=7)
        panel.tick_params(labelsize=7)
        panel.grid(alpha=0.3)
    for panel in list(axes.flat)[len(CURVE_PANELS):]:
        panel.axis("off")
    handles = [Line2D([], [], color=f"C{i % 10}") for i in range(len(run_dirs))]
    figure.legend(handles, [Path(r).name for r in run_dirs], loc="lower center", ncol=min(5, len(run_dirs)), fontsize=8)
    figure.suptitle(title or f"{split} split, per epoch", fontsize=10)
    figure.tight_layout(rect=(0, 0.06, 1, 0.96))
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, dpi=100)
    plt.close(figure)


def seed_summary(run_dirs: Sequence[Path], split: str = "test", metric: str = "map") -> str:
    """Per variant (run folder name without _seed<S>): mean +- sd of final and validation-selected `metric`."""
    groups: dict[str, list[dict]] = {}
    for run_dir in run_dirs:
        records = read_history(run_dir)
        if records:
            variant = Path(run_dir).name.rsplit("_seed", 1)[0]
            groups.setdefault(variant, []).append(final_and_best(records, split, metric))
    lines = [f"| variant | seeds | {split} final | {split} at val-best | final - at val-best |",
             "|---|---|---|---|---|"]
    for name, figures in groups.items():
        def spread(values: list[float]) -> str:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.fmean(values):.3f} ± {sd:.3f}"

        finals = [f["final"] for f in figures]
        chosen = [f["at_selected"] for f in figures]
        lines.append(f"| {name} | {len(figures)} | {spread(finals)} | {spread(chosen)} | "
                     f"{spread([a - b for a, b in zip(finals, chosen, strict=True)])} |")
    return "\n".join(lines)


def curves_command(runs: Sequence[Path], plot: Path | None, split: str | None, metric: str, patience: int) -> str:
    """`fsenet bench curves RUN_DIR...`: draw the runs' curves to `plot` (split default
    validation), else the tables (split default test); returns what to print."""
    missing = [str(run) for run in runs if not (Path(run) / "history.json").is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no history.json; pass run folders written by train")
    if plot is not None:
        plot_curves(runs, plot, split or "validation")
        return f"curves: {plot}"
    return curve_table(runs, metric, patience) + "\n\n" + seed_summary(runs, split or "test", metric)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench.curves", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run")
    run.add_argument("--features", type=Path, required=True)
    run.add_argument("--workdir", type=Path, required=True)
    run.add_argument("--name", required=True)
    run.add_argument("--seeds", default="1")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--device", default="cpu")
    plot = commands.add_parser("plot")
    plot.add_argument("runs", type=Path, nargs="+")
    plot.add_argument("--out", type=Path, required=True)
    plot.add_argument("--split", default="validation")
    plot.add_argument("--title", default="")
    table = commands.add_parser("table")
    table.add_argument("runs", type=Path, nargs="+")
    table.add_argument("--split", default="test")
    table.add_argument("--metric", default="map", help="history key without the split prefix, e.g. map_cas_fg_abs")
    table.add_argument("--patience", type=int, default=3, help="validation checks replayed for early stopping")
    args = parser.parse_args(argv)
    if args.command == "run":
        train_variant(args.features, args.workdir, args.name, [int(s) for s in args.seeds.split(",")], args.overrides,
                      args.device)
    elif args.command == "plot":
        plot_curves(args.runs, args.out, args.split, args.title)
    else:
        print(curve_table(args.runs, args.metric, args.patience))
        print()
        print(seed_summary(args.runs, args.split, args.metric))
    return 0


if __name__ == "__main__":
    sys.exit(main())
