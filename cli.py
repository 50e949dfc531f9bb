#!/usr/bin/env python3
"""fsenet: temporal sentiment localization in untrimmed videos (the one entry point).

Thin on purpose: parses arguments, builds the config, calls `pipeline`. Errors a user can
fix are printed as one line (exit status 2); --debug shows the traceback instead.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

from pipeline import __version__
from pipeline.console import printable


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML file of settings over the defaults")
    parser.add_argument("--preset", metavar="NAME",
                        help="named settings under --config and --set: paper (the FSENet paper's training recipe)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one setting, e.g. --set audio.n_mfcc=20 (repeatable; applied after --config)",
    )
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bars, no notes (results, warnings and errors still print)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _config(args: argparse.Namespace, extra: list[str] = ()):
    from pipeline.config import given_settings, load_config  # here, as every heavy import: --help loads no model code

    config = load_config(args.config, [*args.overrides, *extra], args.preset)
    if "synth" in given_settings(args.config, args.overrides, args.preset):
        _synth_settings(args)  # read only by synth and bench, but a typo in it is an error everywhere
    return config


def _given_postprocess(args: argparse.Namespace) -> dict:
    """The postprocess settings the user gave (--preset, --config, --set): they win over a checkpoint's."""
    from pipeline.config import given_settings

    section = given_settings(args.config, args.overrides, args.preset).get("postprocess") or {}
    return section if isinstance(section, dict) else {}


def _usage_error(message: str) -> Exception:
    from pipeline.config import ConfigError

    return ConfigError(message)


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars: on a terminal only, and not with --no-progress or --quiet."""
    from pipeline.console import progress_wanted

    return progress_wanted(getattr(args, "no_progress", False), args.quiet)


def _log(args: argparse.Namespace):
    """Where a stage's notes and warnings go (--quiet: warnings only)."""
    from pipeline.console import stage_log

    return stage_log(args.quiet)


def _shell(path) -> str:
    from pipeline.console import shell_path

    return shell_path(path)


def resolve_device(choice: str) -> str:
    from pipeline.devices import resolve_device as resolve

    return resolve(choice)


def _command_line() -> str:
    """This command as typed, for the benchmark sections (which say what made them)."""
    return " ".join(["fsenet", *sys.argv[1:]])


def _engine_overrides(args: argparse.Namespace) -> list[str]:
    """--engine / --ray-address as config overrides; an address alone means --engine ray
    (quoted: YAML would read 1:30 as a number)."""
    if args.ray_address is not None and args.engine == "local":
        raise _usage_error("--ray-address is for --engine ray; drop one of them")
    engine = args.engine or ("ray" if args.ray_address is not None else None)
    extra = [f"extract.engine={engine}"] if engine else []
    if args.ray_address is not None:
        extra.append(f"extract.ray_address={json.dumps(args.ray_address)}")
    if args.workers is not None:
        extra.append(f"extract.workers={0 if args.workers == 'auto' else args.workers}")
    return extra


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=["local", "ray"],
                        help="local: this process; ray: Ray workers (default: extract.engine, local)")
    parser.add_argument("--ray-address", metavar="ADDRESS",
                        help="a running Ray cluster to use (auto, HOST:6379, ray://HOST:10001; implies --engine ray); "
                        "default: --engine ray starts Ray on this machine")
    parser.add_argument("--workers", metavar="auto|N", type=_workers_value,
                        help="local engine: videos decoded at once by N worker processes (auto: one per core; "
                        "1: one video at a time); default: extract.workers, 1")


def _workers_value(text: str) -> str:
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text
    raise argparse.ArgumentTypeError(f"expected auto or a number >= 1, got {text!r}")


def cmd_extract(args: argparse.Namespace) -> int:
    from pipeline.extract.stage import format_extract_summary, run_extract

    extra = []
    if args.streams:
        extra.append(f"extract.streams={args.streams}")
    if args.device:
        extra.append(f"extract.device={args.device}")
    config = _config(args, [*extra, *_engine_overrides(args)])
    summary = run_extract(
        args.videos, args.cache, config, allow_random_weights=args.random_weights,
        debug=args.debug, show_progress=_progress(args), log=_log(args),
    )
    print(format_extract_summary(summary))
    return 1 if summary.failures else 0


