"""pipeline/extract/planned.py: identities known before any network is built, a network
built on the first video that needs it (and the device said then, once), nothing built
when every video is up to date, and a network that cannot be built stopping the run."""

from __future__ import annotations

from extractors.visual import VisualExtractor
from pipeline.config import load_config
from pipeline.devices import device_line
from pipeline.extract.planned import make_extractors
from pipeline.extract.stage import run_extract
from tests.conftest import cli

SMALL_VISUAL = ["extract.streams=audio,visual", "visual.short_side=64", "visual.crop_size=64", "visual.layer=res5"]


def test_a_network_is_built_for_the_first_video_that_needs_it_and_never_on_a_rerun(tmp_path, pattern_video):
    pattern_video("videos/clip one.mp4", 1.3, size=(96, 64))
    config = load_config(None, SMALL_VISUAL)
    # runtime and precision as the visual stream resolves them here (the machine decides)
    said_device = device_line("cpu", VisualExtractor.compute_precision(config.visual, "cpu"))
    messages: list[str] = []
    planned = make_extractors(config, "cpu", allow_random_weights=True, log=messages.append)
    assert planned["visual"].built is None and planned["audio"].built is None
    assert planned["visual"].identity()["weights"] == {"random": True, "seed": 0}  # known without the network
    first = run_extract(tmp_path / "videos", tmp_path / "cache", config, allow_random_weights=True,
                        show_progress=False, extractors=planned, log=messages.append)
    assert first.counts()["extracted"] == 1
    assert planned["visual"].built is not None
    assert planned["visual"].built.identity() == planned["visual"].identity()
    assert messages.count(said_device) == 1

    again = make_extractors(config, "cpu", allow_random_weights=True, log=messages.append)
    second = run_extract(tmp_path / "videos", tmp_path / "cache", config, allow_random_weights=True,
                         show_progress=False, extractors=again, log=messages.append)
    assert second.counts() == {"extracted": 0, "up to date": 1, "failed": 0}
    assert again["visual"].built is None
    assert messages.count(said_device) == 1  # no network ran, so no device was chosen

    audio_only = load_config(None, ["extract.streams=audio"])
    said: list[str] = []
    extracted = run_extract(tmp_path / "videos", tmp_path / "audio cache", audio_only, show_progress=False,
                            log=said.append)
    assert extracted.counts()["extracted"] == 1 and not any(m.startswith("device:") for m in said)  # no network at all


def test_a_network_that_cannot_be_built_stops_the_run_in_one_line(tmp_path, pattern_video):
    pattern_video("videos/a.mp4", 1.0, size=(96, 64))
    pattern_video("videos/b.mp4", 1.0, size=(96, 64))
    result = cli("extract", str(tmp_path / "videos"), "--cache", str(tmp_path / "cache"), "--streams", "visual",
                 "--random-weights", "--device", "cpu", "--set", "visual.precision=fp16", "--no-progress")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: visual.precision=fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    assert "failed" not in result.stdout  # not one failure per video: the run stopped
