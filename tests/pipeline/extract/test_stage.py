"""`extract` and `cache-info` end to end, as a user runs them: real and broken videos,
reruns that recompute nothing, stale entries, SIGKILL mid-way then resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cache.atomic import is_temp_file
from tests.conftest import ROOT, cli, run_ffmpeg

AUDIO = ["--streams", "audio", "--no-progress"]


@pytest.fixture
def video_folder(tmp_path, pattern_video):
    folder = tmp_path / "videos"
    folder.mkdir()
    pattern_video("videos/interview one.mp4", 3.0, fps=30.0, size=(96, 64))
    pattern_video("videos/nested/日本語 clip.mkv", 2.0, fps=24.0, size=(64, 48), tone_hz=660.0)
    pattern_video("videos/tiny.webm", 0.3, fps=25.0, size=(64, 48))
    pattern_video("videos/mute.mov", 1.5, fps=29.97, size=(64, 48), tone_hz=None)
    return folder


def add_broken_videos(folder):
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "readme.avi").write_text("this is not a video")
    whole = folder.parent / "whole.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=6", "-f", "lavfi", "-i", "sine=duration=6",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-movflags", "+faststart", str(whole),
    )
    (folder / "cut off.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    os.symlink(folder / "gone.mp4", folder / "dangling.mp4")


def records_by_id(cache):
    result = cli("cache-info", str(cache), "--json")
    assert result.returncode == 0, result.stderr
    return {record["id"]: record for record in json.loads(result.stdout)}


def cache_arrays(cache):
    return {
        path.relative_to(cache).as_posix(): np.load(path)
        for path in sorted((cache / "videos").rglob("*.npy"))
    }


def comparable_meta(cache):
    metas = {}
    for path in (cache / "videos").rglob("meta.json"):
        meta = json.loads(path.read_text())
        for record in meta["streams"].values():
            record.pop("written_at")
        metas[path.relative_to(cache).as_posix()] = meta
    return metas


def test_real_and_broken_videos_failures_reported_others_complete(tmp_path, video_folder):
    add_broken_videos(video_folder)
    cache = tmp_path / "cache"
    result = cli("extract", str(video_folder), "--cache", str(cache), *AUDIO)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    failed_lines = [line for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(failed_lines) == 4
    for name in ("empty.mp4", "readme.avi", "cut off.mp4", "dangling.mp4"):
        assert any(name in line for line in failed_lines), name
    report = json.loads((cache / "extract_report.json").read_text())
    reasons = {v["video_id"]: v["reason"] for v in report["videos"] if v["status"] == "failed"}
    assert "empty file" in reasons["empty"]
    assert "cannot read" in reasons["readme"]
    assert "truncated" in reasons["cut off"]
    assert "not found" in reasons["dangling"]

    records = records_by_id(cache)
    expected_snippets = {"interview one": 5, "nested/日本語 clip": 4, "tiny": 1, "mute": 3}
    assert set(records) == set(expected_snippets)
    for video_id, count in expected_snippets.items():
        record = records[video_id]
        assert record["valid"], record["problems"]
        assert record["num_snippets"] == count
        assert record["streams"]["audio"]["shape"] == [count, 160]
        assert record["streams"]["audio"]["extractor"]["name"] == "audio"
    mute = np.load(cache / "videos" / "mute" / "audio.mask.npy")
    assert not mute.any()
    assert (cache / "config.yaml").is_file()


def test_rerun_recomputes_nothing_and_stale_entries_are_redone(tmp_path, video_folder, pattern_video):
    cache = tmp_path / "cache"
    first = cli("extract", str(video_folder), "--cache", str(cache), *AUDIO)
    assert first.returncode == 0, first.stderr
    mtimes = {p: p.stat().st_mtime_ns for p in (cache / "videos").rglob("*.npy")}

    again = cli("extract", str(video_folder), "--cache", str(cache), *AUDIO)
    assert again.returncode == 0
    assert "0 extracted, 4 already up to date" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in (cache / "videos").rglob("*.npy")} == mtimes

    # A changed source file is recomputed, alone.
    pattern_video("videos/tiny.webm", 2.0, fps=25.0, size=(64, 48))
    changed = cli("extract", str(video_folder), "--cache", str(cache), *AUDIO)
    assert "1 extracted, 3 already up to date" in changed.stdout
    assert records_by_id(cache)["tiny"]["num_snippets"] == 4

    # A changed extractor setting recomputes that stream everywhere.
    retuned = cli("extract", str(video_folder), "--cache", str(cache), *AUDIO, "--set", "audio.n_mfcc=20")
    assert "4 extracted" in retuned.stdout
    assert all(r["streams"]["audio"]["shape"][1] == 80 for r in records_by_id(cache).values())


def test_cache_info_marks_damaged_and_changed_entries_invalid(tmp_path, video_folder):
    cache = tmp_path / "cache"
    assert cli("extract", str(video_folder), "--cache", str(cache), *AUDIO).returncode == 0
    np.save(cache / "videos" / "mute" / "audio.npy", np.zeros((2, 160), np.float32))
    (video_folder / "interview one.mp4").write_bytes(b"replaced")
    records = records_by_id(cache)
    assert not records["mute"]["valid"] and "audio.npy" in records["mute"]["problems"][0]
    assert "source file changed since extraction" in records["interview one"]["problems"]
    assert records["tiny"]["valid"]
    table = cli("cache-info", str(cache))
    assert "NO: " in table.stdout and "4 video(s)" in table.stdout


def test_duplicate_ids_stop_before_any_work(tmp_path, video_folder, pattern_video):
    pattern_video("videos/tiny.mp4", 1.0)
    cache = tmp_path / "cache"
    result = cli("extract", str(video_folder), "--cache", str(cache), *AUDIO)
    assert result.returncode == 2
    assert "tiny.mp4" in result.stderr and "tiny.webm" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not cache.exists()


def test_unknown_streams_are_refused_before_any_work(tmp_path, video_folder):
    cache = tmp_path / "cache"
    result = cli("extract", str(video_folder), "--cache", str(cache), "--streams", "audio,smell")
    assert result.returncode == 2 and "unknown stream 'smell'" in result.stderr
    assert not cache.exists()


def test_sigkill_midway_then_rerun_gives_the_uninterrupted_cache(tmp_path, pattern_video):
    folder = tmp_path / "videos"
    for index in range(5):
        pattern_video(f"videos/long {index}.mp4", 30.0, size=(64, 48), tone_hz=200.0 + 100 * index)
    reference = tmp_path / "reference"
    assert cli("extract", str(folder), "--cache", str(reference), *AUDIO).returncode == 0

    killed = tmp_path / "killed"
    for kill_after_entries in (1, 3):
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), "extract", str(folder), "--cache", str(killed), *AUDIO],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if len(list(killed.glob("videos/*/meta.json"))) >= kill_after_entries:
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Whatever the moment, every listed entry is complete and valid.
        if killed.exists():
            assert all(r["valid"] for r in records_by_id(killed).values())

    resumed = cli("extract", str(folder), "--cache", str(killed), *AUDIO)
    assert resumed.returncode == 0, resumed.stderr
    reference_arrays, resumed_arrays = cache_arrays(reference), cache_arrays(killed)
    assert reference_arrays.keys() == resumed_arrays.keys()
    for name, array in reference_arrays.items():
        np.testing.assert_array_equal(array, resumed_arrays[name], err_msg=name)
    assert comparable_meta(reference) == comparable_meta(killed)
    assert not any(is_temp_file(p) for p in killed.rglob("*"))
