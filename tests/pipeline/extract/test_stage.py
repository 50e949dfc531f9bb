"""`extract` and `cache-info` end to end, as a user runs them: real and broken videos,
reruns that recompute nothing, stale entries, SIGKILL mid-way then resume; hostile names,
two runs on one cache, damaged entries, folders that cannot be used."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cache.atomic import is_temp_file
from cache.store import CacheError, FeatureCache
from cli import main as cli_main
from pipeline import api
from pipeline.config import load_config
from pipeline.extract.discovery import VideoFile
from pipeline.extract.stage import run_extract
from pipeline.synthetic.videos import write_test_pattern_video, write_video
from tests.conftest import ROOT, cli, make_read_only, one_error_line, run_ffmpeg

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


def test_cache_info_shows_the_streams_an_entry_holds_and_those_it_lacks(tmp_path, pattern_video, capsys):
    pattern_video("videos/talk.mp4", 1.0, size=(64, 48))
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    write_video(tmp_path / "videos" / "voice only.mkv", [], 25, (64, 48), audio=tone)  # no picture: visual fails
    cache = tmp_path / "cache"
    small = ["extract.streams=audio,visual", "visual.short_side=64", "visual.crop_size=64", "visual.layer=res5"]
    run = run_extract(tmp_path / "videos", cache, load_config(None, small), allow_random_weights=True,
                      show_progress=False, log=lambda message: None)
    assert run.counts() == {"extracted": 1, "up to date": 0, "failed": 1}  # its audio kept
    records = {record["id"]: record for record in api.cache_info(cache)}
    assert records["voice only"]["valid"] and list(records["voice only"]["streams"]) == ["audio"]
    assert records["voice only"]["missing_streams"] == ["visual"] and records["talk"]["missing_streams"] == []
    assert cli_main(["cache-info", str(cache)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "the last extract asked for: audio, visual"
    assert table[2].startswith("talk ") and table[2].split()[-2:] == ["-", "yes"]
    assert table[3].startswith("voice only ") and table[3].split()[-2:] == ["visual", "yes"]
    assert table[-1] == "2 video(s); 1 without every stream the last extract asked for (rerun it to add them)"


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


# -- hostile names, concurrent runs, damaged entries, folders that cannot be used ----------
def files_outside(root, inside):
    """Every file under `root` except those under `inside`, with its size."""
    return {p: p.stat().st_size for p in root.rglob("*") if p.is_file() and inside not in p.parents}


@pytest.fixture(scope="module")
def short_videos(tmp_path_factory):
    """Four 1-second videos (distinct tones) to copy into a test's folder."""
    folder = tmp_path_factory.mktemp("short")
    for index in range(4):
        write_test_pattern_video(folder / f"v{index}.mp4", 1.0, size=(64, 48), tone_hz=300.0 + 100 * index)
    return folder


