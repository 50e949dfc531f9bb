"""The face stream on real videos written with ffmpeg: a real photo (skimage's astronaut)
moving across the frame, ffmpeg's test pattern (no people), and checkpoints in the
ResEmoteNet authors' format loaded through the real path."""

import hashlib
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from extractors.decode import DecodeConfig, probe_video
from extractors.face import (
    FaceBox,
    FaceConfig,
    FaceExtractor,
    choose_primary_face,
    crop_face,
    deepface_home_for,
)
from extractors.grid import GridConfig, SnippetGrid
from extractors.registry import EXTRACTORS
from extractors.resemotenet import random_resemotenet
from extractors.weights import WeightsError
from pipeline.config import ConfigError, load_config
from pipeline.synthetic.videos import astronaut_frames, write_video
from tests.conftest import ROOT

SIX_LABELS = ("happy", "surprise", "sad", "anger", "disgust", "fear")


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory):
    """6.4 s (10 snippets) of the astronaut photo gliding over grey, then 1.92 s (3 snippets) of grey only."""
    path = tmp_path_factory.mktemp("face") / "astronaut then nobody.mp4"
    fps, size = 25, (320, 240)
    with_face = astronaut_frames(160, size, 240)
    nobody = (np.full((240, 320, 3), 96, np.uint8) for _ in range(48))
    write_video(path, (frame for frames in (with_face, nobody) for frame in frames), fps, size)
    return path


@pytest.fixture(scope="module")
def six_class_checkpoint(tmp_path_factory):
    """A 6-class ResEmoteNet checkpoint in the authors' format, random values."""
    path = tmp_path_factory.mktemp("weights") / "resemotenet six.pth"
    torch.save({"model_state_dict": random_resemotenet(6, seed=11).state_dict(), "epoch": 3}, path)
    return path


def extract(path, extractor):
    probe = probe_video(path)
    grid = SnippetGrid.for_duration(probe.duration_seconds, GridConfig())
    done = []
    result = extractor.extract(probe, grid, done.append)
    assert sum(done) == grid.num_snippets  # progress reported for every snippet
    return grid, result


def test_astronaut_is_found_and_people_free_snippets_are_zero(astronaut_video, six_class_checkpoint):
    settings = FaceConfig(weights_path=str(six_class_checkpoint), emotion_labels=SIX_LABELS)
    extractor = FaceExtractor(settings, DecodeConfig())
    grid, result = extract(astronaut_video, extractor)
    assert grid.num_snippets == 13
    assert result.features.shape == (13, 1024) and result.features.dtype == np.float32
    assert result.mask.shape == (13,) and result.mask.dtype == np.float32
    emotion = result.extras["emotion"]
    assert emotion.shape == (13, 6)
    for array in (result.features, result.mask, emotion):
        assert np.isfinite(array).all()

    # 10 snippets with the photo: a face in >= 90% of their sampled frames, presence near 1
    photo = result.mask[:10]
    assert photo.mean() >= 0.9 and photo.min() >= 0.5
    assert extractor.last_timings.frames == 26 and extractor.last_timings.faces >= 18
    seen = photo > 0
    assert (np.abs(result.features[:10][seen]).sum(axis=1) > 0).all()
    np.testing.assert_allclose(emotion[:10][seen].sum(axis=1), 1.0, atol=1e-5)
    # the last 3 snippets show nobody: presence 0, zero embeddings and emotions
    assert not result.mask[10:].any()
    assert not result.features[10:].any()
    assert not emotion[10:].any()

    identity = extractor.identity()
    assert identity["weights"]["sha256"] == hashlib.sha256(six_class_checkpoint.read_bytes()).hexdigest()
    assert identity["weights"]["random"] is False
    assert identity["emotion_classes"] == list(SIX_LABELS)
    assert "weights_path" not in identity["config"] and "batch_size" not in identity["config"]


