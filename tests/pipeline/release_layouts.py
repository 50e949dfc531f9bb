"""Public feature releases written with numpy as their authors' loaders read them, for
the tests of pipeline/data/release.py and of training on them (not with
pipeline/synthetic, so that a misreading shared with the generator cannot pass).

- TSL-300 (nku-zhichengzhang/TSL300 senti_features.py): rgb one row per 16-frame
  snippet; logmfcc 32 rows of 60 per snippet (reshaped to (T, 32, 60), then
  (x + 50) / 80).
- FSENet (CeilingHan/FSENet core/senti_features.py, downsample_and_align): rgb (1024-d)
  and logmfcc (768-d) one row per native frame, of which rows 0, 16, 32, ... and the last
  row (when the count is not a multiple of 16) are kept; img (1024-d) one row per
  snippet; T = the shortest of the three.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# video -> (split, native fps, frames); frames = the rows of the per-frame files
FSENET_VIDEOS = {"v_train_a": ("train", 25.0, 75), "v_train_b": ("train", 30.0, 96), "v_train_c": ("train", 25.0, 50),
                 "v_test_a": ("test", 29.97, 123)}


def frame_rows(frames: int, width: int, seed: int) -> np.ndarray:
    """Per-frame rows whose first column is the frame index (so which rows were kept shows)."""
    rows = np.random.default_rng(seed).normal(size=(frames, width)).astype(np.float32)
    rows[:, 0] = np.arange(frames, dtype=np.float32)
    return rows


def write_fsenet_release(root: Path, durations: bool = False, img: bool = True) -> Path:
    """The FSENet authors' layout, as their README's download lays it out."""
    fps, points = {}, ["class,class_index,start_frame,stop_frame,video_id,point"]
    for seed, (video_id, (split, rate, frames)) in enumerate(FSENET_VIDEOS.items()):
        folder = root / "features" / split
        for name in ("rgb", "logmfcc", "img") if img else ("rgb", "logmfcc"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        np.save(folder / "rgb" / f"{video_id}.npy", frame_rows(frames, 1024, seed))
        np.save(folder / "logmfcc" / f"{video_id}.npy", frame_rows(frames, 768, seed + 100))
        if img:
            snippets = -(-frames // 16) - (1 if video_id == "v_train_c" else 0)  # one video's faces a snippet short
            faces = np.random.default_rng(seed + 200).normal(size=(snippets, 1024)).astype(np.float32)
            faces[1] = 0.0  # no face in snippet 1
            np.save(folder / "img" / f"{video_id}.npy", faces)
        fps[video_id] = rate
        if split == "train":
            points.append(f"p,1,{frames // 2 - 3},{frames // 2 + 3},{video_id},{frames // 2}")
    (root / "fps_dict.json").write_text(json.dumps(fps))
    for split in ("train", "test"):
        listed = [v for v, (s, _, _) in FSENET_VIDEOS.items() if s == split]
        (root / f"split_{split}.txt").write_text("\n".join(listed) + "\n")
    (root / "point_gaussian").mkdir()
    (root / "point_gaussian" / "point_labels.csv").write_text("\n".join(points) + "\n")
    (root / "gt.json").write_text(json.dumps({"database": {"v_test_a": {"subset": "test", "annotations": [
        {"label": "n", "segment": ["0.5", "2.5"]}]}}}))
    if durations:
        (root / "len_duration_dict.json").write_text(json.dumps({v: f / r for v, (_, r, f) in FSENET_VIDEOS.items()}))
    return root


def write_tsl300_release(root: Path) -> Path:
    """TSL-300's own layout: rgb per snippet, logmfcc 32 x 60 per snippet (+ a partial snippet's rows)."""
    videos = {"t1": ("train", 25.0, 40), "t2": ("train", 30.0, 55), "t3": ("test", 24.0, 31)}  # snippets
    fps, durations = {}, {}
    for seed, (video_id, (split, rate, snippets)) in enumerate(videos.items()):
        rng = np.random.default_rng(seed)
        for name, rows, width in (("rgb", snippets, 1024), ("logmfcc", 32 * snippets + 7, 60)):
            (root / "features" / split / name).mkdir(parents=True, exist_ok=True)
            np.save(root / "features" / split / name / f"{video_id}.npy",
                    rng.normal(size=(rows, width)).astype(np.float32))
        fps[video_id], durations[video_id] = rate, (16 * snippets - 5) / rate
    (root / "fps_dict.json").write_text(json.dumps(fps))
    (root / "len_duration_dict.json").write_text(json.dumps(durations))
    for split in ("train", "test"):
        (root / f"split_{split}.txt").write_text("\n".join(v for v, (s, _, _) in videos.items() if s == split))
    (root / "gt.json").write_text(json.dumps({"database": {v: {"subset": s, "annotations": [
        {"label": "p", "segment": [1.0, 2.0]}]} for v, (s, _, _) in videos.items()}}))
    return root