def copy_videos(source, folder, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(sorted(source.glob("*.mp4"))):
        shutil.copy(path, folder / (names[index] if names else path.name))
    return folder


def test_dot_names_get_safe_stable_ids_and_nothing_is_written_outside_the_cache(tmp_path, short_videos):
    names = ["...mp4", "..mp4", "....mp4", "v3.mp4"]
    videos = copy_videos(short_videos, tmp_path / "in" / "deep", names)
    cache = tmp_path / "in" / "deep" / "cache"
    before = files_outside(tmp_path, cache)
    for name, video_id in (("...mp4", "_.."), ("..mp4", "_.")):  # more names: tests/pipeline/extract/test_discovery.py
        result = cli("extract", str(videos / name), "--cache", str(cache), *AUDIO)
        assert result.returncode == 0, result.stderr
        assert f"its video id is '{video_id}'" in result.stderr
    again = cli("extract", str(videos / "...mp4"), "--cache", str(cache), *AUDIO)
    assert "0 extracted, 1 already up to date" in again.stdout  # the same id on every run
    assert files_outside(tmp_path, cache) == before
    assert sorted(p.name for p in (cache / "videos").iterdir()) == ["_.", "_.."]
    assert {r["id"] for r in records_by_id(cache).values() if r["valid"]} == {"_.", "_.."}


def test_relative_paths_with_a_colon_are_files_not_protocols(tmp_path, short_videos):
    folder = copy_videos(short_videos, tmp_path / "dir", ["a:b.mp4", "http:x.mp4", "file:y.mp4", "v3.mp4"])
    one = cli("extract", "./a:b.mp4", "--cache", str(tmp_path / "one"), *AUDIO, cwd=folder)
    assert one.returncode == 0, one.stdout + one.stderr
    every = cli("extract", ".", "--cache", str(tmp_path / "every"), *AUDIO, cwd=folder)
    assert every.returncode == 0, every.stdout + every.stderr
    assert "4 extracted" in every.stdout
    assert sorted(records_by_id(tmp_path / "every")) == ["a:b", "file:y", "http:x", "v3"]


def test_two_extracts_on_one_cache_both_succeed_and_both_are_reported(tmp_path, short_videos):
    folder = copy_videos(short_videos, tmp_path / "videos")
    cache = tmp_path / "cache"
    command = [sys.executable, str(ROOT / "cli.py"), "extract", str(folder), "--cache", str(cache), *AUDIO]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [run.communicate(timeout=300) + (run.returncode,) for run in runs]
    for stdout, stderr, status in results:
        assert status == 0 and "0 failed" in stdout and "Traceback" not in stderr, stdout + stderr
    records = records_by_id(cache)
    assert sorted(records) == ["v0", "v1", "v2", "v3"] and all(r["valid"] for r in records.values())
    merged = json.loads((cache / "extract_report.json").read_text())
    assert len(merged["runs"]) == 2 and {r["pid"] for r in merged["runs"]} == {run.pid for run in runs}
    assert [v["video_id"] for v in merged["videos"]] == ["v0", "v1", "v2", "v3"]
    assert merged["counts"]["failed"] == 0
    per_run = sorted((cache / "reports").glob("extract-*.json"))
    assert len(per_run) == 2
    extracted = [sum(v["status"] == "extracted" for v in json.loads(p.read_text())["videos"]) for p in per_run]
    assert sum(extracted) == 4  # each video extracted once, by one of them
    assert not any(is_temp_file(p) for p in cache.rglob("*"))


def test_a_video_another_run_holds_is_done_last_and_waited_for(tmp_path, short_videos):
    folder = copy_videos(short_videos, tmp_path / "videos")
    cache = FeatureCache(tmp_path / "cache")
    cache.create()
    stray = cache.entry_dir("v0") / f".audio.npy.tmp-{os.getpid()}-0badc0de"
    with cache.entry_lock("v0"):  # as another extract working on v0
        stray.write_bytes(b"half")
        process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "extract", str(folder), "--cache",
                                    str(cache.root), *AUDIO], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 240
        while len(cache.video_ids()) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        assert cache.video_ids() == ["v1", "v2", "v3"] and process.poll() is None  # the others done; v0 waited for
        assert stray.exists()  # the holder's temp file is left alone
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 0 and "4 extracted" in stdout, stdout + stderr
    assert not stray.exists() and records_by_id(cache.root)["v0"]["valid"]


