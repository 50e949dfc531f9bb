"""The feature cache: atomic writes, validity rules, strays, reading back."""

import json
import os
import subprocess
import time

import numpy as np
import pytest

from cache.atomic import (
    atomic_save_npy,
    atomic_write_json,
    atomic_write_text,
    is_temp_file,
    remove_stale_temp_files,
    temp_path_for,
)
from cache.store import CacheError, FeatureCache

GRID = {"snippet_seconds": 0.64, "num_snippets": 5, "frame_rate": 25.0, "snippet_frames": 16}
SOURCE = {"path": "/videos/a.mp4", "size": 10, "mtime": 1.0, "fingerprint": "sha256-sampled:abc"}
IDENTITY = {"name": "audio", "version": 1, "output_dim": 4, "config": {"n_mfcc": 1}, "weights": None}


def new_entry(cache, video_id="clips/a b"):
    cache.create()
    meta = cache.new_meta(video_id, SOURCE, {"duration_seconds": 3.0}, GRID)
    features = np.arange(20, dtype=np.float32).reshape(5, 4)
    cache.write_stream(video_id, meta, "audio", features, np.ones(5, np.float32),
                       {"extra": np.zeros((5, 2), np.float32)}, IDENTITY)
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
    assert sorted(p.name for p in entry.iterdir()) == ["audio.extra.npy", "audio.mask.npy", "audio.npy",
                                                       "meta.json", "nested"]


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


# -- hostile ids, damaged entries and markers, locks, stale temp files ----------------------
@pytest.mark.parametrize("video_id", ["..", ".", "a/../..", "a/./b", "", "/etc/x", "a//b", "x\0y"])
def test_ids_that_would_leave_the_cache_are_refused(tmp_path, video_id):
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(CacheError, match="would leave"):
        cache.entry_dir(video_id)
    assert cache.entry_dir("_..").parent == cache.videos_root and cache.entry_dir("..x") == cache.videos_root / "..x"


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_arrays_read_as_damaged(tmp_path, value):
    cache = FeatureCache(tmp_path / "cache")
    new_entry(cache)
    for name in ("audio.npy", "audio.mask.npy", "audio.extra.npy"):
        path = cache.entry_dir("clips/a b") / name
        original = np.load(path)
        poisoned = original.copy()
        poisoned.flat[-1] = value
        np.save(path, poisoned)
        meta = cache.read_meta("clips/a b")
        check = cache.check_stream("clips/a b", meta, "audio", IDENTITY, GRID)
        assert not check.valid and check.reason == f"{name} holds NaN or infinite values"
        assert f"audio: {name} holds NaN or infinite values" in cache.check_entry("clips/a b").problems
        with pytest.raises(CacheError, match="damaged cache entry .*NaN or infinite.*rerun `extract`"):
            cache.load_stream("clips/a b", "audio")
        np.save(path, original)
    assert cache.check_entry("clips/a b").problems == ["source file missing"]  # SOURCE names no real file


def _good_meta():
    return {"format_version": 1, "video_id": "v", "source": dict(SOURCE), "probe": {"duration_seconds": 3.0},
            "grid": dict(GRID), "streams": {"audio": {"file": "audio.npy", "shape": [5, 4], "dtype": "float32",
                                                       "mask_file": None, "extras": {}, "extractor": IDENTITY}}}


def _damaged_metas():
    """(meta.json bytes, the problem cache-info names) of meta files a person or a crash could leave."""
    missing_grid = _good_meta()
    del missing_grid["grid"]
    climbing = _good_meta()
    climbing["streams"]["audio"]["file"] = "../../../outside.npy"
    rows = _good_meta()
    rows["streams"]["audio"]["shape"] = [7, 4]
    record_list = _good_meta()
    record_list["streams"]["audio"] = ["audio.npy"]
    return [
        (b"[1, 2, 3]", "meta.json holds an array, not an object"),
        (b'"text"', "meta.json holds a string, not an object"),
        (b"{\"format_version\": 1}", "meta.json lacks the 'source' object"),
        (json.dumps(missing_grid).encode(), "meta.json lacks the 'grid' object"),
        (json.dumps(climbing).encode(), "meta.json stream 'audio' lacks a valid 'file' or 'shape'"),
        (json.dumps(rows).encode(), "meta.json stream 'audio' has 7 rows, the grid 5"),
        (json.dumps(record_list).encode(), "meta.json stream 'audio' is an array, not an object"),
        (b"\x00\xffgarbage", "meta.json is not valid JSON"),
        (b'{"format_version": 1, "source": {', "meta.json is not valid JSON"),
        (b'{"streams": ' + b'{"a": ' * 120_000, "meta.json is not valid JSON"),  # nested past Python's limit
    ]


