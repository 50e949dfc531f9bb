"""`bench face` on tiny generated videos: it measures, and writes only its own sections."""

from pipeline.bench.face import run_face_bench
from pipeline.config import load_config


def test_face_bench_writes_its_section_and_keeps_the_others(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- bench:decode -->\n## Decode\n\nkept\n<!-- /bench:decode -->\n")
    results = run_face_bench(
        load_config(), tmp_path / "work", doc, durations=[1.0], device="cpu",
        detector_rows=[("retinaface", 960), ("mediapipe", 640)], frames_per_trial=2,
    )
    assert [(r["resolution"], r["detector"]) for r in results] == [
        ("720p", "`retinaface` at 960 px"), ("720p", "`opencv` at 640 px"), ("360p", "`retinaface` at 960 px")
    ]
    for result in results:
        assert result["frames"] == 4  # 2 snippets x 2 frames
        assert result["faces"] >= 3  # the astronaut is found
        assert result["total"] > 0 and result["detection"] > 0 and result["embedding"] > 0
    text = doc.read_text()
    assert "kept" in text and "<!-- bench:face-cpu -->" in text
    assert "`python cli.py bench face`" in text and "| 720p | `retinaface` at 960 px | 1 s |" in text
    assert "random weights" in text
    # the detector comparison: a row per detector, a note for one that does not load
    assert "<!-- bench:face-detectors -->" in text
    assert "| `retinaface` at 960 px (default) | 2/2 | 2/2 | 2/2 | 2/2 | 2/2 | " in text
    assert "| `mediapipe` at 640 px | - |" in text and "not installed: face.detector_backend=mediapipe" in text
    assert len(list((tmp_path / "work").glob("*.mp4"))) == 3  # generated once under workdir
