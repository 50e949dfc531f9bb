"""Decoding real files written with ffmpeg: grid frame counts whatever the fps,
container, rotation or frame-rate variability, and clear errors for broken files."""

import os

import numpy as np
import pytest

from extractors.decode import DecodeConfig, VideoReadError, iter_audio_samples, iter_video_frames, probe_video
from extractors.grid import GridConfig, SnippetGrid
from pipeline.synthetic.videos import write_video
from tests.conftest import run_ffmpeg

DECODE = DecodeConfig()


def decode_all(path, short_side=None):
    probe = probe_video(path)
    grid = SnippetGrid.for_duration(probe.duration_seconds, GridConfig())
    chunks = list(iter_video_frames(probe, DECODE, grid.frame_rate, grid.num_frames, short_side=short_side))
    return probe, grid, np.concatenate(chunks)


@pytest.mark.parametrize(
    ("name", "fps", "size", "duration"),
    [
        ("a.mp4", 30.0, (160, 120), 3.0),
        ("b.mkv", 24.0, (128, 96), 2.5),
        ("c.webm", 29.97, (96, 64), 2.0),
        ("d.avi", 15.0, (64, 48), 1.9),
        ("e.mov", 50.0, (80, 60), 1.0),
    ],
)
def test_frames_fill_the_grid_exactly_for_any_fps_and_container(pattern_video, name, fps, size, duration):
    path = pattern_video(name, duration, fps=fps, size=size)
    probe, grid, frames = decode_all(path)
    assert probe.duration_seconds == pytest.approx(duration, abs=0.15)  # audio frames may round up
    assert probe.native_fps == pytest.approx(fps, rel=0.01)
    assert grid.num_snippets == int(np.ceil(round(probe.duration_seconds / 0.64, 6)))
    assert frames.shape == (grid.num_snippets * 16, size[1], size[0], 3)
    assert frames.dtype == np.uint8


def test_rotation_metadata_is_applied(pattern_video, tmp_path):
    plain = pattern_video("plain.mp4", 1.0, size=(64, 32))
    rotated = tmp_path / "rotated.mp4"
    run_ffmpeg("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated))
    _, _, frames = decode_all(rotated)
    assert frames.shape[1:] == (64, 32, 3)  # portrait after rotation


def test_short_side_scaling_keeps_aspect(pattern_video):
    path = pattern_video("wide.mp4", 1.0, size=(320, 180))
    _, _, frames = decode_all(path, short_side=90)
    assert frames.shape[1:] == (90, 160, 3)


def colour_frames(colours, size=(32, 32)):
    for colour in colours:
        yield np.full((size[1], size[0], 3), colour, dtype=np.uint8)


def test_variable_frame_rate_lands_each_frame_at_its_time(tmp_path):
    # 1 s of red at 30 fps, then blue frames only every 0.2 s until 3 s: a variable frame rate.
    source = tmp_path / "cfr.mkv"
    write_video(source, colour_frames([(255, 0, 0)] * 30 + [(0, 0, 255)] * 60), 30, (32, 32))
    vfr = tmp_path / "vfr.mkv"
    run_ffmpeg(
        "-i", str(source), "-vf", "setpts='if(lt(N,30),N/30,1+(N-30)*0.2/6)/TB',select='lt(n,30)+not(mod(n-30,6))'",
        "-fps_mode", "vfr", "-c:v", "libx264", str(vfr),
    )
    probe, grid, frames = decode_all(vfr)
    assert probe.duration_seconds == pytest.approx(2.8, abs=0.25)
    assert frames.shape[0] == grid.num_frames
    red = frames[:, 16, 16, 0] > 128
    times = np.arange(len(frames)) / 25.0
    assert red[times < 0.95].all()
    assert not red[(times > 1.05) & (times < probe.duration_seconds - 0.1)].any()


def test_audio_is_mono_at_the_requested_rate_and_padded(pattern_video):
    path = pattern_video("tone.mp4", 2.0, tone_hz=1000.0)
    probe = probe_video(path)
    chunks = list(iter_audio_samples(probe, DECODE, 16000, 16000 * 3, 10000))
    samples = np.concatenate([c for c, _ in chunks])
    real = sum(r for _, r in chunks)
    assert samples.shape == (48000,)
    assert real == pytest.approx(32000, abs=1100)
    spectrum = np.abs(np.fft.rfft(samples[:16000]))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=3)  # 1 Hz per bin
    assert np.all(samples[real:] == 0)


def test_video_without_sound_yields_only_padding(pattern_video):
    path = pattern_video("silent.mp4", 1.0, tone_hz=None)
    probe = probe_video(path)
    assert not probe.has_audio
    chunks = list(iter_audio_samples(probe, DECODE, 16000, 16000, 4000))
    assert sum(r for _, r in chunks) == 0


def test_broken_inputs_give_one_line_reasons(tmp_path, pattern_video):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    link = tmp_path / "link.mp4"
    os.symlink(tmp_path / "missing.mp4", link)
    expectations = {empty: "empty file", text: "ffmpeg cannot read it", link: "file not found"}
    for path, phrase in expectations.items():
        with pytest.raises(VideoReadError) as caught:
            probe_video(path)
        assert phrase in caught.value.reason
        assert "\n" not in str(caught.value)
        assert str(path) in str(caught.value)


def test_truncated_video_is_reported_not_padded(tmp_path):
    whole = tmp_path / "whole.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=8", "-c:v", "libx264", "-preset", "ultrafast",
        "-movflags", "+faststart", str(whole),
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 4 // 10])
    probe = probe_video(cut)
    assert probe.duration_seconds == pytest.approx(8.0, abs=0.1)  # the header still says 8 s
    grid = SnippetGrid.for_duration(probe.duration_seconds, GridConfig())
    with pytest.raises(VideoReadError, match="truncated"):
        for _ in iter_video_frames(probe, DECODE, 25.0, grid.num_frames):
            pass


def test_audio_only_file_has_no_pictures(tmp_path):
    path = tmp_path / "voice.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(path))
    probe = probe_video(path)
    assert probe.has_audio and not probe.has_video
    with pytest.raises(VideoReadError, match="no video stream"):
        next(iter_video_frames(probe, DECODE, 25.0, 10))
