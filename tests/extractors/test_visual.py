"""The I3D visual stream on real videos, with checkpoints written in the published format."""

import hashlib
import json
import sys

import numpy as np
import pytest
import torch

from extractors.base import ExtractorSettingsError
from extractors.decode import DecodeConfig, VideoReadError, probe_video
from extractors.grid import GridConfig, SnippetGrid
from extractors.hardware import native_bf16
from extractors.i3d import build_i3d_r50, load_i3d_checkpoint
from extractors.visual import (
    ClipDecoder,
    VisualConfig,
    VisualExtractor,
    clip_frame_indices,
    frame_count,
)
from extractors.weights import I3D_CHECKPOINT, WeightsError
from pipeline.config import ConfigError, load_config
from pipeline.synthetic.i3d_checkpoint import random_i3d_state, write_random_i3d_checkpoint
from pipeline.synthetic.videos import astronaut_frames, write_video
from tests.conftest import cli, run_ffmpeg

CLIP_SPAN_FRAMES = 7 * 8 + 1  # first to last frame of a default clip, at 30 fps
DECODE_CHUNK_FRAMES = 16
# Small clips where the test is about plumbing, not the checkpoint's own preprocessing.
SMALL = {"short_side": 64, "crop_size": 64, "layer": "res5"}


def write_checkpoint(path, seed: int = 0):
    """A checkpoint in the published I3D_8x8_R50.pyth layout, with random values."""
    return write_random_i3d_checkpoint(path, seed)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("weights") / "I3D_8x8_R50.pyth", seed=3)


