"""`bench train` on a tiny synthetic release: each variant and seed trained once and scored
(best.pt and last.pt), resumable from RUN/bench.json, its section written beside the others."""

import json

from pipeline.bench.train import run_train_bench
from pipeline.config import load_config
from pipeline.synthetic.release import SynthConfig, write_synthetic_release

GIVEN = {"model": {"d_model": 16, "num_heads": 2, "streams": ["audio", "face"]},
         "train": {"epochs": 4, "validate_every_epochs": 2, "num_threads": 1, "learning_rate": 0.003},
         "data": {"validation_fraction": 0.25}}


def test_bench_train_scores_each_variant_and_seed_once_and_writes_its_section(tmp_path):
    release = tmp_path / "release"
    write_synthetic_release(release, SynthConfig(num_videos=12, scale=0.05, visual_width=8, face_width=8,
                                                 audio_row_width=2, streams=("audio", "face")))
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- bench:decode -->\n## Decode\n\nkept\n<!-- /bench:decode -->\n")
    args = (load_config(), GIVEN, SynthConfig(), tmp_path / "work", doc, [1], ["default", "paper", "focal_split"],
            "cpu", release)
    run_train_bench(*args, command="fsenet bench train --test")
    runs = {variant: json.loads((tmp_path / "work" / "runs" / f"{variant}_seed1" / "bench.json").read_text())
            for variant in ("default", "paper", "focal_split")}
    for figures in runs.values():
        assert 0.0 <= figures["best"]["map"] <= 1.0 and 0.0 <= figures["final"]["map"] <= 1.0
        assert set(figures["scores"]) >= {"cas", "cas_fg", "global"}
    assert runs["paper"]["stopped_epoch"] == 4  # the preset under what the command was given: 4 epochs, no stopping
    paper_config = (tmp_path / "work" / "runs" / "paper_seed1" / "config.yaml").read_text()
    assert "focal_form: split" in paper_config and "outside: background" in paper_config
    assert "focal_form: quality" in (tmp_path / "work" / "runs" / "default_seed1" / "config.yaml").read_text()
    text = doc.read_text()
    assert "kept" in text and "<!-- bench:train -->" in text and "`fsenet bench train --test`" in text
    assert "| default |" in text and "| paper |" in text and "| focal_split |" in text
    # a rerun finds every run done and trains nothing (the figures come from RUN/bench.json)
    stamps = {v: (tmp_path / "work" / "runs" / f"{v}_seed1" / "last.pt").stat().st_mtime_ns for v in runs}
    run_train_bench(*args, command="fsenet bench train --test")
    assert stamps == {v: (tmp_path / "work" / "runs" / f"{v}_seed1" / "last.pt").stat().st_mtime_ns for v in runs}
