import pytest

from pipeline.config.extract import VIDEO_EXTENSIONS
from pipeline.extract.discovery import DiscoveryError, discover_videos, safe_video_id


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


@pytest.mark.parametrize("name, video_id", [("...mp4", "_.."), ("..mp4", "_."), ("....mp4", "_..."),
                                            (".hidden.mp4", "_.hidden"), ("ok.mp4", "ok")])
def test_a_single_file_whose_stem_would_leave_the_folder_gets_a_safe_id(tmp_path, name, video_id):
    warnings = []
    [video] = discover_videos(touch(tmp_path / name), VIDEO_EXTENSIONS, warn=warnings.append)
    assert video.video_id == video_id and video.path == tmp_path / name
    assert len(warnings) == (video_id != name.removesuffix(".mp4"))
    assert all(f"its video id is '{video_id}'" in line for line in warnings)


def test_safe_ids_leave_ordinary_ids_alone():
    assert safe_video_id("day 1/café") == "day 1/café"
    assert safe_video_id("a/../b") == "a/_../b" and safe_video_id("") == "_"