@pytest.fixture(autouse=True)
def _own_torch_home(tmp_path, monkeypatch):
    """Each test its own (empty) hub folder: checkpoints put there do not leak into others."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def grid_for(path) -> tuple:
    probe = probe_video(path)
    return probe, SnippetGrid.for_duration(probe.duration_seconds, GridConfig())


def extractor(checkpoint, **settings) -> VisualExtractor:
    return VisualExtractor(VisualConfig(weights_path=str(checkpoint), **settings), DecodeConfig(), "cpu")


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_config_is_checked_and_registered():
    config = load_config(None, ["visual.frames_per_clip=16", "visual.mean=[0.4, 0.5, 0.6]"])
    assert config.visual.frames_per_clip == 16 and config.visual.mean == (0.4, 0.5, 0.6)
    for override, named in [
        ("visual.layer=fc", "visual.layer"),
        ("visual.crop_size=300", "visual.short_side"),
        ("visual.std=[0.2, 0.2]", "visual.std"),
        ("visual.crop_size=160", "head_pool"),  # the head's 7 x 7 pool needs a larger crop
        ("visual.precision=fp8", "visual.precision"),
    ]:
        with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
            load_config(None, [override])
    with pytest.raises(ExtractorSettingsError, match="fp16 needs a CUDA device"):
        VisualExtractor(VisualConfig(precision="fp16"), DecodeConfig(), "cpu", allow_random_weights=True)


def test_clips_are_centred_on_snippets_and_repeat_edge_frames():
    config = VisualConfig()
    grid = SnippetGrid.for_duration(10.0, GridConfig())  # 16 snippets of 0.64 s
    indices = clip_frame_indices(grid, frame_count(10.0, 30.0), config)
    assert indices.shape == (16, 8)
    middle = indices[8]  # centre 5.44 s = frame 163.2: frames 163.2 + 8 * (k - 3.5)
    assert middle.tolist() == [135, 143, 151, 159, 167, 175, 183, 191]
    assert indices[0].tolist() == [0, 0, 0, 6, 14, 22, 30, 38]  # centre frame 9.6; before 0 s: frame 0
    assert indices[-1].tolist() == [270, 278, 286, 294, 299, 299, 299, 299]  # centre 297.6; then the last frame
    assert (np.diff(indices[:, 0]) >= 0).all() and (np.diff(indices, axis=1) >= 0).all()


def test_decoded_clips_hold_the_frames_at_the_right_times(tmp_path):
    """A 30 fps video whose frame n is grey level 8 + 4 n: clip pixels reveal which frames were taken."""
    path = write_video(
        tmp_path / "ramp.mp4", (np.full((48, 64, 3), 8 + 4 * n, np.uint8) for n in range(60)), 30, (64, 48),
        extra_args=["-crf", "0", "-g", "1"],
    )
    probe, grid = grid_for(path)
    config = VisualConfig(short_side=32, crop_size=32, layer="res5", prefetch_batches=8)  # room for every batch
    decoder = ClipDecoder([(probe, grid)], config, DecodeConfig(), batch_clips=2, pin_memory=False)
    decoder.run()  # in this thread: the same code the background thread runs
    batches = []
    while (item := decoder.output.get_nowait()) is not None:
        batches.append(item)
    owners = [owner for batch in batches for owner in batch.owners]
    clips = np.concatenate([batch.clips.numpy() for batch in batches if batch.clips is not None])
    assert owners == [(0, i) for i in range(grid.num_snippets)]  # every snippet once, in order
    assert batches[-1].events == [("done", 0, None)]
    expected = 8 + 4 * clip_frame_indices(grid, 60, config)  # (T, F) grey levels
    seen = clips.reshape(*clips.shape[:2], -1).mean(axis=2)
    level_shift = np.median(seen - expected)  # limited-range YUV round trip darkens grey a little
    assert abs(level_shift) <= 3
    np.testing.assert_allclose(seen - level_shift, expected, atol=1.2)  # one frame off would be 4 off
    assert decoder.peak_frames_held <= CLIP_SPAN_FRAMES + DECODE_CHUNK_FRAMES  # only frames a clip still needs


def test_only_needed_frames_are_held_however_long_the_video(pattern_video):
    path = pattern_video("long.mp4", 40.0, size=(96, 64), tone_hz=None)
    probe, grid = grid_for(path)
    config = VisualConfig(**SMALL)
    decoder = ClipDecoder([(probe, grid)], config, DecodeConfig(), batch_clips=16, pin_memory=False)
    decoder.start()
    clips = 0
    while (item := decoder.output.get(timeout=60)) is not None:
        clips += len(item.owners)
    assert clips == grid.num_snippets == 63
    assert frame_count(probe.duration_seconds, 30.0) == 1200
    assert decoder.peak_frames_held <= CLIP_SPAN_FRAMES + DECODE_CHUNK_FRAMES  # of 1200: flat in video length


def test_videos_of_any_fps_and_size_give_t_rows_batched_across_videos(tmp_path, pattern_video, checkpoint):
    paths = [
        pattern_video("a 24fps.mp4", 2.5, fps=24, size=(320, 240), tone_hz=None),
        pattern_video("b 60fps portrait.mkv", 1.9, fps=60, size=(96, 160), tone_hz=None),  # upscaled: short side 96
        pattern_video("c 29.97.webm", 1.3, fps=29.97, size=(160, 90)),
    ]
    audio_only = tmp_path / "sound only.m4a"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-c:a", "aac", str(audio_only))
    jobs = [grid_for(p) for p in [paths[0], paths[1], audio_only, paths[2]]]
    model = extractor(checkpoint, batch_clips=3, precision="fp32", **SMALL)
    done: dict[int, int] = {}
    results = list(model.extract_many(jobs, lambda job, n: done.__setitem__(job, done.get(job, 0) + n)))
    assert [job for job, _ in results] == [0, 1, 2, 3]
    assert isinstance(results[2][1], VideoReadError) and "no video stream" in str(results[2][1])
    for (job, result), (_, grid) in zip(results, jobs, strict=True):
        if job == 2:
            continue
        assert result.features.shape == (grid.num_snippets, 2048) and result.features.dtype == np.float32
        assert np.isfinite(result.features).all() and result.features.std(axis=1).min() > 0
        assert done[job] == grid.num_snippets
        assert result.mask is None
    assert [grid.num_snippets for _, grid in jobs] == [4, 3, 2, 3]
    # Batching across videos changes no number: the same video alone, one clip per batch.
    alone = extractor(checkpoint, batch_clips=1, precision="fp32", **SMALL).extract(*jobs[1], lambda n: None)
    np.testing.assert_allclose(alone.features, results[1][1].features, rtol=1e-4, atol=1e-5)


def test_same_video_at_two_frame_rates_gives_close_features(tmp_path, pattern_video, checkpoint):
    frames = list(astronaut_frames(180, (320, 240), 160))  # 3 s of a real photo moving at 60 fps
    fast = write_video(tmp_path / "astronaut 60.mp4", iter(frames), 60, (320, 240))
    slow = tmp_path / "astronaut 24.mp4"
    run_ffmpeg("-i", str(fast), "-vf", "fps=24", "-c:v", "libx264", "-preset", "veryfast", str(slow))
    other = pattern_video("pattern.mp4", 3.0, fps=30, size=(320, 240), tone_hz=None)
    model = extractor(checkpoint)  # the default sampling, preprocessing and precision
    at60, at24, pattern = (model.extract(*grid_for(p), lambda n: None).features for p in (fast, slow, other))
    assert at60.shape == at24.shape == (5, 2048)
    same_time = cosine(at60, at24)
    assert same_time.min() > 0.9
    # Not because every feature looks alike: the frame rate moves a feature less than
    # one snippet of time does, and much less than other content does.
    next_snippet = cosine(at60[:-1], at60[1:])
    assert (1 - same_time[:-1] < 1 - next_snippet).all()
    assert (1 - same_time).max() < (1 - cosine(at60, pattern)).min() / 10


def test_feature_is_the_vector_the_checkpoint_classifier_projects(checkpoint, tmp_path):
    """proj(feature) equals the full pytorchvideo model's logits on the same normalized clip."""
    model = build_i3d_r50()
    load_i3d_checkpoint(model, checkpoint)
    model.eval()
    clips = torch.randint(0, 256, (2, 8, 256, 256, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    features = extractor(checkpoint, precision="fp32").embed_clips(clips)
    assert features.shape == (2, 2048)
    normalized = (clips.permute(0, 4, 1, 2, 3).float() / 255 - 0.45) / 0.225
    with torch.inference_mode():
        logits = model(normalized)
        projected = model.blocks[6].proj(torch.from_numpy(features))
    torch.testing.assert_close(projected, logits, rtol=1e-3, atol=1e-4)


def test_bf16_features_match_fp32(checkpoint, pattern_video):
    if not native_bf16("cpu"):
        pytest.skip("this CPU has no native bf16")
    probe, grid = grid_for(pattern_video("pattern.mp4", 1.5, size=(320, 240), tone_hz=None))
    full = extractor(checkpoint, precision="fp32").extract(probe, grid, lambda n: None).features
    half = extractor(checkpoint, precision="bf16").extract(probe, grid, lambda n: None).features
    assert cosine(full, half).min() > 0.999


def test_checkpoint_checks_name_the_file(tmp_path, checkpoint):
    model = build_i3d_r50()
    garbage = tmp_path / "garbage.pyth"
    garbage.write_bytes(b"<html>not found</html>")
    with pytest.raises(WeightsError, match="garbage.pyth: not a readable PyTorch checkpoint"):
        load_i3d_checkpoint(model, garbage)
    bare = tmp_path / "bare state dict.pyth"
    torch.save(random_i3d_state(0), bare)
    with pytest.raises(WeightsError, match="expected a pytorchvideo checkpoint"):
        load_i3d_checkpoint(model, bare)
    other = tmp_path / "c2d.pyth"
    state = random_i3d_state(0)
    state["blocks.0.conv.weight"] = state["blocks.0.conv.weight"][:, :, :1]  # C2D's (1, 7, 7) stem
    del state["blocks.6.proj.bias"]
    torch.save({"model_state": state}, other)
    with pytest.raises(WeightsError, match="not an I3D R50 .* 1 missing .* 1 of another shape"):
        load_i3d_checkpoint(model, other)


def test_weights_path_and_hub_cache_are_identified_by_sha256(tmp_path, checkpoint, monkeypatch):
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    from_path = extractor(checkpoint, **SMALL)
    assert from_path.identity()["weights"] == {"random": False, "sha256": digest, "file": "I3D_8x8_R50.pyth"}
    assert "weights_path" not in from_path.identity()["config"]  # where the file lies does not matter
    hub = tmp_path / "torch_home" / "hub" / "checkpoints" / "I3D_8x8_R50.pyth"
    hub.parent.mkdir(parents=True)
    hub.write_bytes(checkpoint.read_bytes())
    from_hub = VisualExtractor(VisualConfig(**SMALL), DecodeConfig(), "cpu")
    assert from_hub.identity() == from_path.identity()
    assert not any(name.startswith("pytorchvideo.transforms") for name in sys.modules)


def test_planned_identity_is_the_built_identity_without_building_the_network(checkpoint):
    settings = VisualConfig(weights_path=str(checkpoint), **SMALL)
    planned = VisualExtractor.planned_identity(settings, DecodeConfig(), False)
    assert planned == extractor(checkpoint, **SMALL).identity()
    random = VisualConfig(random_seed=4, **SMALL)
    built = VisualExtractor(random, DecodeConfig(), "cpu", allow_random_weights=True)
    assert VisualExtractor.planned_identity(random, DecodeConfig(), True) == built.identity()
    from pytorchvideo.models.hub.resnet import checkpoint_paths

    assert I3D_CHECKPOINT.url == checkpoint_paths["i3d_r50"]  # written down in extractors/weights.py, so read no torch


def test_extract_command_records_the_hash_or_stops_without_weights(tmp_path, pattern_video, checkpoint):
    videos = tmp_path / "videos"
    pattern_video("videos/clip.mp4", 1.5, size=(160, 120))
    small = ["--set", "visual.short_side=64", "--set", "visual.crop_size=64", "--set", "visual.layer=res5"]
    args = ["extract", str(videos), "--streams", "visual", "--no-progress", *small]

    refused = cli(*args, "--cache", str(tmp_path / "refused"))
    assert refused.returncode == 2
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    assert f"put I3D_8x8_R50.pyth in {hub}" in refused.stderr and "--random-weights" in refused.stderr
    assert not (tmp_path / "refused").exists()  # stopped before any work

    randomized = cli(*args, "--cache", str(tmp_path / "random"), "--random-weights")
    assert randomized.returncode == 0, randomized.stderr
    assert "RANDOM weights" in randomized.stderr

    hub.mkdir(parents=True)
    (hub / "I3D_8x8_R50.pyth").write_bytes(checkpoint.read_bytes())
    real = cli(*args, "--cache", str(tmp_path / "real"))
    assert real.returncode == 0, real.stderr

    def visual_record(cache):
        info = cli("cache-info", str(tmp_path / cache), "--json")
        assert info.returncode == 0, info.stderr
        (record,) = json.loads(info.stdout)
        return record["streams"]["visual"]

    assert visual_record("random")["extractor"]["weights"] == {"random": True, "seed": 0}
    record = visual_record("real")
    assert record["shape"] == [3, 2048]
    assert record["extractor"]["weights"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
