"""The checkpoint users get holds its quality: `run_train` at the defaults on planted data
with TSL-300's point noise, scored on held-out test videos over three seeds.

The data (written here with numpy in TSL-300's released layout, not with
pipeline/synthetic): videos of 120 snippets with one or two sentiment segments (half of
them hold both classes, as 47 of TSL-300's 100 test videos do), each segment carrying
its class's pattern in every stream under unit noise. One point per training segment,
with TSL-300's real point noise (../shared/tsl300: 44% of the points lie outside every
segment of their class, at a median of 19 s = 30 snippets; only a fifth of those within
4.5 s = 7 snippets): 44% of the points here are moved out of their segment by a
log-normal distance of median 30 snippets.

Training goes through `run_train` with every model, loss, post-processing and stopping
default except the model's width, the learning rate and the schedule's length (scaled
down together so that a run takes seconds). What is asserted, over seeds 1, 2, 3:
- best.pt (what users get) scores at least FLOOR avg mAP on the test videos (mean over
  seeds); the class-score rule carries this: with the video-level class scores taken from
  the localized score (``postprocess.class_scores_from=localized``, the toolkit before the
  fix) the second class of two-class videos is rarely localized;
- on the two-class test videos, both classes are localized in at least BOTH_CLASSES of them;
- each run stops itself (early stopping) before the schedule's end, and its final
  checkpoint (last.pt) stays within MEAN_DROP of best.pt on average: without early
  stopping the schedule runs on and the final model decays.

Measured (2026-12-08, seeds 1/2/3, bf16 autocast on a 2-core EPYC; test avg mAP of best.pt
/ last.pt, share of two-class test videos with both classes localized):
- defaults: 0.758 / 0.600, 0.615 / 0.619, 0.558 / 0.589 (mean 0.644; drop 0.041), both 1.0;
  stopped at epochs 36, 33, 33;
- ``postprocess.class_scores_from=localized`` (the class scores before the fix):
  best.pt 0.523, 0.441, 0.419 (mean 0.461 < FLOOR), both 0.44, 0.0, 0.11;
- ``train.early_stopping_patience=0``: 90 epochs each, last.pt 0.386, 0.356, 0.573 (mean drop
  0.197 > MEAN_DROP);
- ``model.loss.focal_form=split`` (the frame losses' earlier form, which fits BSPG's soft
  targets between themselves and 0.5): best.pt 0.694, 0.470, 0.502 (mean 0.555), still above
  FLOOR: this test guards the class-score rule and the stopping, not the loss form.
On a 2-core Xeon with AMX (bf16 there too; scripts/planted_variants.py, docs/benchmarks.md):
defaults mean 0.638 (drop 0.016); class scores from the localized score mean 0.499, both
0.44, 0.0, 0.11 (BOTH_CLASSES catches it wherever FLOOR is close); no stopping: drop 0.225.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import config_from_layers
from pipeline.data.sources import load_dataset
from pipeline.evaluate.stage import evaluate_run
from pipeline.infer.checkpoint import load_trained_model
from pipeline.infer.postprocess import select_classes
from pipeline.infer.predict import predict_scores
from pipeline.train.stage import run_train

FPS, SNIPPET_FRAMES, NUM_SNIPPETS, SEGMENT_SNIPPETS = 25.0, 16, 120, 10
WIDTHS = {"rgb": 12, "img": 10}
AUDIO_ROWS, AUDIO_WIDTH = 32, 3
STRENGTH = {"rgb": 0.9, "img": 1.4, "logmfcc": 0.7}
OUTSIDE_SHARE, OUTSIDE_MEDIAN_SNIPPETS, OUTSIDE_SIGMA = 0.44, 30.0, 1.4
TRAIN_VIDEOS, TEST_VIDEOS = 48, 16
SEEDS = (1, 2, 3)
FLOOR, BOTH_CLASSES, MEAN_DROP = 0.5, 0.5, 0.15
SETTINGS = {  # every other setting at its default
    "model": {"d_model": 16, "num_heads": 2},
    "train": {"epochs": 90, "learning_rate": 3e-3, "validate_every_epochs": 3, "early_stopping_start_epoch": 18,
              "num_threads": 1},
    "data": {"validation_fraction": 0.25},
    "postprocess": {"upsample_factor": 4},
}


def segment_starts(rng: np.random.Generator, classes: list[int]) -> list[int]:
    """Starts of one segment per class, apart from each other, inside the video."""
    if len(classes) == 1:
        return [int(rng.integers(5, NUM_SNIPPETS - SEGMENT_SNIPPETS - 5))]
    first = int(rng.integers(5, NUM_SNIPPETS // 2 - SEGMENT_SNIPPETS))
    return [first, int(rng.integers(NUM_SNIPPETS // 2 + 5, NUM_SNIPPETS - SEGMENT_SNIPPETS - 5))]


def noisy_point(rng: np.random.Generator, start: int) -> int:
    """A snippet inside [start, start + length), or (OUTSIDE_SHARE) a log-normal distance outside it."""
    if rng.random() >= OUTSIDE_SHARE:
        return start + int(rng.integers(0, SEGMENT_SNIPPETS))
    distance = max(1, round(float(rng.lognormal(math.log(OUTSIDE_MEDIAN_SNIPPETS), OUTSIDE_SIGMA))))
    sides = [start - distance, start + SEGMENT_SNIPPETS - 1 + distance]
    inside = [p for p in sides if 0 <= p < NUM_SNIPPETS]
    return int(rng.choice(inside)) if inside else (0 if sides[0] < 0 else NUM_SNIPPETS - 1)


def write_video(root: Path, split: str, video_id: str, rng: np.random.Generator, patterns: dict) -> tuple[list, list]:
    """One video's three streams; returns its segments [(label, start_s, end_s)] and points [(class, frame)]."""
    classes = [0, 1] if rng.random() < 0.5 else [int(rng.integers(0, 2))]
    intensity = np.zeros((NUM_SNIPPETS, 2))
    segments, points = [], []
    for class_id, start in zip(classes, segment_starts(rng, classes), strict=True):
        intensity[start:start + SEGMENT_SNIPPETS, class_id] = 1.0
        segments.append(("np"[class_id], start * SNIPPET_FRAMES / FPS,
                         (start + SEGMENT_SNIPPETS) * SNIPPET_FRAMES / FPS))
        points.append((class_id, noisy_point(rng, start) * SNIPPET_FRAMES + SNIPPET_FRAMES // 2))
    for name in ("rgb", "img", "logmfcc"):
        width = AUDIO_ROWS * AUDIO_WIDTH if name == "logmfcc" else WIDTHS[name]
        rows = rng.normal(size=(NUM_SNIPPETS, width)) + STRENGTH[name] * intensity @ patterns[name]
        if name == "logmfcc":  # 32 rows of 3 per snippet, as dB values the reader maps back with (x + 50) / 80
            rows = (-10.0 + 8.0 * rows).reshape(NUM_SNIPPETS * AUDIO_ROWS, AUDIO_WIDTH)
        folder = root / "features" / split / name
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{video_id}.npy", rows.astype(np.float32))
    return segments, points


def write_planted_release(root: Path) -> Path:
    """TRAIN_VIDEOS + TEST_VIDEOS planted videos in TSL-300's released layout."""
    rng = np.random.default_rng(2026)
    patterns = {name: rng.normal(size=(2, AUDIO_ROWS * AUDIO_WIDTH if name == "logmfcc" else WIDTHS[name]))
                for name in ("rgb", "img", "logmfcc")}
    for name, pattern in patterns.items():
        patterns[name] = pattern / np.linalg.norm(pattern, axis=1, keepdims=True)
    database, fps, point_rows, splits = {}, {}, ["class,class_index,start_frame,stop_frame,video_id,point"], {}
    for index in range(TRAIN_VIDEOS + TEST_VIDEOS):
        split = "train" if index < TRAIN_VIDEOS else "test"
        video_id = f"v{index:03d}"
        segments, points = write_video(root, split, video_id, rng, patterns)
        database[video_id] = {"subset": split,
                              "annotations": [{"label": label, "segment": [s, e]} for label, s, e in segments]}
        fps[video_id] = FPS
        splits.setdefault(split, []).append(video_id)
        if split == "train":
            point_rows += [f"{'np'[c]},{c},{p - 8},{p + 8},{video_id},{p}" for c, p in points]
    (root / "videosenti_gt.json").write_text(json.dumps({"database": database}))
    (root / "fps_dict.json").write_text(json.dumps(fps))
    for split, ids in splits.items():
        (root / f"split_{split}.txt").write_text("\n".join(ids) + "\n")
    (root / "point_gaussian").mkdir()
    (root / "point_gaussian" / "point_labels.csv").write_text("\n".join(point_rows) + "\n")
    return root


def both_classes_share(run_dir: Path, release: Path, config) -> float:
    """Share of the two-class test videos in which best.pt localizes both classes."""
    trained = load_trained_model(run_dir / "best.pt", "cpu")
    dataset = load_dataset(release, trained.config.data)
    two_class = [v for v in dataset.splits["test"] if len({int(c) for _, _, c in dataset.samples[v].segments}) == 2]
    scores = predict_scores(trained.model, dataset.samples, two_class, "cpu", trained.config.postprocess)
    chosen = [select_classes(scores[v].class_scores, config.postprocess.class_score_threshold) for v in two_class]
    return float(np.mean([len(classes) == 2 for classes in chosen]))


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory) -> dict:
    """Each seed trained at the defaults (SETTINGS over them) and scored on the test videos."""
    root = tmp_path_factory.mktemp("planted")
    release = write_planted_release(root / "release")
    config = config_from_layers(SETTINGS)
    runs = {}
    for seed in SEEDS:
        run_dir = root / f"seed{seed}"
        summary = run_train(release, None, run_dir, config_from_layers(SETTINGS, {"train": {"seed": seed}}), "cpu",
                            show_progress=False, log=lambda *_: None)
        scored = {name: evaluate_run(run_dir, "test", root / f"{name}{seed}.json", "cpu", name, log=lambda *_: None,
                                     record_in_run=False).average_map for name in ("best.pt", "last.pt")}
        runs[seed] = {"epochs": summary.epochs_run, **scored, "both": both_classes_share(run_dir, release, config)}
    return runs


def test_best_checkpoint_localizes_both_classes_on_held_out_videos(planted_runs: dict) -> None:
    assert np.mean([run["best.pt"] for run in planted_runs.values()]) >= FLOOR, planted_runs
    assert min(run["both"] for run in planted_runs.values()) >= BOTH_CLASSES, planted_runs


def test_runs_stop_themselves_and_the_final_checkpoint_holds(planted_runs: dict) -> None:
    assert all(run["epochs"] < SETTINGS["train"]["epochs"] for run in planted_runs.values()), planted_runs
    assert np.mean([run["best.pt"] - run["last.pt"] for run in planted_runs.values()]) <= MEAN_DROP, planted_runs