def test_nan_in_a_cached_array_is_reported_invalid_and_recomputed(tmp_path, short_videos):
    folder = copy_videos(short_videos, tmp_path / "videos")
    cache = tmp_path / "cache"
    assert cli("extract", str(folder), "--cache", str(cache), *AUDIO).returncode == 0
    reference = cache_arrays(cache)
    for video_id, name, value in (("v1", "audio.npy", np.nan), ("v2", "audio.mask.npy", np.inf)):
        array = np.load(cache / "videos" / video_id / name)
        array.flat[array.size // 2] = value
        np.save(cache / "videos" / video_id / name, array)
    records = records_by_id(cache)
    assert records["v1"]["problems"] == ["audio: audio.npy holds NaN or infinite values"]
    assert records["v2"]["problems"] == ["audio: audio.mask.npy holds NaN or infinite values"]
    assert records["v0"]["valid"] and records["v3"]["valid"]
    repaired = cli("extract", str(folder), "--cache", str(cache), *AUDIO)
    assert repaired.returncode == 0 and "2 extracted, 2 already up to date" in repaired.stdout, repaired.stdout
    assert all(r["valid"] for r in records_by_id(cache).values())
    for name, array in reference.items():
        np.testing.assert_array_equal(np.load(cache / name), array, err_msg=name)


def test_damaged_meta_files_are_reported_and_repaired_without_a_traceback(tmp_path, short_videos):
    folder = copy_videos(short_videos, tmp_path / "videos")
    cache = tmp_path / "cache"
    assert cli("extract", str(folder), "--cache", str(cache), *AUDIO).returncode == 0
    reference = cache_arrays(cache)
    entries = cache / "videos"
    (entries / "v0" / "meta.json").write_text("[1, 2, 3]")
    (entries / "v1" / "meta.json").write_text('{"format_version": 1, "video_id": "v1"}')
    (entries / "v2" / "meta.json").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (entries / "v3" / "meta.json").unlink()
    (cache / "cache.json").write_text("{ not json")
    table = cli("cache-info", str(cache))
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    problems = {video_id: r["problems"] for video_id, r in records_by_id(cache).items()}
    assert problems == {"v0": ["meta.json holds an array, not an object"],
                        "v1": ["meta.json lacks the 'source' object"],
                        "v2": ["meta.json is not valid JSON"], "v3": ["meta.json missing"]}
    repaired = cli("extract", str(folder), "--cache", str(cache), *AUDIO)
    assert repaired.returncode == 0 and "4 extracted" in repaired.stdout, repaired.stdout + repaired.stderr
    assert "cache.json was damaged" in repaired.stderr and "Traceback" not in repaired.stderr
    assert all(r["valid"] for r in records_by_id(cache).values())
    assert cache_arrays(cache).keys() == reference.keys()


def test_cache_folders_that_cannot_be_used_are_one_line_errors(tmp_path, short_videos):
    from pipeline.config import load_config
    from pipeline.extract.stage import run_extract

    def refused(cache, words):  # in this process: no interpreter to start, the test stays short
        with pytest.raises(CacheError, match="--cache") as caught:
            run_extract(folder, cache, load_config(None, ["extract.streams=audio"]), show_progress=False)
        assert str(caught.value).startswith(f"{cache}: ") and words in str(caught.value)

    folder = copy_videos(short_videos, tmp_path / "videos")
    (tmp_path / "a file").write_text("keep me")
    refused(tmp_path / "a file", "exists and is not a folder")
    refused(tmp_path / "a file" / "cache", "is a file, not a folder")
    line = one_error_line(cli("extract", str(folder), "--cache", str(tmp_path / "a file"), *AUDIO))
    assert str(tmp_path / "a file") in line
    assert (tmp_path / "a file").read_text() == "keep me"

    empty, cache = tmp_path / "empty", tmp_path / "cache"
    empty.mkdir()
    assert cli("extract", str(folder), "--cache", str(cache), *AUDIO).returncode == 0
    restore = [make_read_only(empty), make_read_only(cache)]
    try:
        refused(empty, "cannot be written")
        refused(empty / "new", "cannot be written")
        current = cli("extract", str(folder), "--cache", str(cache), *AUDIO)  # up to date: nothing to write
        assert current.returncode == 0 and "0 extracted, 4 already up to date" in current.stdout, current.stderr
        assert "report: not written" in current.stdout and "Traceback" not in current.stderr
        stale = cli("extract", str(folder), "--cache", str(cache), *AUDIO, "--set", "audio.n_mfcc=20")
        assert stale.returncode == 2 and "Traceback" not in stale.stderr  # the warning above, then the error
        assert stale.stderr.strip().splitlines()[-1].startswith(f"error: {cache}: cannot write to the feature cache")
    finally:
        for undo in restore:
            undo()


def test_an_audio_only_file_lists_the_streams_it_got(tmp_path):
    from pipeline.config import load_config
    from pipeline.extract.planned import make_extractors
    from pipeline.extract.video import extract_video

    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=500:duration=1.5", "-c:a", "aac", str(tmp_path / "voice.mp4"))
    config = load_config(None, ["extract.streams=audio,visual"])
    extractors = make_extractors(config, "cpu", allow_random_weights=True, log=lambda message: None)
    cache = FeatureCache(tmp_path / "cache")
    cache.create()
    outcome = extract_video(VideoFile("voice", tmp_path / "voice.mp4"), cache, extractors, config, False, False)
    assert outcome.status == "failed" and "no video stream" in outcome.reason
    assert outcome.streams_written == ["audio"] and outcome.num_snippets == 3
    assert cache.check_entry("voice").valid and list(cache.read_meta("voice")["streams"]) == ["audio"]


def test_a_name_that_is_not_utf8_is_extracted_kept_exactly_and_printed_escaped(tmp_path, short_videos):
    latin1 = os.fsdecode(b"\xc0 la m\xeame heure")  # Latin-1 bytes: Linux names are bytes, not text
    folder = copy_videos(short_videos, tmp_path / "videos", ["v0.mp4", f"{latin1}.mp4", "v2.mp4", "v3.mp4"])
    cache = tmp_path / "cache"
    result = cli("extract", str(folder), "--cache", str(cache), *AUDIO)
    assert result.returncode == 0 and "4 extracted" in result.stdout, result.stdout + result.stderr
    assert "\\xc0 la m\\xeame heure" not in result.stdout  # no failure line names it
    again = cli("extract", str(folder), "--cache", str(cache), *AUDIO)
    assert "0 extracted, 4 already up to date" in again.stdout, again.stdout + again.stderr
    report = json.loads((cache / "extract_report.json").read_text(encoding="utf-8"))  # valid UTF-8 JSON
    assert [v["video_id"] for v in report["videos"]] == sorted(["v0", latin1, "v2", "v3"])  # the exact name back
    meta = json.loads((cache / "videos" / latin1 / "meta.json").read_bytes())
    assert os.fsencode(meta["source"]["path"]) == os.fsencode(folder) + b"/\xc0 la m\xeame heure.mp4"
    table = cli("cache-info", str(cache))
    assert table.returncode == 0 and "\\xc0 la m\\xeame heure  " in table.stdout, table.stdout + table.stderr
    assert all(record["valid"] for record in records_by_id(cache).values())


def test_a_full_disk_costs_the_report_a_warning_line_not_the_run(tmp_path, short_videos):
    import resource

    folder = copy_videos(short_videos, tmp_path / "videos")
    reference = tmp_path / "reference"
    assert cli("extract", str(folder), "--cache", str(reference), *AUDIO).returncode == 0
    entry_bytes = max(p.stat().st_size for p in (reference / "videos").rglob("*") if p.is_file())
    assert (reference / "extract_report.json").stat().st_size > entry_bytes + 1
    limit = entry_bytes + 1  # every file of an entry fits; config.yaml and the report do not, as on a full disk

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cache = tmp_path / "cache"
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "extract", str(folder), "--cache", str(cache),
                             *AUDIO], capture_output=True, text=True, cwd=ROOT, preexec_fn=small_files, timeout=300)
    assert result.returncode == 0 and "4 extracted, 0 already up to date, 0 failed" in result.stdout, result.stderr
    assert "Traceback" not in result.stderr and "report: not written" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("config.yaml" in line and "File too large" in line for line in warnings), warnings
    report = f"warning: the extract report was not written (File too large: {cache / 'reports'}/extract-"
    assert any(line.startswith(report) for line in warnings), warnings  # the file, not the cache folder
    assert all(record["valid"] for record in records_by_id(cache).values())


