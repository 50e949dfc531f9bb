"""`demo`: the whole job on generated videos, offline, in a few minutes on 2 CPU cores.

    OUT/videos/        10 videos of about 20 s (320x240, 25 fps, H.264 + AAC): skimage's
                       astronaut photo and a voice-like sound; positive and negative
                       stretches differ in face, sound and picture (pipeline/synthetic/demo_videos.py)
    OUT/annotations/   points.csv (one point per stretch) and segments.json (the stretches;
                       the last 3 videos are the test split)
    OUT/cache/         features of all three streams (real weights when present, random
                       otherwise: stated in the cache and every output)
    OUT/run/           a small FSENet trained briefly from the points (DEMO_SETTINGS)
    OUT/predictions_test.json (+ .metrics.json)   the test split localized and scored
    OUT/localize/      `localize` on one held-out video: segments, subtitles, timeline,
                       plot and report.html

Nothing is opened; the report's path is printed. Rerunning reuses what is there (videos,
features, the finished training run).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipeline.config import Config, with_overrides
from pipeline.console import shell_path, to_stderr
from pipeline.devices import resolve_device
from pipeline.evaluate.stage import evaluate_run
from pipeline.extract.stage import format_extract_summary, run_extract
from pipeline.infer.metrics import format_report
from pipeline.localize.stage import LocalizeSummary, format_localize_summary, run_localize
from pipeline.synthetic.demo_videos import write_demo_annotations, write_demo_videos
from pipeline.train.stage import run_train

DEMO_VIDEOS = 10  # videos generated
DEMO_TEST_VIDEOS = 3  # of which the last ones are held out (test split)
DEMO_VIDEO_SECONDS = 20.0  # mean length (each is 18-22 s)
# A small model trained briefly: enough to learn the demo's sentiment in about a minute.
# The demo's stretches are short (3-5.5 s, gaps of 1.5-3.5 s), so BSPG's mounds are
# narrowed to 3 snippets and snippets outside every mound count as background. Its
# validation split is one video, whose mAP moves in coarse steps (often flat): the short
# schedule runs to its end and best.pt is picked on the validation loss instead.
DEMO_SETTINGS = {
    "model": {"d_model": 64, "num_heads": 4, "bspg": {"window": 3, "outside": "background"}},
    "train": {"epochs": 30, "learning_rate": 0.002, "batch_size": 4, "validate_every_epochs": 5,
              "early_stopping_patience": 0, "selection_metric": "loss"},
    "infer": {"batch_size": 4},
}


def run_demo(
    out: Path,
    config: Config,
    show_progress: bool = True,
    log=to_stderr,
    num_videos: int = DEMO_VIDEOS,
    test_videos: int = DEMO_TEST_VIDEOS,
    video_seconds: float = DEMO_VIDEO_SECONDS,
    streams: tuple[str, ...] = ("audio", "visual", "face"),
    quiet: bool = False,
) -> int:
    """Generate, extract, train, evaluate and localize (see the module docstring).

    config: the user's config; DEMO_SETTINGS are applied over it. num_videos,
    test_videos, video_seconds (mean length, s) and streams size the run (the command
    uses the defaults; tests pass smaller ones). quiet: no step headings, only the
    results and the closing lines. Returns the exit status.
    """
    out = Path(out)
    config = with_overrides(config, {**DEMO_SETTINGS, "extract": {"streams": list(streams)}})
    device = resolve_device(config.extract.device)
    started = time.perf_counter()

    def step(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    step(f"[1/5] writing {num_videos} demo videos to {shell_path(out / 'videos')}")
    videos = write_demo_videos(
        out / "videos", num_videos, video_seconds, test_videos, ffmpeg_binary=config.decode.ffmpeg_binary
    )
    points, segments = write_demo_annotations(out / "annotations", videos)
    step(f"      annotations: {shell_path(points)} (one point per stretch), {shell_path(segments)} (segments; test "
         f"split: {', '.join(v.video_id for v in videos if v.subset == 'test')})")

    step(f"[2/5] extracting {', '.join(streams)} features into {shell_path(out / 'cache')}")
    extracted = run_extract(out / "videos", out / "cache", config, allow_random_weights=True,
                            show_progress=show_progress,
                            log=log)
    print(format_extract_summary(extracted))
    if extracted.failures:
        return 1

    step(f"[3/5] training a small FSENet ({config.train.epochs} epochs, d_model {config.model.d_model}) into "
         f"{shell_path(out / 'run')}")
    trained = run_train(out / "cache", out / "annotations", out / "run", config, device, show_progress=show_progress,
                        log=log)
    best = f"{trained.best_metric:.3f} at epoch {trained.best_epoch}" if trained.best_metric is not None else "n/a"
    print(f"      best validation {trained.selection_metric}: {best}")

    step(f"[4/5] evaluating on the {test_videos} held-out test videos")
    predictions = out / "predictions_test.json"
    result = evaluate_run(out / "run", "test", predictions, device, log=log, infer=config.infer)
    print(format_report(result))

    held_out = next(v for v in videos if v.subset == "test")
    step(f"[5/5] localizing the held-out video {shell_path(held_out.path)}")
    summary = run_localize(
        held_out.path, out / "run" / "best.pt", out / "localize", config, cache_dir=out / "cache", device=device,
        allow_random_weights=True, show_progress=show_progress, log=log,
    )
    print(format_localize_summary(summary, footer=False))
    print(f"ground truth of {held_out.video_id}: " + ", ".join(
        f"{s.kind} {s.start_seconds:.1f}-{s.end_seconds:.1f} s" for s in held_out.sentiment_stretches
    ))
    print(demo_closing(summary, out / "run" / "best.pt", time.perf_counter() - started))
    return 1 if summary.failures else 0


def fsenet_command() -> str:
    """This toolkit's command as the person started it, for a line they paste: the script's
    path as run (.venv/bin/fsenet), `python cli.py`, else plain `fsenet` (the API, tests)."""
    program = sys.argv[0] if sys.argv else ""
    if Path(program).name == "fsenet":
        return shell_path(program)
    if Path(program).name == "cli.py":
        return f"{shell_path(sys.executable)} {shell_path(program)}"
    return "fsenet"


def demo_closing(summary: LocalizeSummary, model: Path, seconds: float) -> str:
    """The demo's last lines: the time, the command that localizes new videos with the demo's
    `model` (with --random-weights when its features came from random weights: localize
    refuses it otherwise), and the report last."""
    random_weights = " --random-weights" if summary.random_weights else ""
    why = (f" (--random-weights: its {', '.join(sorted(summary.random_weight_streams))} features came from random "
           "weights, no checkpoint here; docs/weights.md)") if summary.random_weights else ""
    lines = [
        f"demo finished in {seconds:.0f} s",
        f"next, localize your own videos (a file or a folder) with this model{why}:",
        f"  {fsenet_command()} localize new_videos/ --model {shell_path(model)} --out results/{random_weights}",
    ]
    if summary.videos:
        lines.append(f"report: {shell_path(summary.videos[0].output_dir / 'report.html')} (open it in a browser)")
    return "\n".join(lines)
