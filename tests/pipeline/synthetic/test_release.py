"""Tests for pipeline/synthetic/release.py: the TSL-300-shaped synthetic release."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from pipeline.data.config import DataConfig
from pipeline.data.sources import load_dataset
from pipeline.synthetic.release import (
    RELEASE_POINT_HEADER,
    SynthConfig,
    SynthError,
    boundary_ramp,
    generate_videos,
    planted_profile,
    stream_directions,
    video_feature_arrays,
    write_synthetic_release,
)
from tests.conftest import SHARED

TSL300 = SHARED / "tsl300"
SMALL = SynthConfig(num_videos=4, scale=0.1, seed=5, visual_width=48, face_width=40, audio_rows_per_snippet=4,
                    audio_row_width=6)


def test_generator_statistics_are_tsl300_like():
    videos = generate_videos(SynthConfig(seed=11))
    durations = np.array([v.duration_seconds for v in videos])
    segments = [s for v in videos for s in v.segments]
    lengths = np.array([s.end_seconds - s.start_seconds for s in segments])
    assert len(videos) == 300 and sum(v.split == "test" for v in videos) == 100
    assert 120 <= durations.min() and durations.max() <= 1160 and 170 <= np.median(durations) <= 240
    assert all(20 <= v.fps <= 30 for v in videos)
    assert np.median([len(v.segments) for v in videos]) == 5
    assert 5.5 <= np.median(lengths) <= 7.7
    assert np.mean([s.label == "p" for s in segments]) == pytest.approx(0.58, abs=0.04)
    for video in videos:
        bounds = [(s.start_seconds, s.end_seconds) for s in video.segments]
        assert all(0 <= a < b <= video.duration_seconds for a, b in bounds)
        assert all(b1 < a2 for (_, b1), (a2, _) in zip(bounds, bounds[1:], strict=False))  # no overlap
        if video.split == "train":  # one point inside each segment, in native frames
            assert len(video.points) == len(video.segments)
            for point, segment in zip(video.points, video.segments, strict=True):
                assert segment.start_seconds <= point.frame / video.fps <= segment.end_seconds
                assert point.label == segment.label and point.start_frame <= point.frame <= point.stop_frame
        else:
            assert video.points == []
    tiny = generate_videos(SynthConfig(num_videos=6, scale=0.05))
    assert all(6 <= v.duration_seconds <= 58 for v in tiny)


def test_planted_profile_ramps_boundaries_and_keeps_distractors_outside_segments():
    centers = np.arange(20) + 0.5
    ramp = boundary_ramp(centers, 5.5, 14.5, 4)  # boundaries at snippet centres 5.5 and 14.5
    assert ramp[5] == pytest.approx(0.5) and ramp[14] == pytest.approx(0.5)
    assert ramp[9] == 1.0 and ramp[0] == 0.0 and ramp[19] == 0.0
    assert np.all(np.diff(ramp[:10]) >= 0) and 0 < ramp[4] < 0.5 < ramp[6] < 1
    config = SynthConfig(seed=2, distractor_rate_per_minute=6.0, no_face_fraction=0.25)
    for video in generate_videos(SynthConfig(num_videos=8, seed=2))[:4]:
        profile = planted_profile(video, config, np.random.default_rng(0))
        assert profile.class_intensity.shape == (video.snippet_count(16), 2)
        inside = profile.class_intensity.max(axis=1) > 0
        assert profile.distractor.max() > 0 and not np.any((profile.distractor > 0) & inside)
        assert 0.2 <= 1 - profile.face_present.mean() <= 0.3


def test_written_release_has_the_real_files_shapes_and_a_planted_signal(tmp_path):
    out = tmp_path / "release"
    summary = write_synthetic_release(out, SMALL)
    assert summary.videos == 4 and summary.feature_videos == 4
    gt = json.loads((out / "gt.json").read_text())["database"]
    full = json.loads((out / "videosenti_gt.json").read_text())["database"]
    fps = json.loads((out / "fps_dict.json").read_text())
    train = (out / "split_train.txt").read_text().split()
    test = (out / "split_test.txt").read_text().split()
    assert set(gt) == set(full) == set(fps) == set(train) | set(test) and len(test) == 1
    for video_id, record in gt.items():  # gt.json: test annotations only, like the real one
        assert record["subset"] == ("test" if video_id in test else "train")
        assert (len(record["annotations"]) > 0) == (video_id in test)
        assert all(isinstance(v, str) for a in full[video_id]["annotations"] for v in a["segment"])
    with (out / "point_gaussian" / "point_labels.csv").open() as handle:
        reader = csv.reader(handle)
        assert tuple(next(reader)) == RELEASE_POINT_HEADER
        assert {row[4] for row in reader} == set(train)
    for video_id in train + test:
        split = "test" if video_id in test else "train"
        rgb = np.load(out / "features" / split / "rgb" / f"{video_id}.npy")
        logmfcc = np.load(out / "features" / split / "logmfcc" / f"{video_id}.npy")
        img = np.load(out / "features" / split / "img" / f"{video_id}.npy")
        assert rgb.dtype == logmfcc.dtype == img.dtype == np.float32
        assert rgb.shape[1] == 48 and img.shape[1] == 40 and logmfcc.shape[1] == 6
        assert abs(logmfcc.shape[0] / 4 - rgb.shape[0]) <= 2 and abs(img.shape[0] - rgb.shape[0]) <= 2
        assert np.any(np.all(img == 0, axis=1))  # no-face stretches
        assert -60 < logmfcc.mean() < 40  # dB-like values

    # The signal: along each stream's class direction, snippets inside segments of that
    # class stand out from background by about the configured strength; faces clearest.
    config = SynthConfig(num_videos=6, scale=0.3, seed=9, visual_width=64, face_width=64, audio_rows_per_snippet=2,
                         audio_row_width=16, no_face_fraction=0.0, row_jitter=0, distractor_rate_per_minute=0.0,
                         segment_gain_spread=0.0, noise_smoothness=0.0, video_offset_std=0.0)
    directions = stream_directions(config)
    separation = {stream: [] for stream in config.streams}
    for index, video in enumerate(generate_videos(config)):
        profile = planted_profile(video, config, np.random.default_rng([config.seed, 3, index]))
        arrays = video_feature_arrays(video, index, config, directions)
        arrays["audio"] = ((arrays["audio"] + 10.0) / 8.0)[: profile.class_intensity.shape[0] * 2].reshape(-1, 32)
        for stream, rows in arrays.items():
            sentiment, classes = directions[stream][0], directions[stream][1:]
            for c in range(2):
                direction = (sentiment + classes[c]) / np.linalg.norm(sentiment + classes[c])
                projection = rows @ direction
                on, off = profile.class_intensity[:, c] == 1, profile.class_intensity.max(axis=1) == 0
                if on.sum() > 3 and off.sum() > 3:
                    separation[stream].append(projection[on].mean() - projection[off].mean())
    measured = {stream: float(np.mean(values)) for stream, values in separation.items()}
    assert measured["face"] == pytest.approx(config.face_strength, abs=0.35)
    assert measured["audio"] == pytest.approx(config.audio_strength, abs=0.35)
    assert measured["visual"] == pytest.approx(config.visual_strength, abs=0.35)
    assert measured["face"] > measured["audio"] > measured["visual"] > 0


def test_same_seed_same_release_and_folders_that_are_not_ours_are_refused(tmp_path):
    write_synthetic_release(tmp_path / "a", SMALL)
    write_synthetic_release(tmp_path / "b", SMALL)
    for path in (tmp_path / "a").rglob("*.npy"):
        np.testing.assert_array_equal(np.load(path), np.load(tmp_path / "b" / path.relative_to(tmp_path / "a")))
    assert (tmp_path / "a" / "gt.json").read_text() == (tmp_path / "b" / "gt.json").read_text()
    write_synthetic_release(tmp_path / "a", SynthConfig(num_videos=3, scale=0.1, seed=6, visual_width=8,
                                                        face_width=8, audio_rows_per_snippet=2, audio_row_width=4))
    assert len(list((tmp_path / "a" / "features").rglob("rgb/*.npy"))) == 3  # rewritten, no stale files
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(SynthError, match="not empty"):
        write_synthetic_release(tmp_path / "mine", SMALL)


def test_synth_config_names_the_bad_setting():
    with pytest.raises(ValueError, match="synth.face_strength"):
        SynthConfig(face_strength=-1.0)
    with pytest.raises(ValueError, match="synth.streams"):
        SynthConfig(streams=("depth",))
    with pytest.raises(ValueError, match="synth.scale"):
        SynthConfig(scale=0.0)


@pytest.mark.skipif(not TSL300.is_dir(), reason="../shared/tsl300 not present")
def test_real_annotations_round_trip_through_the_loader(tmp_path):
    out = tmp_path / "tsl300_synth"
    summary = write_synthetic_release(out, SynthConfig(feature_video_limit=4, visual_width=32, face_width=32), TSL300)
    assert (summary.videos, summary.train_videos, summary.test_videos) == (300, 200, 100)
    assert (summary.segments, summary.points, summary.feature_videos) == (1642, 1227, 4)
    for name in ("gt.json", "videosenti_gt.json", "fps_dict.json", "len_duration_dict.json", "split_train.txt",
                 "split_test.txt", "point_gaussian/point_labels.csv"):
        assert (out / name).read_bytes() == (TSL300 / name).read_bytes(), name

    dataset = load_dataset(out, DataConfig())
    assert len(dataset.splits["test"]) == 2 and len(dataset.splits["train"]) + len(dataset.splits["validation"]) == 2
    assert dataset.class_names == ("n", "p")
    fps = json.loads((TSL300 / "fps_dict.json").read_text())
    database = json.loads((TSL300 / "videosenti_gt.json").read_text())["database"]
    with (TSL300 / "point_gaussian" / "point_labels.csv").open() as handle:
        points = list(csv.DictReader(handle))
    for video_id, sample in dataset.samples.items():
        expected = [[int(r["point"]) // 16, int(r["class_index"])] for r in points if r["video_id"] == video_id]
        assert sample.points.tolist() == [[min(s, sample.num_snippets - 1), c] for s, c in expected]
        segments = [[float(a["segment"][0]), float(a["segment"][1]), "np".index(a["label"])]
                    for a in database[video_id]["annotations"]]
        np.testing.assert_allclose(sample.segments, np.array(segments).reshape(-1, 3))
        assert sample.snippet_seconds == pytest.approx(16 / fps[video_id])
        assert sample.features["audio"].shape == (sample.num_snippets, 32 * 60)
    assert any("unknown video" in p for p in dataset.problems)  # the 296 videos without features