@pytest.mark.parametrize("content, problem", _damaged_metas())
def test_meta_of_the_wrong_shape_reads_as_damaged_never_raises(tmp_path, content, problem):
    cache = FeatureCache(tmp_path / "cache")
    new_entry(cache, "v")
    (cache.entry_dir("v") / "meta.json").write_bytes(content)
    assert cache.read_meta_checked("v") == (None, problem)
    assert cache.read_meta("v") is None
    check = cache.check_entry("v")
    assert not check.valid and check.problems == [problem]
    with pytest.raises(CacheError, match=f"damaged cache entry \\({problem[:20]}"):
        cache.load_stream("v", "audio")


def test_an_entry_whose_meta_is_gone_is_still_listed(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    new_entry(cache, "a/b")
    new_entry(cache, "c")
    (cache.entry_dir("a/b") / "meta.json").unlink()
    assert cache.video_ids() == ["c"] and cache.entry_ids() == ["a/b", "c"]
    assert cache.check_entry("a/b").problems == ["meta.json missing"]
    with pytest.raises(CacheError, match="damaged cache entry \\(meta.json missing\\)"):
        cache.load_stream("a/b", "audio")
    with pytest.raises(CacheError, match="no cache entry; run `extract` first"):
        cache.load_stream("never", "audio")


@pytest.mark.parametrize("content", [b"not json {", b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_cache_json_is_rewritten_in_a_cache_and_refused_elsewhere(tmp_path, content):
    cache = FeatureCache(tmp_path / "cache")
    new_entry(cache)
    (cache.root / "cache.json").write_bytes(content)
    assert "rewritten" in cache.create()
    assert json.loads((cache.root / "cache.json").read_text())["format"] == "fsenet-feature-cache"
    assert cache.create() is None

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "cache.json").write_bytes(content)
    with pytest.raises(CacheError, match="not a feature cache marker"):
        FeatureCache(stranger).create()
    assert (stranger / "cache.json").read_bytes() == content


def test_a_cache_path_that_is_a_file_or_under_one_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CacheError, match="exists and is not a folder"):
        FeatureCache(tmp_path / "file").create()
    with pytest.raises(CacheError, match="is a file, not a folder"):
        FeatureCache(tmp_path / "file" / "cache").create()
    assert (tmp_path / "file").read_text() == "x"


def test_entry_lock_excludes_a_second_holder_until_released(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    new_entry(cache)
    with cache.entry_lock("clips/a b") as held:
        assert held
        with cache.entry_lock("clips/a b", wait=False) as second:  # flock: per open file, so per holder
            assert not second
        with cache.entry_lock("other", wait=False) as other:
            assert other
    with cache.entry_lock("clips/a b", wait=False) as again:
        assert again
    assert (cache.entry_dir("clips/a b") / ".lock").is_file() and cache.video_ids() == ["clips/a b"]
    cache.remove_strays("clips/a b", cache.read_meta("clips/a b"))
    assert (cache.entry_dir("clips/a b") / ".lock").is_file()  # a lock file is not a stray


def test_stale_temp_files_are_those_of_dead_writers_or_old(tmp_path):
    exited = subprocess.Popen(["true"])  # a process that has exited: no writer runs under its pid
    exited.wait()
    dead = tmp_path / f".last.pt.tmp-{exited.pid}-0123abcd"
    live = tmp_path / f".last.pt.tmp-{os.getpid()}-0123abcd"
    old_live = tmp_path / f".best.pt.tmp-{os.getpid()}-4567cdef"
    foreign = tmp_path / ".notes.tmp-by-an-editor"
    for path in (dead, live, old_live, foreign, tmp_path / "last.pt"):
        path.write_bytes(b"x" * 10)
    os.utime(old_live, (time.time() - 7200, time.time() - 7200))
    removed = remove_stale_temp_files(tmp_path, min_age_seconds=3600)
    assert removed == {dead: 10, old_live: 10}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, foreign.name, "last.pt"])


def test_a_temp_name_fits_wherever_its_target_fits_and_is_still_a_temp_name(tmp_path):
    target = tmp_path / ("ж" * 127)  # 254 bytes: the temp name, uncut, would pass the 255-byte limit
    atomic_write_text(target, "whole")
    assert target.read_text() == "whole" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    temp = temp_path_for(target)
    assert len(os.fsencode(temp.name)) <= 255 and is_temp_file(temp) and temp.name.startswith(".жж")
    temp.write_text("left by a killed writer")
    os.utime(temp, (1.0, 1.0))
    assert list(remove_stale_temp_files(tmp_path)) == [temp]  # recognised as a temp file, cut or not


def test_names_that_are_not_utf8_stay_exact_in_json_and_escaped_in_text(tmp_path):
    name = os.fsdecode(b"\xff\xfeclip \xe9t\xe9")
    atomic_write_json(tmp_path / "a.json", {name: [name]})
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8")) == {name: [name]}  # valid UTF-8, exact
    atomic_write_text(tmp_path / "a.csv", f"{name},x\n")
    assert (tmp_path / "a.csv").read_text(encoding="utf-8") == "\\xff\\xfeclip \\xe9t\\xe9,x\n"
