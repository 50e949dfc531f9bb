"""Tests for pipeline/data/release.py and release_layout.py: both public feature
releases, written with numpy as their authors' loaders read them (the layouts are
described in tests/pipeline/release_layouts.py; not with pipeline/synthetic, so that a
misreading shared with the generator cannot pass)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.data.config import DataConfig
from pipeline.data.release_layout import RowLayout, snippet_rows
from pipeline.data.samples import DatasetError
from pipeline.data.sources import load_dataset
from tests.pipeline.release_layouts import write_fsenet_release, write_tsl300_release


@pytest.fixture(scope="module")
def fsenet_release(tmp_path_factory) -> Path:
    return write_fsenet_release(tmp_path_factory.mktemp("fsenet") / "VideoSenti")


def test_the_fsenet_release_is_read_as_its_authors_loader_reads_it(fsenet_release):
    dataset = load_dataset(fsenet_release, DataConfig())
    assert dataset.feature_spec.streams == {"visual": 1024, "audio": 768, "face": 1024}
    audio = dataset.feature_spec.extractors["audio"].record
    assert audio["layout"] == "frame" and audio["rows_per_snippet"] == 16 and audio["row_width"] == 768
    assert "rows 0, 16, 32, ... and the last row" in audio["rows_taken"] and "transform" not in audio
    assert dataset.feature_spec.extractors["face"].record["rows_per_snippet"] == 1
    assert dataset.notes == ["released layout read as: rgb one row per frame (16 per snippet), every 16th row plus the "
                             "last; logmfcc one row per frame (16 per snippet), every 16th row plus the last; img one "
                             "row per snippet"]
    # rows kept: 0, 16, ... below the whole blocks and the last (75 frames: 4 blocks of 16 + 11 -> row 74)
    a = dataset.samples["v_train_a"]
    assert a.features["visual"][:, 0].tolist() == [0, 16, 32, 48, 74]
    assert a.features["audio"][:, 0].tolist() == [0, 16, 32, 48, 74]  # used as released: no (x + 50) / 80
    rgb = np.load(fsenet_release / "features/train/rgb/v_train_a.npy")
    np.testing.assert_array_equal(a.features["visual"], rgb[[0, 16, 32, 48, 74]])
    assert a.face_mask.tolist() == [1, 0, 1, 1, 1]
    assert a.snippet_seconds == pytest.approx(16 / 25)
    # 96 frames = 6 whole blocks: no last row appended
    assert dataset.samples["v_train_b"].features["visual"][:, 0].tolist() == [0, 16, 32, 48, 64, 80]
    # 50 frames -> rows 0, 16, 32, 49; faces for 3 snippets: trimmed to the shortest, and said so
    c = dataset.samples["v_train_c"]
    assert c.features["visual"][:, 0].tolist() == [0, 16, 32] and c.num_snippets == 3
    assert any("v_train_c" in p and "trimmed to 3" in p for p in dataset.problems)
    assert dataset.samples["v_test_a"].features["audio"][:, 0].tolist() == [0, 16, 32, 48, 64, 80, 96, 122]
    # points are native frames: snippet = frame // 16
    assert a.points.tolist() == [[37 // 16, 1]] and a.point_seconds.tolist() == [pytest.approx(37 / 25)]
    assert dataset.splits["test"] == ["v_test_a"]


def test_the_fsenet_loaders_point_file_is_read_when_point_gaussian_is_absent(tmp_path):
    release = write_fsenet_release(tmp_path / "VideoSenti")
    (release / "point_gaussian" / "point_labels.csv").rename(release / "point_label.csv")
    dataset = load_dataset(release, DataConfig())
    assert dataset.samples["v_train_b"].points.tolist() == [[48 // 16, 1]]
    assert dataset.annotation_files["points"] == [str(release / "point_label.csv")]


def test_mean_pooling_is_an_option_and_the_spec_says_so(fsenet_release):
    dataset = load_dataset(fsenet_release, DataConfig(release_frame_rows="mean"))
    a = dataset.samples["v_train_a"]
    assert a.features["visual"][:, 0].tolist() == pytest.approx([7.5, 23.5, 39.5, 55.5, 69.0])  # 64..74: 11 frames
    rgb = np.load(fsenet_release / "features/train/rgb/v_train_a.npy")
    np.testing.assert_allclose(a.features["visual"][1], rgb[16:32].mean(axis=0), rtol=1e-5, atol=1e-6)
    assert "mean of each snippet's 16 rows" in dataset.feature_spec.extractors["visual"].record["rows_taken"]
    assert dataset.feature_spec.extractors["visual"] != load_dataset(
        fsenet_release, DataConfig()).feature_spec.extractors["visual"]  # another reduction, another identity


def test_durations_or_the_unread_face_folder_tell_frames_from_snippets(tmp_path, fsenet_release):
    # the face folder is not read (data.streams) but still says how many snippets a video has
    two = load_dataset(fsenet_release, DataConfig(streams=("visual", "audio")))
    assert two.feature_spec.streams == {"visual": 1024, "audio": 768}
    assert two.samples["v_train_a"].features["visual"][:, 0].tolist() == [0, 16, 32, 48, 74]
    # without a per-snippet stream, the duration (x fps = frames) decides
    timed = write_fsenet_release(tmp_path / "timed", durations=True, img=False)
    dataset = load_dataset(timed, DataConfig())
    assert dataset.feature_spec.streams == {"visual": 1024, "audio": 768}
    assert dataset.samples["v_test_a"].num_snippets == 8  # 123 frames -> 8 snippets (frames 0..122)


def test_an_ambiguous_layout_is_refused_in_one_line_naming_the_video_and_rows(tmp_path):
    release = write_fsenet_release(tmp_path / "bare", durations=False, img=False)
    with pytest.raises(DatasetError) as caught:
        load_dataset(release, DataConfig())
    message = str(caught.value)
    assert "\n" not in message
    assert "video v_train_a: rgb 75 rows, logmfcc 75 rows: cannot tell whether a row is a snippet or a frame" in message
    assert "data.release_stream_layouts" in message
    fixed = load_dataset(release, DataConfig(release_stream_layouts=("visual=frame", "audio=frame")))
    assert fixed.samples["v_train_a"].features["visual"][:, 0].tolist() == [0, 16, 32, 48, 74]
    one_fixed = load_dataset(release, DataConfig(release_stream_layouts=("visual=frame",)))  # a reference for audio
    assert one_fixed.feature_spec.extractors["audio"].record["layout"] == "frame"


def test_the_tsl300_release_keeps_its_layout_and_its_recorded_identity(tmp_path):
    release = write_tsl300_release(tmp_path / "tsl")
    dataset = load_dataset(release, DataConfig())
    assert dataset.feature_spec.streams == {"visual": 1024, "audio": 32 * 60}
    logmfcc = np.load(release / "features/train/logmfcc/t2.npy")
    expected = (logmfcc[: 55 * 32].reshape(55, 32, 60).reshape(55, 32 * 60) + 50) / 80
    np.testing.assert_allclose(dataset.samples["t2"].features["audio"], expected, rtol=1e-6)
    # the identity checkpoints trained before the FSENet layout recorded: unchanged keys and values
    assert dataset.feature_spec.extractors["audio"].record == {
        "source": "release", "folder": "logmfcc", "rows_per_snippet": 32, "row_width": 60,
        "description": "log-mel spectrogram rows (released layout), folded per snippet",
        "transform": "(x + 50.0) / 80.0",
    }
    assert dataset.feature_spec.extractors["visual"].record == {
        "source": "release", "folder": "rgb", "rows_per_snippet": 1, "row_width": 1024,
        "description": "I3D RGB clip features (released layout), one row per snippet",
    }
    assert dataset.notes == ["released layout read as: rgb one row per snippet; logmfcc 32 rows per snippet"]


def test_snippet_rows_follow_each_rule_on_exact_row_numbers():
    frames = np.arange(33, dtype=np.float32)[:, None]  # 2 whole blocks of 16 + 1 frame
    sampled, _ = snippet_rows(frames, RowLayout("frame", 16), "sample")
    assert sampled[:, 0].tolist() == [0, 16, 32]
    mean, _ = snippet_rows(frames, RowLayout("frame", 16), "mean")
    assert mean[:, 0].tolist() == [7.5, 23.5, 32.0]
    short, _ = snippet_rows(frames[:5], RowLayout("frame", 16), "sample")
    assert short[:, 0].tolist() == [4]  # fewer rows than a block: the last row alone
    folded, dropped = snippet_rows(np.arange(70, dtype=np.float32).reshape(35, 2), RowLayout("folded", 8))
    assert folded.shape == (4, 16) and dropped == 3 and folded[1, :2].tolist() == [16, 17]


def test_two_layouts_fitting_alike_are_refused_and_bad_settings_named():
    from pipeline.data.release_layout import infer_release_layouts

    with pytest.raises(DatasetError) as caught:  # 3 rows for a 2-snippet video: per snippet or per frame?
        infer_release_layouts({"tiny": {"visual": 3}}, {"tiny": 32.0}, {}, ["visual"], 16, 3, {"visual": "rgb"})
    assert str(caught.value).startswith("video tiny: rgb has 3 rows for 2 snippets, which fits one row per snippet "
                                        "and one row per frame (16 per snippet) alike; set data.release_stream_layouts")
    for bad, key in ((dict(release_stream_layouts=("sound=frame",)), "data.release_stream_layouts"),
                     (dict(release_stream_layouts=("audio=every16",)), "data.release_stream_layouts"),
                     (dict(release_frame_rows="max"), "data.release_frame_rows"),
                     (dict(point_max_seconds=-1.0), "data.point_max_seconds")):
        with pytest.raises(ValueError, match=key):
            DataConfig(**bad)
