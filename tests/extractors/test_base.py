"""The extractor interface's two halves (the concurrent engine's split): for each stream
with a network, the CPU half's batches embedded one by one give exactly `extract`'s arrays."""

import numpy as np

from extractors.base import extract_in_halves
from extractors.decode import DecodeConfig, probe_video
from extractors.face import FaceConfig, FaceExtractor
from extractors.grid import GridConfig, SnippetGrid
from extractors.visual import VisualConfig, VisualExtractor
from pipeline.synthetic.videos import astronaut_frames, write_video


def both_paths(extractor, settings, path):
    probe = probe_video(path)
    grid = SnippetGrid.for_duration(probe.duration_seconds, GridConfig())
    whole = extractor.extract(probe, grid, lambda count: None)
    maker = type(extractor).input_maker(settings, DecodeConfig(), "cpu")
    return whole, extract_in_halves(extractor, maker, probe, grid)


def test_halves_equal_extract_for_visual_and_face(tmp_path):
    path = tmp_path / "astronaut.mp4"
    write_video(path, astronaut_frames(80, (160, 120), 100), 25, (160, 120))  # 3.2 s: 5 snippets

    visual = VisualConfig(short_side=64, crop_size=64, layer="res5", batch_clips=2)  # 3 batches, the last partial
    whole, halves = both_paths(VisualExtractor(visual, DecodeConfig(), allow_random_weights=True), visual, path)
    np.testing.assert_array_equal(whole.features, halves.features)
    assert whole.features.shape == (5, 2048) and whole.features.any()

    face = FaceConfig(batch_size=3)  # 10 faces: 4 batches, the last partial
    whole, halves = both_paths(FaceExtractor(face, DecodeConfig(), allow_random_weights=True), face, path)
    np.testing.assert_array_equal(whole.mask, halves.mask)
    np.testing.assert_array_equal(whole.features, halves.features)
    np.testing.assert_array_equal(whole.extras["emotion"], halves.extras["emotion"])
    assert whole.mask.sum() > 3