def cmd_cache_info(args: argparse.Namespace) -> int:
    from pipeline.api import cache_info, format_cache_info, last_extract_streams
    from pipeline.console import json_for_stdout

    records = cache_info(args.cache_dir)
    print(json_for_stdout(records) if args.json else format_cache_info(records, last_extract_streams(args.cache_dir)))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline.train import distributed
    from pipeline.train.stage import run_train

    extra = [f"train.epochs={args.epochs}"] if args.epochs is not None else []
    if args.refit:
        extra.append("train.refit=true")
    config = _config(args, extra)
    from pipeline.errors import is_user_error

    context = distributed.start(args.device)  # under torchrun: this process's place and the process group
    try:
        summary = run_train(args.features, args.annotations, args.out, config, context.device,
                            show_progress=_progress(args), log=_log(args), distributed=context)
    except BaseException as error:
        if not context.is_distributed:
            raise
        # the other processes may wait for this one in a collective: report, exit, and torchrun stops them
        status = 2 if is_user_error(error) else 130 if isinstance(error, KeyboardInterrupt) else 1
        detail = traceback.format_exc().rstrip() if args.debug or status == 1 else f"error: {error}"
        distributed.exit_after_error(context, detail, status)
    distributed.stop(context)
    if context.is_main:
        best = f"{summary.best_metric:.4f} at epoch {summary.best_epoch}" if summary.best_metric is not None else "n/a"
        print(f"trained {summary.epochs_run} epoch(s); best validation {summary.selection_metric}: {best}")
        print(f"checkpoint: {_shell(summary.run_dir / 'best.pt')} "
              f"(resume state: {_shell(summary.run_dir / 'last.pt')})")
        if summary.refit_path is not None:
            print(f"refit on train + validation for {summary.best_epoch} epoch(s): {_shell(summary.refit_path)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pipeline.console import json_for_stdout
    from pipeline.infer.metrics import format_report

    if args.run is not None:
        from pipeline.evaluate.stage import evaluate_run

        if args.predictions or args.ground_truth:
            raise _usage_error("evaluate: pass either --run RUN_DIR, or --predictions with --ground-truth, not both")
        if args.subset is not None:
            raise _usage_error("evaluate: --subset filters a --ground-truth file; with --run pass --split")
        split = args.split or "test"
        out = args.out or args.run / f"predictions_{split}.json"
        config = _config(args)  # the settings given are checked before any work
        result = evaluate_run(args.run, split, out, resolve_device(args.device), checkpoint=args.checkpoint,
                              log=_log(args), postprocess_overrides=_given_postprocess(args), infer=config.infer)
        print(json_for_stdout(result.to_json()) if args.json else format_report(result))
        if not args.json:
            print(f"predictions: {_shell(out)}; figures: {_shell(out.with_suffix('.metrics.json'))}")
        return 0
    if not (args.predictions and args.ground_truth):
        raise _usage_error("evaluate: pass --run RUN_DIR, or --predictions FILE --ground-truth FILE")
    from pipeline.evaluate.stage import evaluate_files

    result = evaluate_files(args.predictions, args.ground_truth, args.subset, args.split)
    print(json_for_stdout(result.to_json()) if args.json else format_report(result))
    return 0


def _synth_settings(args: argparse.Namespace):
    """The `synth` section from --preset, --config and --set (the commands that write a
    synthetic release own it; the shared config leaves it out)."""
    from pipeline.config import load_section
    from pipeline.synthetic.release import SynthConfig

    return load_section("synth", SynthConfig, args.config, args.overrides, args.preset)


def cmd_synth(args: argparse.Namespace) -> int:
    from pipeline.synthetic.release import write_synthetic_release

    _config(args)  # the other sections given are checked too
    summary = write_synthetic_release(args.out, _synth_settings(args), args.annotations)
    print(
        f"wrote {summary.videos} videos ({summary.train_videos} train, {summary.test_videos} test; features for "
        f"{summary.feature_videos}), {summary.segments} segments, {summary.points} points, "
        f"{summary.bytes_written / 2**20:.0f} MiB to {_shell(summary.out)} (annotations: {summary.source})"
    )
    return 0


BENCH_DEFAULT_DURATIONS = {
    "decode": "300,1200,3600", "extract": "300,1200,3600", "visual": "30", "face": "30", "train": "", "epoch": "",
    "localize": "300", "scaling": "10", "startup": "", "curves": "", "folder": "10",
}


def _bench_curves(args: argparse.Namespace) -> None:
    """`bench curves`: train a variant with per-epoch diagnostics (--name), or plot (--plot)
    or tabulate the run folders given."""
    from pipeline.bench.curves import curves_command, train_variant

    if args.runs:
        print(curves_command(args.runs, args.plot, args.split, args.metric, args.patience))
        return
    if not (args.features and args.name):
        raise _usage_error("bench curves: pass --features DATA --name NAME to train, or RUN_DIR... to plot / tabulate")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    for run_dir in train_variant(args.features, args.workdir, args.name, seeds, args.overrides,
                                 resolve_device(args.device), args.config):
        print(f"run: {_shell(run_dir)}")


def cmd_bench(args: argparse.Namespace) -> int:
    if args.runs and args.what != "curves":
        raise _usage_error(f"bench {args.what}: run folders are for bench curves only")
    if args.what == "curves":
        _bench_curves(args)
        return 0
    durations = [float(d) for d in (args.durations or BENCH_DEFAULT_DURATIONS[args.what]).split(",") if d]
    config = _config(args)
    if args.what == "startup":
        from pipeline.bench.startup import run_startup_bench

        run_startup_bench(args.workdir, args.doc, args.runs, command=_command_line())
    elif args.what == "scaling":
        from pipeline.bench.scaling import run_scaling_bench

        run_scaling_bench(config, args.workdir, args.out or args.workdir / "scaling.json", video_seconds=durations[0])
    elif args.what == "localize":
        from pipeline.bench.localize import run_localize_bench

        run_localize_bench(config, args.workdir, args.doc, duration_seconds=durations[0],
                           command=_command_line())
    elif args.what == "epoch":
        from pipeline.bench.train import run_epoch_bench
        run_epoch_bench(config, _synth_settings(args), args.workdir, args.doc, args.epochs, resolve_device(args.device),
                        args.features, command=_command_line())
    elif args.what == "train":
        from pipeline.bench.train import run_train_bench
        seeds = [int(seed) for seed in args.seeds.split(",")]
        variants = args.variants.split(",") if args.variants else None
        from pipeline.config import given_settings

        given = given_settings(args.config, args.overrides, args.preset)
        run_train_bench(config, given, _synth_settings(args), args.workdir, args.doc, seeds, variants,
                        resolve_device(args.device), args.features, command=_command_line(),
                        report_only=args.report_only)
    elif args.what == "visual":
        from pipeline.bench.visual import run_visual_bench

        run_visual_bench(config, args.workdir, args.doc, durations, device=resolve_device(args.device))
    elif args.what == "folder":
        from pipeline.bench.folder import run_folder_bench

        run_folder_bench(config, args.workdir, args.doc, args.videos, durations[0], resolve_device(args.device),
                         command=_command_line())
    elif args.what == "face":
        from pipeline.bench.face import run_face_bench

        run_face_bench(config, args.workdir, args.doc, durations, device=resolve_device(args.device))
    else:
        from pipeline.bench.decode import run_bench

        run_bench(args.what, config, args.workdir, args.doc, durations)
    return 0


def cmd_localize(args: argparse.Namespace) -> int:
    from pipeline.localize.stage import format_localize_summary, run_localize

    shown = [f"localize.{key}={value}" for key, value in
             (("min_score", args.min_score), ("max_segments", args.max_segments),
              ("video", args.video)) if value is not None]
    summary = run_localize(
        args.videos, args.model, args.out, _config(args, [*_engine_overrides(args), *shown]), cache_dir=args.cache,
        device=resolve_device(args.device),
        allow_random_weights=args.random_weights, debug=args.debug, show_progress=_progress(args), log=_log(args),
        postprocess_overrides=_given_postprocess(args),
    )
    print(format_localize_summary(summary))
    return 1 if summary.failures or summary.unwritten else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import run_demo

    return run_demo(args.out, _config(args), show_progress=_progress(args), log=_log(args), quiet=args.quiet)


def cmd_config(args: argparse.Namespace) -> int:
    from pipeline.config import config_to_yaml

    print(config_to_yaml(_config(args)), end="")
    return 0


def _add_extract_command(commands) -> None:
    extract = commands.add_parser("extract", help="videos -> feature cache (resumable)")
    extract.add_argument("videos", type=Path, metavar="VIDEOS_DIR",
                         help="folder of videos (searched recursively) or one video")
    extract.add_argument("--cache", type=Path, required=True, metavar="CACHE_DIR",
                         help="feature cache folder (created)")
    extract.add_argument("--streams", metavar="LIST",
                         help="comma-separated streams: audio,visual,face (default: extract.streams)")
    extract.add_argument("--device", metavar="auto|cpu|cuda", help="where models run (default: extract.device, auto)")
    extract.add_argument("--random-weights", action="store_true",
                         help="use random weights when a checkpoint is missing (recorded, and warned about downstream)")
    extract.add_argument("--no-progress", action="store_true", help="no progress bars")
    _engine_arguments(extract)
    _common(extract)
    extract.set_defaults(handler=cmd_extract)


def _add_cache_info_command(commands) -> None:
    info = commands.add_parser("cache-info", help="list what a feature cache holds and whether it is valid")
    info.add_argument("cache_dir", type=Path, metavar="CACHE_DIR")
    info.add_argument("--json", action="store_true", help="machine-readable records")
    _common(info)
    info.set_defaults(handler=cmd_cache_info)


def _add_train_command(commands) -> None:
    train = commands.add_parser("train", help="features + annotations -> checkpoint (resumable)")
    train.add_argument("--features", type=Path, required=True, metavar="PATH",
                       help="a feature cache (from extract) or a released feature folder "
                            "(TSL-300's or FSENet's layout)")
    train.add_argument("--annotations", type=Path, metavar="FILE_OR_DIR",
                       help="points CSV, segments CSV/JSON, video labels CSV, ELAN .eaf, Label Studio JSON, "
                            "Audacity labels .txt (a file or a folder of them; docs/formats.md)")
    train.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run folder (rerun to resume)")
    train.add_argument("--epochs", type=int, help="override train.epochs")
    train.add_argument("--refit", action="store_true",
                       help="then train a new model on train + validation for the best epoch count -> RUN_DIR/refit.pt "
                       "(train.refit)")
    train.add_argument("--device", default="auto", metavar="auto|cpu|cuda")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(train)
    train.set_defaults(handler=cmd_train)


def _add_evaluate_command(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="score a run on a split, or a results file against a ground truth")
    evaluate.add_argument("--run", type=Path, metavar="RUN_DIR", help="a folder written by train")
    evaluate.add_argument("--split", help="--run: split of the run's dataset (default test); --ground-truth: its "
                                           "videos of that split (train, validation, test; subset testing is test)")
    evaluate.add_argument("--checkpoint", default="best.pt", metavar="NAME",
                          help="--run: the checkpoint in RUN_DIR to score (default best.pt; "
                               "refit.pt after train --refit)")
    evaluate.add_argument("--out", type=Path, metavar="PREDICTIONS_JSON",
                          help="where to write ActivityNet-format results")
    evaluate.add_argument("--predictions", type=Path, metavar="FILE", help="ActivityNet-format results to score")
    evaluate.add_argument("--ground-truth", type=Path, metavar="FILE",
                          help="ActivityNet-style ground truth (e.g. TSL-300 gt.json)")
    evaluate.add_argument("--subset", help="keep only ground-truth videos of this subset (e.g. test)")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.add_argument("--device", default="auto", metavar="auto|cpu|cuda")
    _common(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)


def _add_localize_command(commands) -> None:
    localize = commands.add_parser("localize",
                                   help="new videos + a checkpoint -> segments, subtitles, timeline, HTML report")
    localize.add_argument("videos", type=Path, metavar="VIDEO_OR_DIR",
                          help="a video, or a folder of videos (searched recursively)")
    localize.add_argument("--model", type=Path, required=True, metavar="CKPT",
                          help="a checkpoint written by train (RUN_DIR/best.pt)")
    localize.add_argument("--out", type=Path, required=True, metavar="OUT_DIR",
                          help="output folder: one subfolder per video")
    localize.add_argument("--cache", type=Path, metavar="CACHE_DIR",
                          help="feature cache to reuse or fill (default OUT_DIR/cache)")
    localize.add_argument("--device", default="auto", metavar="auto|cpu|cuda",
                          help="where extraction and the model run")
    localize.add_argument("--random-weights", action="store_true",
                          help="extract with random weights when a checkpoint is missing "
                               "(only matches a model trained so)")
    localize.add_argument("--min-score", type=float, metavar="SCORE",
                          help="show (report, subtitles, plot, summary) only segments scoring at least this "
                          "(default: localize.min_score, 0); segments.json keeps every segment")
    localize.add_argument("--max-segments", type=int, metavar="N",
                          help="show at most N segments per video, best first (default: localize.max_segments, 0: all)")
    localize.add_argument("--video", choices=["relative", "copy", "link"],
                          help="how report.html reaches the video: relative link (default: localize.video), a copy "
                          "beside it (the folder can move), or a symlink")
    localize.add_argument("--no-progress", action="store_true", help="no progress bars")
    _engine_arguments(localize)
    _common(localize)
    localize.set_defaults(handler=cmd_localize)


def _add_synth_command(commands) -> None:
    synth = commands.add_parser("synth", help="write a TSL-300-shaped synthetic dataset in the released layout")
    synth.add_argument("--annotations", type=Path, metavar="DIR",
                       help="TSL-300 annotation folder (e.g. ../shared/tsl300); without it a random generator")
    synth.add_argument("--out", type=Path, required=True, metavar="DIR")
    _common(synth)
    synth.set_defaults(handler=cmd_synth)


def _add_bench_command(commands) -> None:
    bench = commands.add_parser("bench", help="measure speed and memory; writes docs/benchmarks.md")
    bench.add_argument(
        "what", choices=list(BENCH_DEFAULT_DURATIONS),
        help="decode: decode-only throughput; extract: audio extraction; visual / face: those streams; "
        "train: ablations and baselines; epoch: training epoch time; localize: localizing a cached 5-minute video; "
        "scaling: the Ray engine with 1 and 2 workers and its fixed costs (JSON to --out); "
        "startup: --help, a no-op extract and a cached localize, each in a new process; "
        "curves: learning curves with per-epoch diagnostics (train a variant, or plot / tabulate RUN_DIRs); "
        "folder: --videos generated 720p videos through extract, one at a time and with "
        "workers (--set extract.workers=N; "
        "default one per core)",
    )
    bench.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR", help="curves: run folders to plot or tabulate")
    bench.add_argument(
        "--durations", metavar="SECONDS",
        help="comma-separated lengths of the generated test videos (default 300,1200,3600 for "
             "decode/extract, 30 for visual/face)",
    )
    bench.add_argument("--videos", type=int, default=4, help="folder: how many videos (default 4)")
    bench.add_argument("--epochs", type=int, default=3,
                       help="epoch: epochs to time (default 3; the first is reported apart)")
    bench.add_argument("--runs", type=int, default=5,
                       help="startup: runs of each command (default 5; the median is reported)")
    bench.add_argument("--seeds", default="1,2,3", help="train: comma-separated seeds (default 1,2,3)")
    bench.add_argument("--variants",
                       help="train: comma-separated variants (default: default, paper, focal_split, gsp_only, "
                       "baseline_window; also paper_losses, fci_one_stage, no_gsp, hard_labels, hard_window, "
                       "no_pseudo_labels, no_frame_losses, no_face, baseline_points)")
    bench.add_argument("--report-only", action="store_true",
                       help="train: write the tables from the runs finished so far")
    bench.add_argument("--features", type=Path, help="train: a dataset to use instead of the synthetic release")
    bench.add_argument("--device", default="auto", metavar="auto|cpu|cuda", help="train/visual/face: where models run")
    bench.add_argument("--workdir", type=Path, default=Path("bench_work"),
                       help="where test videos are generated (reused)")
    bench.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"), help="markdown file to update")
    bench.add_argument("--out", type=Path, metavar="JSON",
                       help="scaling: where to write the figures (default WORKDIR/scaling.json)")
    bench.add_argument("--name",
                       help="curves: train this variant (WORKDIR/runs/NAME_seed<S>, with --features, --seeds, --set)")
    bench.add_argument("--plot", type=Path, metavar="PNG", help="curves: draw the RUN_DIRs' curves to this file")
    bench.add_argument("--split",
                       help="curves: split of the figures (default validation for --plot, test for the table)")
    bench.add_argument("--metric", default="map",
                       help="curves: history key of the table, e.g. map_cas_fg_abs (default map)")
    bench.add_argument("--patience", type=int, default=3,
                       help="curves: validation checks replayed for early stopping (default 3)")
    _common(bench)
    bench.set_defaults(handler=cmd_bench)


def _add_config_command(commands) -> None:
    show = commands.add_parser("config", help="print the resolved config (defaults, --config, --set) as YAML")
    _common(show)
    show.set_defaults(handler=cmd_config)


def _add_demo_command(commands) -> None:
    demo = commands.add_parser("demo", help="generate a few videos and run the pipeline on them, offline")
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common(demo)
    demo.set_defaults(handler=cmd_demo)


class _OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors: `error: fsenet extract: ... (see fsenet extract --help)`, exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="fsenet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fsenet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser)
    _add_extract_command(commands)
    _add_cache_info_command(commands)
    _add_train_command(commands)
    _add_evaluate_command(commands)
    _add_localize_command(commands)
    _add_synth_command(commands)
    _add_bench_command(commands)
    _add_config_command(commands)
    _add_demo_command(commands)
    return parser


def unknown_option(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """'unknown option --cahce (did you mean --cache?)' (or 'unknown command ...') for the
    first option the command does not have (argparse would name it only after its usage, or not at all when a
    required option is missing too); None when every option is known. Prefixes of one
    option are known, as argparse takes them."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    command = next((token for token in argv if not token.startswith("-")), None)
    if command is None:
        return None
    if command not in commands:
        close = difflib.get_close_matches(command, list(commands), n=1, cutoff=0.6)
        return f"unknown command {command} ({f'did you mean {close[0]}?' if close else 'see fsenet --help'})"
    options = [name for name in commands[command]._option_string_actions if name.startswith("--")]
    for token in argv[argv.index(command) + 1:]:
        if token == "--":
            break
        name = token.split("=", 1)[0]
        if not name.startswith("--") or name in options or sum(o.startswith(name) for o in options) == 1:
            continue
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"see fsenet {command} --help"
        return f"unknown option {name} ({hint})"
    return None


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning (a library's too: matplotlib names a glyph it cannot draw) as one line, with
    control characters escaped as every name on the terminal is."""
    return f"warning: {printable(message)}\n"


def _debug_warning(message, category, filename, lineno, line=None) -> str:
    return f"{printable(filename)}:{lineno}: {category.__name__}: {printable(message)}\n"


def _stdout_closed() -> int:
    """The reader of stdout went away (`fsenet cache-info --json | head`): stop quietly.
    Python would otherwise report the broken pipe when it flushes stdout at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a command ended by a closed pipe


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    problem = unknown_option(parser, argv)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    warnings.formatwarning = _debug_warning if args.debug else _one_line_warning
    from pipeline.errors import is_user_error  # names only: imports no stage

    try:
        status = args.handler(args)
        sys.stdout.flush()  # inside the try: a reader gone before the last lines is handled here too
        return status
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:
        if not is_user_error(error):
            raise
        if args.debug:
            traceback.print_exc()
        print(f"error: {printable(error)}", file=sys.stderr)  # one line, whatever the names in it
        return 2


if __name__ == "__main__":
    sys.exit(main())