def test_fifos_in_the_cache_are_reported_and_replaced_never_waited_on(tmp_path, short_videos):
    import stat

    folder = copy_videos(short_videos, tmp_path / "videos")
    cache = tmp_path / "cache"
    assert cli("extract", str(folder), "--cache", str(cache), *AUDIO).returncode == 0
    fifos = [cache / "videos" / "v1" / "audio.mask.npy", cache / "videos" / "v2" / "meta.json",
             cache / "extract_report.json", cache / "cache.json"]  # the marker too: 'not a feature cache' before
    for path in fifos:
        path.unlink()
        os.mkfifo(path)  # no writer will ever come: a reader that opens it waits forever
    problems = {video_id: r["problems"] for video_id, r in records_by_id(cache).items()}  # cli(): 300 s at most
    assert problems == {"v0": [], "v1": ["audio: audio.mask.npy unreadable (not a regular file)"],
                        "v2": ["meta.json unreadable (not a regular file)"], "v3": []}
    (tmp_path / "points.csv").write_text("video_id,time_s,label\n" + "".join(f"v{i},0.3,positive\n" for i in range(4)))
    line = one_error_line(cli("train", "--features", str(cache), "--annotations", str(tmp_path / "points.csv"), "--out",
                              str(tmp_path / "run"), "--device", "cpu", timeout=120))
    assert "damaged cache entry" in line and "not a regular file" in line and "rerun `extract`" in line
    repaired = cli("extract", str(folder), "--cache", str(cache), *AUDIO, timeout=120)
    assert repaired.returncode == 0 and "2 extracted, 2 already up to date" in repaired.stdout, repaired.stderr
    assert f"warning: {cache / 'cache.json'} was damaged (not a JSON object); rewritten" in repaired.stderr
    assert all(stat.S_ISREG(path.stat().st_mode) for path in fifos)
    assert all(record["valid"] for record in records_by_id(cache).values())


def test_a_shared_cache_keeps_each_entry_to_the_file_it_was_extracted_from(tmp_path, short_videos):
    first = copy_videos(short_videos, tmp_path / "season 1")
    cache = tmp_path / "cache"
    assert cli("extract", str(first), "--cache", str(cache), *AUDIO).returncode == 0
    def contents():
        return {name: array.tobytes() for name, array in cache_arrays(cache).items()}, comparable_meta(cache)

    before = contents()
    second = tmp_path / "season 2"
    second.mkdir()
    shutil.copy(short_videos / "v0.mp4", second / "v1.mp4")  # another file (v0's content) with v1's id
    result = cli("extract", str(second), "--cache", str(cache), *AUDIO)
    assert result.returncode == 1 and "0 extracted, 0 already up to date, 1 failed" in result.stdout, result.stdout
    assert "the cache entry 'v1' holds the features of another file, 'v1.mp4' elsewhere" in result.stdout
    assert contents() == before  # v1 keeps season 1's features
    records = records_by_id(cache)
    assert all(r["valid"] for r in records.values()) and records["v1"]["source"] == str(first / "v1.mp4")
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)  # the same files elsewhere: the same content, reused
    again = cli("extract", str(moved), "--cache", str(cache), *AUDIO)
    assert again.returncode == 0 and "0 extracted, 4 already up to date" in again.stdout, again.stdout
