"""The concurrent local engine (extract.workers > 1) against the one-at-a-time engine:
the same arrays bit for bit, the same outcomes (a broken video fails alone, with the same
reason and the same streams kept), a rerun that does nothing; and decode.hardware=cuda:
where this machine's ffmpeg cannot decode on a GPU, one line, then CPU decoding; the same
arrays either way."""

import re

import numpy as np
import pytest

from extractors.decode import resolve_hardware_decode
from pipeline.config import load_config
from pipeline.extract.stage import run_extract
from pipeline.synthetic.videos import astronaut_frames, write_video
from tests.pipeline.extract.test_stage import cache_arrays, comparable_meta

STREAMS = ["extract.streams=audio,visual,face", "extract.device=cpu", "visual.short_side=64", "visual.crop_size=64",
           "visual.layer=res5", "face.batch_size=4"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("concurrent") / "videos"
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000 * 2) / 16000)).astype(np.float32)
    for name, seconds, seed in (("one", 1.3, 0), ("two", 0.7, 1)):
        frames = astronaut_frames(round(25 * seconds), (160, 120), 90, seed=seed)
        write_video(folder / f"{name}.mp4", frames, 25, (160, 120), audio=tone[: round(16000 * seconds)])
    write_video(folder / "voice only.mkv", [], 25, (160, 120), audio=tone[:16000])  # visual fails: no picture
    (folder / "notes.mp4").write_text("not a video")  # fails before any stream
    return folder


def outcomes(summary):
    """Each video's outcome, ffmpeg's object addresses (in its messages) left out."""
    return [(o.video_id, o.status, re.sub(r"0x[0-9a-f]+", "0x", o.reason), o.streams_written, o.num_snippets)
            for o in summary.outcomes]


def extract(folder, cache, *settings, log=None):
    config = load_config(None, [*STREAMS, *settings])
    kwargs = {"log": log} if log is not None else {}
    return run_extract(folder, cache, config, allow_random_weights=True, show_progress=False, **kwargs)


def test_concurrent_engine_equals_one_at_a_time(tmp_path, folder):
    one = extract(folder, tmp_path / "one", "extract.workers=1")
    lines = []
    many = extract(folder, tmp_path / "many", "extract.workers=2", "decode.hardware=cuda", log=lines.append)
    assert outcomes(many) == outcomes(one)
    fallback = [line for line in lines if "decode.hardware" in line]
    _, note = resolve_hardware_decode(load_config(None, ["decode.hardware=cuda"]).decode)  # '' where NVDEC works
    assert fallback == ([f"note: {note}"] if note else []), lines
    assert not note or note.endswith("decoding on the CPU")
    by_id = {o.video_id: o for o in many.outcomes}
    assert by_id["one"].status == by_id["two"].status == "extracted"
    assert by_id["voice only"].status == "failed" and by_id["voice only"].streams_written == ["audio"]
    assert "no picture could be decoded" in by_id["voice only"].reason
    assert by_id["notes"].status == "failed" and "cannot read" in by_id["notes"].reason

    expected, got = cache_arrays(tmp_path / "one"), cache_arrays(tmp_path / "many")
    # audio (+mask), visual, face (+mask, emotion); audio of "voice only"
    assert sorted(got) == sorted(expected) and len(got) == 2 * 6 + 2
    for name, array in expected.items():
        np.testing.assert_array_equal(got[name], array, err_msg=name)
    assert comparable_meta(tmp_path / "many") == comparable_meta(tmp_path / "one")
    assert got["videos/one/face.mask.npy"].sum() >= 1  # the astronaut was found

    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "many" / "videos").rglob("*.npy")}
    again = extract(folder, tmp_path / "many", "extract.workers=2")
    assert again.counts() == {"extracted": 0, "up to date": 2, "failed": 2}
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "many" / "videos").rglob("*.npy")} == mtimes
