"""The MFCC audio stream on real sound decoded from real files."""

import numpy as np
import pytest

from extractors.audio import AudioConfig, AudioExtractor
from extractors.decode import DecodeConfig, probe_video
from extractors.grid import GridConfig, SnippetGrid
from pipeline.synthetic.videos import write_video
from tests.conftest import run_ffmpeg


def extract(path, **settings):
    probe = probe_video(path)
    grid = SnippetGrid.for_duration(probe.duration_seconds, GridConfig())
    done = []
    result = AudioExtractor(AudioConfig(**settings), DecodeConfig()).extract(probe, grid, done.append)
    assert sum(done) == grid.num_snippets  # progress reported for every snippet
    return grid, result


def test_one_row_of_4_x_n_mfcc_per_snippet(pattern_video):
    grid, result = extract(pattern_video("tone.mp4", 3.0), n_mfcc=20)
    assert result.features.shape == (grid.num_snippets, 80)
    assert result.features.dtype == np.float32
    assert np.isfinite(result.features).all()
    assert result.mask.shape == (grid.num_snippets,)
    assert result.mask[:-1].min() == 1.0


def test_video_without_sound_gives_zeros_and_mask_zero(pattern_video):
    grid, result = extract(pattern_video("silent.mp4", 2.0, tone_hz=None))
    assert result.features.shape == (grid.num_snippets, 160)
    assert not result.features.any()
    assert not result.mask.any()


def test_sound_that_ends_early_is_masked_where_it_is_missing(tmp_path):
    path = tmp_path / "early end.mp4"
    frames = (np.full((32, 32, 3), 80, np.uint8) for _ in range(25 * 4))
    t = np.arange(16000 * 2) / 16000
    write_video(path, frames, 25, (32, 32), audio=0.5 * np.sin(2 * np.pi * 300 * t), sample_rate=16000)
    grid, result = extract(path)
    assert grid.num_snippets == 7  # 4 s of pictures
    assert result.mask[:3].min() == 1.0  # 0 - 1.92 s have sound
    assert 0.0 < result.mask[3] < 1.0 or result.mask[3] == 1.0  # 1.92 - 2.56 s: partly
    assert not result.mask[4:].any()  # nothing after 2.56 s
    assert not result.features[4:].any()
    assert result.features[:3].any()


def test_numbers_do_not_depend_on_chunking(pattern_video):
    path = pattern_video("tone.mkv", 5.0, tone_hz=523.0)
    _, whole = extract(path, chunk_snippets=64)
    _, one_by_one = extract(path, chunk_snippets=1)
    np.testing.assert_allclose(whole.features, one_by_one.features, rtol=1e-5, atol=1e-4)


def test_numbers_do_not_depend_on_the_blas_thread_count(pattern_video):
    """OpenBLAS sums in another order with more threads; the Ray engine's workers run with
    one, the local engine with every core: the features must be the same bit for bit."""
    from threadpoolctl import threadpool_limits

    path = pattern_video("speech-like.mkv", 4.0, tone_hz=311.0)
    with threadpool_limits(limits=1, user_api="blas"):
        _, one_thread = extract(path)
    with threadpool_limits(limits=4, user_api="blas"):
        _, four_threads = extract(path)
    np.testing.assert_array_equal(one_thread.features, four_threads.features)


def test_different_sounds_give_different_features(tmp_path):
    def tone_video(name, hz):
        t = np.arange(16000 * 2) / 16000
        frames = (np.zeros((32, 32, 3), np.uint8) for _ in range(50))
        return write_video(tmp_path / name, frames, 25, (32, 32), audio=0.5 * np.sin(2 * np.pi * hz * t))

    _, low = extract(tone_video("low.mp4", 220))
    _, low_again = extract(tone_video("low2.mp4", 220))
    _, high = extract(tone_video("high.mp4", 2000))
    same = np.linalg.norm(low.features[1] - low_again.features[1])
    different = np.linalg.norm(low.features[1] - high.features[1])
    assert different > 10 * max(same, 1e-3)


def test_late_starting_sound_is_aligned_to_time_zero(tmp_path):
    silent_start = tmp_path / "late.mp4"
    frames = (np.full((32, 32, 3), 50, np.uint8) for _ in range(25 * 3))
    write_video(tmp_path / "v.mp4", frames, 25, (32, 32))
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=400:duration=1", str(tmp_path / "a.wav"))
    run_ffmpeg(
        "-i", str(tmp_path / "v.mp4"), "-itsoffset", "1.5", "-i", str(tmp_path / "a.wav"),
        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(silent_start),
    )
    grid, result = extract(silent_start)
    energy = result.features[:, 0]  # mean of c0 follows loudness
    # The tone plays 1.5 - 2.5 s: snippets 2 and 3 (1.28 - 2.56 s) hold it, 0 and 1 are silent.
    assert min(energy[2], energy[3]) > max(energy[0], energy[1]) + 50
    assert result.mask[4] == 0.0  # 2.56 - 3.2 s: the sound has ended


def test_config_validation_names_the_key():
    with pytest.raises(ValueError, match="audio.fmax"):
        AudioConfig(sample_rate=8000, fmax=7600.0)
    with pytest.raises(ValueError, match="audio.delta_width"):
        AudioConfig(delta_width=4)
