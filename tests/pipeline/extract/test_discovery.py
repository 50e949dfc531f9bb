import pytest

from pipeline.config import VIDEO_EXTENSIONS
from pipeline.extract.discovery import DiscoveryError, discover_videos


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_ids_are_relative_paths_without_extension(tmp_path):
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "day 1" / "café.MKV")
    touch(tmp_path / "day 1" / "notes.txt")
    touch(tmp_path / ".hidden" / "x.mp4")
    touch(tmp_path / "._resource.mp4")
    videos = discover_videos(tmp_path, VIDEO_EXTENSIONS)
    assert [v.video_id for v in videos] == ["a", "day 1/café"]


def test_two_files_with_one_id_stop_the_run_naming_both(tmp_path):
    touch(tmp_path / "talk.mp4")
    touch(tmp_path / "talk.webm")
    with pytest.raises(DiscoveryError) as caught:
        discover_videos(tmp_path, VIDEO_EXTENSIONS)
    assert "talk.mp4" in str(caught.value) and "talk.webm" in str(caught.value)


def test_empty_folder_and_missing_folder_are_explained(tmp_path):
    with pytest.raises(DiscoveryError, match="no videos found"):
        discover_videos(tmp_path, VIDEO_EXTENSIONS)
    with pytest.raises(DiscoveryError, match="no such file or folder"):
        discover_videos(tmp_path / "nope", VIDEO_EXTENSIONS)


def test_a_single_file_and_the_skipped_cache_folder(tmp_path):
    one = touch(tmp_path / "only.mov")
    assert [v.video_id for v in discover_videos(one, VIDEO_EXTENSIONS)] == ["only"]
    touch(tmp_path / "cache" / "videos" / "leftover.mp4")
    ids = [v.video_id for v in discover_videos(tmp_path, VIDEO_EXTENSIONS, skip=[tmp_path / "cache"])]
    assert ids == ["only"]
