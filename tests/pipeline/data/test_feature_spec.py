"""Typed feature specs and extractor identities: they read what earlier versions wrote
(a checkpoint and a cache entry written here by hand, in the stored formats) and write
it back unchanged, and they say how two identities differ."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cache.identity import ExtractorIdentity
from model import FSENet
from pipeline.config import config_to_dict, load_config
from pipeline.data.cached import samples_from_cache
from pipeline.data.feature_spec import FeatureSpec, FeatureSpecError
from pipeline.infer.checkpoint import load_trained_model

AUDIO_IDENTITY = {
    "name": "audio", "version": 1, "output_dim": 4,
    "config": {"sample_rate": 16000, "n_mfcc": 1, "n_mels": 64, "fmin": 20.0},
    "weights": None,
}
FACE_IDENTITY = {
    "name": "face", "version": 2, "output_dim": 3, "config": {"detector": "opencv", "crop_size": 64},
    "weights": {"random": True, "seed": 0, "architecture": "ResEmoteNet"},
}
# A feature spec exactly as the checkpoints of the previous version stored it.
STORED_SPEC = {
    "source": "cache",
    "path": "/data/cache",
    "streams": {"audio": 4, "face": 3},
    "snippet_seconds": 0.64,
    "grid": {"frame_rate": 25.0, "snippet_frames": 16, "snippet_seconds": 0.64},
    "extractors": {"audio": AUDIO_IDENTITY, "face": FACE_IDENTITY},
    "random_weights": True,
}


def test_a_stored_spec_reads_typed_and_writes_back_unchanged():
    spec = FeatureSpec.from_dict(json.loads(json.dumps(STORED_SPEC)))
    assert spec.streams == {"audio": 4, "face": 3} and spec.snippet_seconds == 0.64
    assert spec.random_weight_streams == ["face"] and spec.random_weights
    assert not spec.extractors["audio"].is_random and spec.extractors["audio"].weights is None
    assert spec.to_dict() == STORED_SPEC


def test_an_old_format_checkpoint_still_loads(tmp_path):
    config = load_config(None, ["model.d_model=8", "model.num_heads=2", "model.streams=audio,face"])
    torch.manual_seed(0)
    model = FSENet(config.model, {"audio": 4, "face": 3})
    path = tmp_path / "best.pt"
    torch.save({
        "format": "fsenet-checkpoint", "version": 1, "model_state": model.state_dict(),
        "stream_dims": {"audio": 4, "face": 3}, "feature_spec": STORED_SPEC, "class_names": ["negative", "positive"],
        "config": config_to_dict(config), "epoch": 3, "best_metric": 0.5,
    }, path)
    trained = load_trained_model(path, "cpu")
    assert isinstance(trained.feature_spec, FeatureSpec)
    assert trained.feature_spec.to_dict() == STORED_SPEC
    assert trained.feature_spec.extractors["face"].weights_words() == "RANDOM weights (seed 0)"


def _write_entry_by_hand(cache_dir, video_id: str, rows: int) -> None:
    """A cache entry in the stored layout: cache.json, meta.json and float32 arrays."""
    (cache_dir / "cache.json").write_text(json.dumps({"format": "fsenet-feature-cache", "version": 1}))
    entry = cache_dir / "videos" / video_id
    entry.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(entry / "audio.npy", rng.standard_normal((rows, 4)).astype(np.float32))
    np.save(entry / "face.npy", rng.standard_normal((rows, 3)).astype(np.float32))
    np.save(entry / "face.mask.npy", np.ones(rows, dtype=np.float32))
    stream = {"dtype": "float32", "extras": {}, "written_at": "2026-11-26T10:00:00+0000"}
    meta = {
        "format_version": 1, "video_id": video_id,
        "source": {"path": "/videos/a.mp4", "size": 10, "fingerprint": "abc"},
        "probe": {"duration_seconds": rows * 0.64, "native_fps": 25.0},
        "grid": {"frame_rate": 25.0, "snippet_frames": 16, "snippet_seconds": 0.64, "num_snippets": rows},
        "streams": {
            "audio": {**stream, "file": "audio.npy", "shape": [rows, 4], "mask_file": None,
                      "extractor": AUDIO_IDENTITY},
            "face": {**stream, "file": "face.npy", "shape": [rows, 3], "mask_file": "face.mask.npy",
                     "extractor": FACE_IDENTITY},
        },
    }
    (entry / "meta.json").write_text(json.dumps(meta))


def test_an_old_format_cache_entry_still_reads_with_its_typed_spec(tmp_path):
    _write_entry_by_hand(tmp_path, "clip", rows=5)
    samples, spec = samples_from_cache(tmp_path, ["clip"], ["audio", "face"])
    assert samples["clip"].features["audio"].shape == (5, 4)
    assert spec.extractors["face"] == ExtractorIdentity(FACE_IDENTITY) and spec.random_weight_streams == ["face"]
    assert {key: value for key, value in spec.to_dict().items() if key != "path"} == {
        key: value for key, value in STORED_SPEC.items() if key != "path"
    }


def test_identities_say_what_differs():
    audio = ExtractorIdentity(AUDIO_IDENTITY)
    assert audio.difference(ExtractorIdentity(json.loads(json.dumps(AUDIO_IDENTITY))), "audio") is None
    assert audio == ExtractorIdentity({**AUDIO_IDENTITY, "config": {**AUDIO_IDENTITY["config"]}})
    other_settings = ExtractorIdentity({**AUDIO_IDENTITY, "config": {**AUDIO_IDENTITY["config"], "n_mfcc": 20}})
    assert audio.difference(other_settings, "audio") == "settings audio.n_mfcc"
    newer = ExtractorIdentity({**AUDIO_IDENTITY, "version": 2})
    assert audio.difference(newer, "audio") == "extractor version (audio v1 vs audio v2)"
    real = ExtractorIdentity({**FACE_IDENTITY, "weights": {"sha256": "0123456789abcdef", "source": "x.pth"}})
    assert ExtractorIdentity(FACE_IDENTITY).difference(real, "face") == (
        "weights (RANDOM weights (seed 0) vs weights sha256 0123456789ab)"
    )


def test_features_other_than_the_models_are_refused():
    trained = FeatureSpec.from_dict(STORED_SPEC)
    narrower = FeatureSpec.from_dict({**STORED_SPEC, "streams": {"audio": 2, "face": 3}})
    with pytest.raises(FeatureSpecError, match="stream 'audio' is 2-d here"):
        trained.check_features(narrower)
    without_face = FeatureSpec.from_dict({**STORED_SPEC, "streams": {"audio": 4}})
    with pytest.raises(FeatureSpecError, match="lack stream 'face'"):
        trained.check_features(without_face)
    other = json.loads(json.dumps(STORED_SPEC))
    other["extractors"]["audio"]["config"]["n_mfcc"] = 2
    with pytest.raises(FeatureSpecError, match=r"settings audio\.n_mfcc"):
        trained.check_features(FeatureSpec.from_dict(other))
    coarser = FeatureSpec.from_dict({**STORED_SPEC, "snippet_seconds": 1.28})
    with pytest.raises(FeatureSpecError, match="1.28 s snippets"):
        trained.check_features(coarser)
    trained.check_features(FeatureSpec.from_dict(json.loads(json.dumps(STORED_SPEC))))
