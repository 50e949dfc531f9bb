"""The feature cache: atomic writes, validity rules, strays, reading back."""

import json

import numpy as np
import pytest

from cache.atomic import atomic_save_npy, atomic_write_json, is_temp_file
from cache.store import CacheError, FeatureCache

GRID = {"snippet_seconds": 0.64, "num_snippets": 5, "frame_rate": 25.0, "snippet_frames": 16}
SOURCE = {"path": "/videos/a.mp4", "size": 10, "mtime": 1.0, "fingerprint": "sha256-sampled:abc"}
IDENTITY = {"name": "audio", "version": 1, "output_dim": 4, "config": {"n_mfcc": 1}, "weights": None}


def new_entry(cache, video_id="clips/a b"):
    cache.create()
    meta = cache.new_meta(video_id, SOURCE, {"duration_seconds": 3.0}, GRID)
    features = np.arange(20, dtype=np.float32).reshape(5, 4)
    cache.write_stream(video_id, meta, "audio", features, np.ones(5, np.float32), {"extra": np.zeros((5, 2), np.float32)}, IDENTITY)
    return meta, features


def test_written_stream_reads_back_and_is_valid(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    meta, features = new_entry(cache)
    assert cache.video_ids() == ["clips/a b"]
    loaded = cache.load_stream("clips/a b", "audio")
    np.testing.assert_array_equal(loaded.features, features)
    assert loaded.mask.tolist() == [1.0] * 5
    assert loaded.extras["extra"].shape == (5, 2)
    assert cache.check_stream("clips/a b", cache.read_meta("clips/a b"), "audio", IDENTITY, GRID).valid


def test_changed_identity_or_grid_or_damaged_file_is_stale(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    new_entry(cache)
    meta = cache.read_meta("clips/a b")
    other = dict(IDENTITY, config={"n_mfcc": 2})
    assert cache.check_stream("clips/a b", meta, "audio", other, GRID).reason == "extractor config or weights changed"
    assert not cache.check_stream("clips/a b", meta, "audio", IDENTITY, dict(GRID, num_snippets=6)).valid
    assert cache.check_stream("clips/a b", meta, "visual", IDENTITY, GRID).reason == "not cached"
    atomic_save_npy(cache.entry_dir("clips/a b") / "audio.npy", np.zeros((4, 4), np.float32))
    check = cache.check_stream("clips/a b", meta, "audio", IDENTITY, GRID)
    assert not check.valid and "audio.npy" in check.reason


def test_rows_that_disagree_with_the_grid_or_nan_are_refused(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    cache.create()
    meta = cache.new_meta("v", SOURCE, {}, GRID)
    with pytest.raises(ValueError, match="grid has 5"):
        cache.write_stream("v", meta, "audio", np.zeros((4, 4), np.float32), None, {}, IDENTITY)
    bad = np.zeros((5, 4), np.float32)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cache.write_stream("v", meta, "audio", bad, None, {}, IDENTITY)
    assert cache.read_meta("v") is None


def test_strays_and_temp_files_are_removed(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    meta, _ = new_entry(cache)
    entry = cache.entry_dir("clips/a b")
    (entry / "face.npy").write_bytes(b"half written")
    (entry / ".audio.npy.tmp-123-abcd").write_bytes(b"x")
    (entry / "nested").mkdir()  # another video's folder ("clips/a b/nested") is left alone
    cache.remove_strays("clips/a b", meta)
    assert sorted(p.name for p in entry.iterdir()) == ["audio.extra.npy", "audio.mask.npy", "audio.npy", "meta.json", "nested"]


def test_forgetting_the_only_stream_removes_the_entry(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    meta, _ = new_entry(cache)
    cache.forget_stream("clips/a b", meta, "audio")
    assert cache.read_meta("clips/a b") is None
    assert cache.video_ids() == []


def test_cache_refuses_a_folder_that_is_something_else(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"jpg")
    with pytest.raises(CacheError, match="not a feature cache"):
        FeatureCache(tmp_path / "photos").create()


def test_atomic_writes_leave_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "x.json", {"a": 1})
    atomic_save_npy(tmp_path / "y.npy", np.ones(3, np.float32))
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}
    assert not any(is_temp_file(p) for p in tmp_path.iterdir())
