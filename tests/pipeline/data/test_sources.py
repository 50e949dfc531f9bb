"""Tests for pipeline/data/samples.py: datasets from the released layout and from a real
feature cache, alignment of stream row counts, annotation problems, splits."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from cache.store import FeatureCache
from pipeline.data.cached import face_emotions_of
from pipeline.data.config import DataConfig
from pipeline.data.release import align_release_streams, infer_rows_per_snippet
from pipeline.data.samples import DatasetError, carve_validation
from pipeline.data.sources import load_dataset
from pipeline.synthetic.release import SynthConfig, write_synthetic_release
from tests.conftest import cli

TINY = SynthConfig(num_videos=5, scale=0.1, seed=3, row_jitter=0, distractor_rate_per_minute=2.0)


@pytest.fixture(scope="module")
def tiny_release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "tsl"
    write_synthetic_release(out, TINY)
    return out


def raw_array(release: Path, folder: str, video_id: str) -> np.ndarray:
    return np.load(next((release / "features").glob(f"*/{folder}/{video_id}.npy")))


def test_released_layout_loads_with_folded_audio_points_as_snippets_and_splits(tiny_release):
    dataset = load_dataset(tiny_release, DataConfig())
    fps = json.loads((tiny_release / "fps_dict.json").read_text())
    durations = json.loads((tiny_release / "len_duration_dict.json").read_text())
    split_train = (tiny_release / "split_train.txt").read_text().split()
    split_test = (tiny_release / "split_test.txt").read_text().split()

    assert dataset.feature_spec.source == "release"
    assert dataset.feature_spec.streams == {"visual": 1024, "audio": 32 * 60, "face": 1024}
    assert dataset.feature_spec.extractors["audio"].record["rows_per_snippet"] == 32
    assert dataset.class_names == ("n", "p")
    assert set(dataset.samples) == set(split_train) | set(split_test)
    assert sorted(dataset.splits["test"]) == sorted(split_test)
    assert sorted(dataset.splits["train"] + dataset.splits["validation"]) == sorted(split_train)
    assert len(dataset.splits["validation"]) == 1

    for video_id, sample in dataset.samples.items():
        rgb = raw_array(tiny_release, "rgb", video_id)
        logmfcc = raw_array(tiny_release, "logmfcc", video_id)
        img = raw_array(tiny_release, "img", video_id)
        num_snippets = math.ceil(round(durations[video_id] * fps[video_id] / 16, 6))
        assert sample.num_snippets == num_snippets == rgb.shape[0] == img.shape[0] == logmfcc.shape[0] // 32
        np.testing.assert_array_equal(sample.features["visual"], rgb)
        folded = (logmfcc[: num_snippets * 32].reshape(num_snippets, 32 * 60) + 50.0) / 80.0
        np.testing.assert_allclose(sample.features["audio"], folded, rtol=1e-6)
        np.testing.assert_array_equal(sample.face_mask, np.any(img != 0, axis=1).astype(np.float32))
        assert 0 < sample.face_mask.mean() < 1  # no-face stretches are there
        assert sample.snippet_seconds == pytest.approx(16 / fps[video_id])
        assert sample.duration_seconds == pytest.approx(durations[video_id])
        assert sample.segments.shape[1] == 3 and len(sample.segments) >= 1
    with (tiny_release / "point_gaussian" / "point_labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "the generator draws one point per training segment"
    for video_id in split_train:
        expected = [(int(r["point"]) // 16, int(r["class_index"])) for r in rows if r["video_id"] == video_id]
        sample = dataset.samples[video_id]
        assert sample.points.tolist() == [list(p) for p in expected]
        assert sample.points.dtype == np.int64
        np.testing.assert_allclose(
            sample.point_seconds, [int(r["point"]) / fps[video_id] for r in rows if r["video_id"] == video_id]
        )
        assert sample.video_labels.tolist() == [float(c in sample.points[:, 1]) for c in (0, 1)]
    for video_id in split_test:  # labels from segments where there are no points
        sample = dataset.samples[video_id]
        assert len(sample.points) == 0
        assert sample.video_labels.tolist() == [float(c in sample.segments[:, 2]) for c in (0, 1)]
    # audio files end with a partial snippet of rows: dropped, and said so
    assert any("do not fill a whole snippet" in p for p in dataset.problems)


def test_a_few_rows_are_trimmed_with_a_warning_and_more_is_an_error(tmp_path):
    release = tmp_path / "tsl"
    write_synthetic_release(release, TINY)
    video_id = (release / "split_train.txt").read_text().split()[0]
    rgb_path = next((release / "features").glob(f"*/rgb/{video_id}.npy"))
    rgb = np.load(rgb_path)
    np.save(rgb_path, rgb[:-2])

    dataset = load_dataset(release, DataConfig())
    assert dataset.samples[video_id].num_snippets == rgb.shape[0] - 2
    assert all(a.shape[0] == rgb.shape[0] - 2 for a in dataset.samples[video_id].features.values())
    trimmed = [p for p in dataset.problems if video_id in p and "trimmed" in p]
    assert len(trimmed) == 1 and f"visual {rgb.shape[0] - 2}" in trimmed[0]

    np.save(rgb_path, rgb[:-6])
    with pytest.raises(DatasetError, match=f"video {video_id}: streams disagree by 6 snippets"):
        load_dataset(release, DataConfig())
    trimmed = load_dataset(release, DataConfig(alignment_tolerance_rows=6))
    assert trimmed.samples[video_id].num_snippets == rgb.shape[0] - 6


def test_a_missing_stream_folder_means_the_stream_is_absent(tmp_path):
    release = tmp_path / "tsl"
    settings = SynthConfig(num_videos=3, scale=0.1, streams=("visual", "audio"), visual_width=32, row_jitter=0)
    write_synthetic_release(release, settings)
    dataset = load_dataset(release, DataConfig())
    assert dataset.feature_spec.streams == {"visual": 32, "audio": 1920}
    assert all(sample.face_mask is None for sample in dataset.samples.values())
    with pytest.raises(DatasetError, match="data.streams asks for face"):
        load_dataset(release, DataConfig(streams=("visual", "face")))
    only_audio = load_dataset(release, DataConfig(streams=("audio",)))
    assert only_audio.feature_spec.streams == {"audio": 1920}


def test_a_folder_that_is_neither_layout_is_a_one_line_error(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path / "stuff", DataConfig())
    message = str(caught.value)
    assert "cache.json" in message and "features/train" in message and "\n" not in message
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nowhere", DataConfig())


def test_rows_per_snippet_is_inferred_from_all_videos_despite_jitter():
    rng = np.random.default_rng(0)
    snippets = rng.integers(225, 2131, size=8)  # TSL-300 lengths
    for k in (32, 20, 33):
        audio_rows = [k * (t + rng.integers(-2, 3)) + rng.integers(0, k) for t in snippets]
        reference = [t + rng.integers(-1, 1) for t in snippets]
        assert infer_rows_per_snippet(audio_rows, reference, tolerance=3) == k
    short = rng.integers(15, 40, size=6)  # jittered short videos: TSL-300's 32 when it fits
    audio_rows = [32 * (t + rng.integers(-1, 2)) + rng.integers(0, 32) for t in short]
    assert infer_rows_per_snippet(audio_rows, list(short), tolerance=3) == 32
    assert infer_rows_per_snippet([16 * t + 3 for t in short], list(short), tolerance=3) == 16
    problems: list[str] = []
    arrays = {"visual": np.zeros((10, 4), np.float32), "audio": np.ones((32 * 10 + 5, 2), np.float32)}
    aligned = align_release_streams("v", arrays, "audio", 32, 2, problems)
    assert aligned.features["audio"].shape == (10, 64) and aligned.audio_remainder_rows == 5 and problems == []


def test_validation_is_carved_from_training_only_and_seeded():
    train = [f"v{i}" for i in range(20)]
    kept, validation = carve_validation(train, 0.1, seed=7)
    assert len(validation) == 2 and set(kept) | set(validation) == set(train) and not set(kept) & set(validation)
    assert carve_validation(list(reversed(train)), 0.1, seed=7) == (kept, validation)
    assert carve_validation(train, 0.1, seed=8) != (kept, validation)
    preferred = {"v3", "v4", "v5"}
    assert set(carve_validation(train, 0.1, seed=7, preferred=preferred)[1]) <= preferred
    assert carve_validation(["only"], 0.5, seed=0) == (["only"], [])
    assert carve_validation(train, 0.0, seed=0) == (sorted(train), [])


def test_data_config_names_the_bad_setting():
    with pytest.raises(ValueError, match="data.validation_fraction"):
        DataConfig(validation_fraction=1.0)
    with pytest.raises(ValueError, match="data.streams"):
        DataConfig(streams=("depth",))
    with pytest.raises(ValueError, match="data.label_aliases"):
        DataConfig(label_aliases=("x=neutral",))
    with pytest.raises(ValueError, match="data.alignment_tolerance_rows"):
        DataConfig(alignment_tolerance_rows=-1)


# -- feature cache ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def audio_cache(tmp_path_factory) -> Path:
    """A real feature cache: `extract --streams audio` over three short videos."""
    from pipeline.synthetic.videos import write_test_pattern_video

    root = tmp_path_factory.mktemp("cache_source")
    videos = root / "videos"
    write_test_pattern_video(videos / "talk.mp4", 3.0, fps=25.0, size=(64, 48))
    write_test_pattern_video(videos / "nested" / "speech two.mkv", 2.0, fps=30.0, size=(64, 48), tone_hz=660.0)
    write_test_pattern_video(videos / "extra.mp4", 1.0, fps=25.0, size=(64, 48))
    cache = root / "cache"
    result = cli("extract", str(videos), "--cache", str(cache), "--streams", "audio", "--no-progress")
    assert result.returncode == 0, result.stderr + result.stdout
    return cache


def test_feature_cache_and_points_csv_make_a_dataset_with_problems_reported(audio_cache, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text(
        "video_id,time_s,label\n"
        "talk,0.5,positive\n"
        "talk,2.99,negative\n"
        "nested/speech two,1.3,p\n"
        "ghost,1.0,p\n"  # line 5: unknown video
        "talk,3.5,p\n"  # line 6: past the 3 s video
        "talk,1.0,joy\n"  # line 7: unknown label
    )
    dataset = load_dataset(audio_cache, DataConfig(), points)
    assert dataset.feature_spec.source == "cache"
    assert dataset.feature_spec.streams == {"audio": 160}
    assert dataset.feature_spec.snippet_seconds == pytest.approx(0.64)
    assert dataset.feature_spec.extractors["audio"].record["name"] == "audio"
    assert dataset.feature_spec.random_weights is False
    assert dataset.class_names == ("negative", "positive")  # spellings mix: the configured names
    assert set(dataset.samples) == {"talk", "nested/speech two"}
    talk = dataset.samples["talk"]
    assert talk.num_snippets == 5 and talk.features["audio"].shape == (5, 160) and talk.face_mask is None
    assert talk.points.tolist() == [[0, 1], [4, 0]]  # floor(t / 0.64)
    assert talk.video_labels.tolist() == [1.0, 1.0]
    assert talk.duration_seconds == pytest.approx(3.0, abs=0.05) and len(talk.segments) == 0
    assert dataset.samples["nested/speech two"].points.tolist() == [[2, 1]]
    assert sorted(dataset.splits["train"] + dataset.splits["validation"]) == sorted(dataset.samples)
    assert dataset.splits["test"] == [] and len(dataset.splits["validation"]) == 1

    text = "\n".join(dataset.problems)
    assert f"{points}:5" in text and "unknown video 'ghost'" in text
    assert f"{points}:6" in text and "outside" in text
    assert f"{points}:7" in text and "unknown label 'joy'" in text
    assert "1 cached video(s) have no annotation and are left out: extra" in text

    with pytest.raises(DatasetError, match="3 annotation problem"):
        load_dataset(audio_cache, DataConfig(strict=True), points)
    with pytest.raises(DatasetError, match="--annotations"):
        load_dataset(audio_cache, DataConfig())


def test_annotations_without_one_usable_label_stop_with_the_first_reason(audio_cache, tiny_release, tmp_path):
    """Every row dropped (unknown labels, times that are not numbers, unknown videos) is an
    error quoting the first reason and a count, not a dataset without labels to train on."""
    unknown = tmp_path / "happy.csv"
    unknown.write_text("video_id,time_s,label\ntalk,0.5,happy\nextra,0.2,happy\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset(audio_cache, DataConfig(), unknown)
    assert str(caught.value) == (
        f"{unknown}: no usable label was found; 2 problem(s), the first: {unknown}:2: unknown label 'happy' "
        "(known: 'negative', 'positive', 'n', 'p'); dropped"
    )

    not_numbers = tmp_path / "folder" / "abc.csv"
    not_numbers.parent.mkdir()
    not_numbers.write_text("video_id,time_s,label\ntalk,abc,positive\ntalk,x,negative\nghost,1.0,p\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset(audio_cache, DataConfig(), not_numbers.parent)
    message = str(caught.value)
    assert message.startswith(f"the annotation files in {not_numbers.parent}: no usable label was found; "
                              f"it names none of the 3 videos in the feature cache {audio_cache}; 3 problem(s)")
    assert message.endswith(f"the first: {not_numbers}:2: time_s 'abc' is not a number; dropped")

    header_only = tmp_path / "empty.csv"
    header_only.write_text("video_id,time_s,label\n")
    with pytest.raises(DatasetError, match="empty.csv: no usable label was found; it names none of the 3 videos "
                                           "in the feature cache .*; it holds no point, segment or video label$"):
        load_dataset(audio_cache, DataConfig(), header_only)

    # A release's own labels are replaced by the kinds --annotations gives: none is no replacement.
    video_id = (tiny_release / "split_train.txt").read_text().split()[0]
    replacement = tmp_path / "release points.csv"
    replacement.write_text(f"video_id,time_s,label\n{video_id},1.0,happy\n")
    with pytest.raises(DatasetError, match=f"{replacement}: no usable label was found; 1 problem"):
        load_dataset(tiny_release, DataConfig(), replacement)


def test_feature_cache_splits_follow_the_json_subsets(audio_cache, tmp_path):
    ground_truth = {
        "database": {
            "talk": {"subset": "training", "annotations": [{"label": "p", "segment": [0.5, 2.0]}]},
            "extra": {"subset": "training", "annotations": [{"label": "n", "segment": [0.1, 0.6]}]},
            "nested/speech two": {"subset": "testing", "annotations": [{"label": "n", "segment": ["0.2", "1.1"]}]},
        }
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(ground_truth))
    dataset = load_dataset(audio_cache, DataConfig(validation_fraction=0.5), path)
    assert dataset.splits["test"] == ["nested/speech two"]
    assert sorted(dataset.splits["train"] + dataset.splits["validation"]) == ["extra", "talk"]
    assert len(dataset.splits["validation"]) == 1
    assert dataset.class_names == ("n", "p")
    assert dataset.samples["talk"].segments.tolist() == [[0.5, 2.0, 1.0]]
    assert dataset.samples["talk"].video_labels.tolist() == [0.0, 1.0]
    assert dataset.annotation_files == {"segments": [str(path)]}


def test_face_mask_and_random_weights_from_the_cache(tmp_path):
    """A cache with a face stream written through the real FeatureCache writer."""
    cache = FeatureCache(tmp_path / "cache")
    cache.create()
    identity = {"name": "face", "version": 1, "output_dim": 8, "config": {}, "weights": {"random": True, "seed": 0},
                "emotion_classes": ["calm", "=tense"]}
    audio_identity = {"name": "audio", "version": 1, "output_dim": 4, "config": {}, "weights": None}
    emotion = np.tile(np.array([[0.25, 0.75]], np.float32), (6, 1))
    for video_id, num_snippets in (("a", 6), ("b", 4)):
        grid = {"snippet_seconds": 0.64, "num_snippets": num_snippets, "frame_rate": 25.0, "snippet_frames": 16}
        probe = {"duration_seconds": num_snippets * 0.64 - 0.1, "native_fps": 25.0}
        meta = cache.new_meta(video_id, {"path": f"/videos/{video_id}.mp4", "fingerprint": "x", "size": 1}, probe, grid)
        mask = np.linspace(0, 1, num_snippets).astype(np.float32)
        face = np.ones((num_snippets, 8), np.float32)
        extras = {"emotion": emotion} if video_id == "a" else {}  # "b": a face stream without emotions
        cache.write_stream(video_id, meta, "face", face, mask, extras, identity)
        cache.write_stream(video_id, meta, "audio", np.zeros((num_snippets, 4), np.float32), None, {}, audio_identity)
    labels = tmp_path / "labels.csv"
    labels.write_text("video_id,label\na,positive\nb,negative\nb,positive\n")
    dataset = load_dataset(tmp_path / "cache", DataConfig(validation_fraction=0.0), labels)
    assert dataset.feature_spec.streams == {"audio": 4, "face": 8}
    np.testing.assert_allclose(dataset.samples["a"].face_mask, np.linspace(0, 1, 6))
    assert dataset.samples["b"].video_labels.tolist() == [1.0, 1.0]
    assert dataset.samples["a"].video_labels.tolist() == [0.0, 1.0]
    assert dataset.feature_spec.random_weight_streams == ["face"]  # each stage says it, once (not a data problem)
    assert not any("random" in problem.lower() for problem in dataset.problems)
    emotions = dataset.samples["a"].face_emotions
    assert emotions.names == ("calm", "=tense") and np.array_equal(emotions.probabilities, emotion)
    assert dataset.samples["b"].face_emotions is None
    loaded = FeatureCache(tmp_path / "cache").load_stream("a", "face")
    loaded.record["extractor"] = {key: value for key, value in identity.items() if key != "emotion_classes"}
    assert face_emotions_of(loaded).names == ("class_0", "class_1")  # an identity that names none
    audio_only = load_dataset(tmp_path / "cache", DataConfig(streams=("audio",)), labels)
    assert audio_only.feature_spec.random_weights is False and audio_only.samples["a"].face_mask is None
