"""The visual stream's runtimes (torch, OpenVINO, onnxruntime): same features within the
stated tolerance on the same weights and real frames, the runtime outside the cache
identity, the export cached under FSENET_CACHE_DIR, and a one-line error for a runtime
that is not installed. Small clips (64 px, layer res5): the plumbing, not the speed."""

import subprocess
import sys

import numpy as np
import pytest

from extractors.base import ExtractorSettingsError
from extractors.decode import DecodeConfig
from extractors.i3d_runtime import ExportSpec, exported_network_dir, resolve_runtime
from extractors.visual import VisualConfig, VisualExtractor
from tests.conftest import ROOT, one_error_line
from tests.extractors.test_visual import SMALL, cosine, grid_for, write_checkpoint

TOLERANCE = 0.999  # least per-snippet cosine to torch fp32 (extractors/i3d_runtime.py)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("weights") / "I3D_8x8_R50.pyth", seed=5)


@pytest.fixture(scope="module")
def clip_video(tmp_path_factory):
    from pipeline.synthetic.videos import write_test_pattern_video

    return write_test_pattern_video(tmp_path_factory.mktemp("videos") / "pattern.mp4", 2.0, size=(160, 96),
                                    tone_hz=None)


def features(checkpoint, video, **settings) -> tuple[VisualExtractor, np.ndarray]:
    built = VisualExtractor(VisualConfig(weights_path=str(checkpoint), **SMALL, **settings), DecodeConfig(), "cpu")
    probe, grid = grid_for(video)
    return built, built.extract(probe, grid, lambda n: None).features


def test_each_runtime_gives_the_torch_features_and_identity(checkpoint, clip_video, one_thread, tmp_path, monkeypatch):
    monkeypatch.setenv("FSENET_CACHE_DIR", str(tmp_path / "fsenet"))  # this test's exports only
    torch_built, reference = features(checkpoint, clip_video, runtime="torch", precision="fp32")
    assert reference.shape[0] == 4 and np.abs(reference).max() > 0
    exported: list = []
    for runtime, precision in [("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"), ("torch", "bf16")]:
        built, rows = features(checkpoint, clip_video, runtime=runtime, precision=precision)
        assert built.runtime == runtime and rows.shape == reference.shape
        assert cosine(reference, rows).min() >= TOLERANCE, (runtime, precision)
        if precision == "fp32":  # the same float math, reordered
            np.testing.assert_allclose(rows, reference, rtol=1e-3, atol=1e-4 * np.abs(reference).max())
        assert built.identity() == torch_built.identity()  # the runtime is a runtime field
        exported = sorted(exported_network_dir().glob("*.onnx"))
        assert len(exported) == 1  # one export for both runtimes and precisions, reused
    other_crop = VisualConfig(weights_path=str(checkpoint), **{**SMALL, "crop_size": 56}, runtime="openvino")
    assert VisualExtractor.planned_identity(other_crop, DecodeConfig(), False) != torch_built.identity()


def test_the_export_is_keyed_by_the_weights_and_what_shapes_the_graph(tmp_path, monkeypatch):
    base = ExportSpec({"random": False, "sha256": "a" * 64, "file": "x.pyth"}, "res5", 8, 64, (0.45,) * 3, (0.225,) * 3)
    assert base.file_name() == ExportSpec(**vars(base)).file_name()
    for change in [{"weights": {"random": False, "sha256": "b" * 64, "file": "x.pyth"}},
                   {"weights": {"random": True, "seed": 0}}, {"crop_size": 56}, {"layer": "res4"},
                   {"mean": (0.4, 0.45, 0.45)}]:
        assert ExportSpec(**{**vars(base), **change}).file_name() != base.file_name(), change
    monkeypatch.setenv("FSENET_CACHE_DIR", str(tmp_path / "fsenet"))
    assert exported_network_dir() == tmp_path / "fsenet" / "exported"  # relocatable, never inside the package


def test_runtime_choices_and_their_one_line_errors(monkeypatch, checkpoint):
    assert resolve_runtime("torch", "cuda") == "torch"
    with pytest.raises(ExtractorSettingsError, match="runs on the CPU"):
        resolve_runtime("openvino", "cuda:0")
    assert resolve_runtime("auto", "cuda") == "torch"
    with pytest.raises(ExtractorSettingsError, match="onnxruntime computes in fp32"):
        VisualExtractor(VisualConfig(runtime="onnxruntime", precision="bf16"), DecodeConfig(), "cpu", True)
    monkeypatch.setitem(sys.modules, "openvino", None)  # Python's own way to make an import fail
    assert resolve_runtime("auto", "cpu") == "torch"  # auto falls back to torch, same features
    with pytest.raises(ExtractorSettingsError) as missing:
        VisualExtractor(VisualConfig(weights_path=str(checkpoint), runtime="openvino", **SMALL), DecodeConfig(), "cpu")
    assert str(missing.value) == ("visual.runtime=openvino needs the openvino package: pip install openvino "
                                  "(or set visual.runtime=torch)")


def test_extract_with_a_missing_runtime_stops_with_one_line(tmp_path, clip_video, checkpoint):
    """The command as a user runs it, in a Python where openvino cannot be imported."""
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(clip_video.read_bytes())
    program = "import sys; sys.modules['openvino'] = None; import cli; sys.exit(cli.main(sys.argv[1:]))"
    args = ["extract", str(tmp_path / "videos"), "--cache", str(tmp_path / "cache"), "--streams", "visual",
            "--set", f"visual.weights_path={checkpoint}", "--no-progress", "--device", "cpu",
            "--set", "visual.runtime=openvino",
            "--set", "visual.short_side=64", "--set", "visual.crop_size=64", "--set", "visual.layer=res5"]
    result = subprocess.run([sys.executable, "-c", program, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert "pip install openvino" in one_error_line(result)


def test_a_damaged_export_in_the_cache_is_exported_again(checkpoint, clip_video, one_thread, tmp_path, monkeypatch):
    monkeypatch.setenv("FSENET_CACHE_DIR", str(tmp_path / "fsenet"))
    _, first = features(checkpoint, clip_video, runtime="openvino", precision="fp32")
    [exported] = exported_network_dir().glob("*.onnx")
    exported.write_bytes(exported.read_bytes()[:1000])  # cut short, as a full disk or a killed copy leaves it
    _, again = features(checkpoint, clip_video, runtime="openvino", precision="fp32")
    np.testing.assert_array_equal(again, first)
    assert exported.stat().st_size > 1000  # written whole again
