import pytest

from extractors.grid import GridConfig, SnippetGrid, count_snippets


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(1.28, 2), (1.2801, 3), (0.3, 1), (0.0, 1), (0.64, 1), (12.0, 19), (3600.0, 5625)],
)
def test_snippet_count_is_ceiling_of_duration_over_snippet_seconds(duration, expected):
    assert count_snippets(duration, 0.64) == expected


def test_default_grid_is_16_frames_at_25_fps():
    grid = SnippetGrid.for_duration(10.0, GridConfig())
    assert grid.snippet_seconds == pytest.approx(0.64)
    assert grid.num_snippets == 16
    assert grid.num_frames == 256
    assert grid.snippet_start_seconds()[3] == pytest.approx(1.92)
    assert grid.snippet_center_seconds()[0] == pytest.approx(0.32)


def test_snippet_at_maps_seconds_to_the_containing_snippet_and_clamps():
    grid = SnippetGrid.for_duration(10.0, GridConfig())
    assert grid.snippet_at(0.0) == 0
    assert grid.snippet_at(0.6399) == 0
    assert grid.snippet_at(0.64) == 1
    assert grid.snippet_at(1.28) == 2
    assert grid.snippet_at(-3.0) == 0
    assert grid.snippet_at(99.0) == grid.num_snippets - 1


def test_grid_config_rejects_nonsense():
    with pytest.raises(ValueError, match="grid.frame_rate"):
        GridConfig(frame_rate=0)
    with pytest.raises(ValueError, match="grid.snippet_frames"):
        GridConfig(snippet_frames=0)