def test_numbers_do_not_depend_on_the_embedding_batch(astronaut_video):
    results = []
    for batch_size in (32, 3):  # one batch at the end / seven batches through the embedding thread
        extractor = FaceExtractor(FaceConfig(batch_size=batch_size), DecodeConfig(), allow_random_weights=True)
        results.append(extract(astronaut_video, extractor)[1])
    np.testing.assert_array_equal(results[0].mask, results[1].mask)
    np.testing.assert_allclose(results[0].features, results[1].features, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(results[0].extras["emotion"], results[1].extras["emotion"], rtol=1e-4, atol=1e-6)
    assert results[0].features.any()


def test_test_pattern_has_no_face(pattern_video):
    path = pattern_video("pattern.mp4", 3.0, size=(320, 240))
    extractor = FaceExtractor(FaceConfig(frames_per_snippet=3), DecodeConfig(), allow_random_weights=True)
    grid, result = extract(path, extractor)
    assert extractor.last_timings.frames == 3 * grid.num_snippets
    assert not result.mask.any()
    assert not result.features.any()
    assert not result.extras["emotion"].any()
    assert result.extras["emotion"].shape == (grid.num_snippets, 7)
    assert extractor.identity()["deepface_version"]

    # "skip": no detection, the whole frame is the face (videos already cropped to a face)
    skip = FaceExtractor(FaceConfig(detector_backend="skip"), DecodeConfig(), allow_random_weights=True)
    _, result = extract(path, skip)
    assert (result.mask == 1.0).all()
    assert (np.abs(result.features).sum(axis=1) > 0).all()
    assert skip.identity()["deepface_version"] is None


def test_stops_without_weights_unless_random_weights_are_allowed(tmp_path):
    with pytest.raises(WeightsError, match=r"resemotenet_fer2013\.pth.*--random-weights"):
        FaceExtractor(FaceConfig(), DecodeConfig())
    with pytest.raises(WeightsError, match="no such file"):
        FaceExtractor(FaceConfig(weights_path=str(tmp_path / "missing.pth")), DecodeConfig(), allow_random_weights=True)
    not_a_checkpoint = tmp_path / "notes.pth"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(WeightsError, match="face.weights_path"):
        FaceExtractor(FaceConfig(weights_path=str(not_a_checkpoint)), DecodeConfig())
    random = FaceExtractor(FaceConfig(), DecodeConfig(), allow_random_weights=True)
    assert random.weights_identity() == {"random": True, "seed": 0}
    assert random.network.num_classes == 7 and random.emotion_names[0] == "happy"


def test_class_names_fall_back_to_generic_ones_when_the_checkpoint_disagrees(six_class_checkpoint):
    with pytest.warns(UserWarning, match="6 emotion classes but face.emotion_labels names 7"):
        extractor = FaceExtractor(FaceConfig(weights_path=str(six_class_checkpoint)), DecodeConfig())
    assert extractor.emotion_names == tuple(f"class_{k}" for k in range(6))
    assert extractor.identity()["emotion_classes"][5] == "class_5"


def test_primary_face_rule_size_confidence_and_continuity():
    frame_area = 640 * 480
    big = FaceBox(0, 0, 100, 100, 0.9)
    small = FaceBox(300, 300, 360, 360, 0.99)
    assert choose_primary_face([small, big], frame_area, None, 1.0) is big
    doubtful_big = FaceBox(0, 0, 100, 100, 0.3)
    assert choose_primary_face([doubtful_big, small], frame_area, None, 1.0) is small
    left, right = FaceBox(0, 0, 100, 100, 0.9), FaceBox(400, 0, 505, 105, 0.9)
    assert choose_primary_face([left, right], frame_area, None, 1.0) is right  # larger
    assert choose_primary_face([left, right], frame_area, FaceBox(5, 5, 105, 105, 0.9), 1.0) is left  # continuity
    assert choose_primary_face([left, right], frame_area, FaceBox(5, 5, 105, 105, 0.9), 0.0) is right
    assert choose_primary_face([], frame_area, None, 1.0) is None


def test_crop_is_rotated_so_the_eyes_are_level():
    frame = np.zeros((200, 300, 3), np.uint8)
    centre, half_distance, tilt = np.array([150.0, 100.0]), 30.0, math.radians(20)
    offset = half_distance * np.array([math.cos(tilt), math.sin(tilt)])
    left_eye, right_eye = centre + offset, centre - offset  # the person's left eye is on the image's right
    for eye in (left_eye, right_eye):
        cv2.circle(frame, (round(eye[0]), round(eye[1])), 4, (255, 255, 255), -1)
    box = FaceBox(100, 50, 200, 150, 0.9, tuple(left_eye), tuple(right_eye))

    def eye_rows(crop):
        count, _, _, centroids = cv2.connectedComponentsWithStats((crop[:, :, 0] > 128).astype(np.uint8))
        assert count == 3  # background + two eyes
        return centroids[1:, 1]

    aligned = crop_face(frame, box, align=True)
    assert aligned.shape == (100, 100, 3)
    rows = eye_rows(aligned)
    assert abs(rows[0] - rows[1]) < 1.5
    rows = eye_rows(crop_face(frame, box, align=False))
    assert abs(rows[0] - rows[1]) > 15  # 2 * 30 * sin(20 deg) = 20.5 px apart


def test_config_section_is_checked_and_registered():
    assert EXTRACTORS["face"] is FaceExtractor
    config = load_config(overrides=["face.emotion_labels=happy,surprise,sad,anger,disgust,fear", "face.frames_per_snippet=4"])
    assert config.face.emotion_labels == SIX_LABELS and config.face.frames_per_snippet == 4
    for override, key in [
        ("face.frames_per_snippet=0", "face.frames_per_snippet"),
        ("face.detector_backend=haar", "face.detector_backend"),
        ("face.detection_max_side=10", "face.detection_max_side"),
        ("face.min_confidence=2", "face.min_confidence"),
    ]:
        with pytest.raises(ConfigError, match=key):
            load_config(overrides=[override])


def test_deepface_home_follows_config_then_environment_then_xdg(tmp_path, monkeypatch):
    assert deepface_home_for(FaceConfig(deepface_home=str(tmp_path / "mine"))) == tmp_path / "mine"
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "env"))
    assert deepface_home_for(FaceConfig()) == tmp_path / "env"
    monkeypatch.delenv("DEEPFACE_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert deepface_home_for(FaceConfig()) == tmp_path / "xdg" / "fsenet" / "deepface"


def test_deepface_files_logging_and_warnings_in_a_fresh_process(tmp_path):
    """DeepFace's folder goes under the configured home, it prints nothing, and importing
    it leaves the process's warning filters as they were (its import ignores all warnings)."""
    script = f"""
import warnings, numpy as np
from extractors.decode import DecodeConfig
from extractors.face import FaceConfig, FaceExtractor
from pipeline.synthetic.videos import astronaut_frames
before = list(warnings.filters)
extractor = FaceExtractor(FaceConfig(deepface_home={str(tmp_path / 'df home')!r}), DecodeConfig(), allow_random_weights=True)
assert list(warnings.filters) == before, "warning filters changed"
frame = next(astronaut_frames(1, (320, 240), 240))
assert len(extractor.detect_faces(frame)) == 1
assert extractor.detect_faces(np.full((240, 320, 3), 96, np.uint8)) == []
print("done")
"""
    env = {key: value for key, value in os.environ.items() if key not in ("DEEPFACE_LOG_LEVEL", "DEEPFACE_HOME")}
    env["HOME"] = str(tmp_path / "user home")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"  # DeepFace's logger said nothing ("Directory ... created" is INFO)
    assert (tmp_path / "df home" / ".deepface" / "weights").is_dir()
    assert not (tmp_path / "user home").exists()
