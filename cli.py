#!/usr/bin/env python3
"""fsenet: temporal sentiment localization in untrimmed videos (the one entry point).

Thin on purpose: parses arguments, builds the config, calls `pipeline`. Errors a user can
fix are printed as one line (exit status 2); --debug shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from cache.store import CacheError
from extractors.decode import VideoReadError
from pipeline.config import ConfigError, load_config
from pipeline.devices import DeviceError
from pipeline.discovery import DiscoveryError
from extractors.weights import WeightsError

USER_ERRORS = (
    ConfigError, CacheError, DiscoveryError, DeviceError, VideoReadError, WeightsError, FileNotFoundError,
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML file of settings over the defaults")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one setting, e.g. --set audio.n_mfcc=20 (repeatable; applied after --config)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _config(args: argparse.Namespace, extra: list[str] = ()):
    return load_config(args.config, [*args.overrides, *extra])


def cmd_extract(args: argparse.Namespace) -> int:
    from pipeline.extract import run_extract
    from pipeline.reporting import print_extract_summary

    extra = []
    if args.streams:
        extra.append(f"extract.streams={args.streams}")
    if args.device:
        extra.append(f"extract.device={args.device}")
    config = _config(args, extra)
    summary = run_extract(
        args.videos, args.cache, config, allow_random_weights=args.random_weights,
        debug=args.debug, show_progress=not args.no_progress,
    )
    print_extract_summary(summary)
    return 1 if summary.failures else 0


def cmd_cache_info(args: argparse.Namespace) -> int:
    from pipeline.cache_info import cache_records, format_records

    records = cache_records(args.cache_dir)
    print(json.dumps(records, indent=2, ensure_ascii=False) if args.json else format_records(records))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline.bench import run_bench

    run_bench(args.what, _config(args), args.workdir, args.doc, [float(d) for d in args.durations.split(",")])
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import run_demo

    return run_demo(args.out, _config(args), show_progress=not args.no_progress)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    extract = commands.add_parser("extract", help="videos -> feature cache (resumable)")
    extract.add_argument("videos", type=Path, metavar="VIDEOS_DIR", help="folder of videos (searched recursively) or one video")
    extract.add_argument("--cache", type=Path, required=True, metavar="CACHE_DIR", help="feature cache folder (created)")
    extract.add_argument("--streams", metavar="LIST", help="comma-separated streams: audio,visual,face (default: extract.streams)")
    extract.add_argument("--device", metavar="auto|cpu|cuda", help="where models run (default: extract.device, auto)")
    extract.add_argument("--random-weights", action="store_true", help="use random weights when a checkpoint is missing (recorded, and warned about downstream)")
    extract.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common(extract)
    extract.set_defaults(handler=cmd_extract)

    info = commands.add_parser("cache-info", help="list what a feature cache holds and whether it is valid")
    info.add_argument("cache_dir", type=Path, metavar="CACHE_DIR")
    info.add_argument("--json", action="store_true", help="machine-readable records")
    _common(info)
    info.set_defaults(handler=cmd_cache_info)

    bench = commands.add_parser("bench", help="measure speed and memory; writes docs/benchmarks.md")
    bench.add_argument("what", choices=["decode", "extract"], help="decode: decode-only throughput; extract: audio extraction")
    bench.add_argument("--durations", default="300,1200,3600", metavar="SECONDS", help="lengths of the generated test videos")
    bench.add_argument("--workdir", type=Path, default=Path("bench_work"), help="where test videos are generated (reused)")
    bench.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"), help="markdown file to update")
    _common(bench)
    bench.set_defaults(handler=cmd_bench)

    demo = commands.add_parser("demo", help="generate a few videos and run the pipeline on them, offline")
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common(demo)
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as error:
        if args.debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
