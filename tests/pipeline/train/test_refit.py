"""train.refit / `train --refit`: after validation picked the best epoch, a new model trained
on train + validation for that many epochs, written as RUN_DIR/refit.pt."""

from __future__ import annotations

import json

import pytest
import torch

from pipeline.config import load_config
from pipeline.evaluate.stage import evaluate_run
from pipeline.infer.checkpoint import load_trained_model
from pipeline.train.stage import run_train
from tests.conftest import cli

SETTINGS = ["model.d_model=16", "model.num_heads=2", "train.batch_size=4", "train.validate_every_epochs=2",
            "train.early_stopping_patience=0", "train.learning_rate=0.002"]


@pytest.fixture(scope="module")
def refitted(release, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("refit") / "run"
    sets = [arg for item in SETTINGS for arg in ("--set", item)]
    result = cli("train", "--features", str(release), "--out", str(run_dir), "--epochs", "4", "--refit",
                 "--device", "cpu", "--no-progress", *sets)
    assert result.returncode == 0, result.stderr
    return run_dir, result


def test_refit_trains_on_train_and_validation_for_the_best_epoch_count(refitted):
    run_dir, result = refitted
    best = torch.load(run_dir / "best.pt", weights_only=True)
    refit = torch.load(run_dir / "refit.pt", weights_only=True)
    splits = json.loads((run_dir / "run.json").read_text())["splits"]
    assert refit["refit"] == {"epochs": best["epoch"], "training_videos": splits["train"] + splits["validation"]}
    assert refit["epoch"] == best["epoch"] and refit["best_metric"] is None
    assert refit["class_names"] == best["class_names"] and refit["stream_dims"] == best["stream_dims"]
    assert any(not torch.equal(refit["model_state"][k], best["model_state"][k]) for k in best["model_state"])
    assert f"refit on train + validation for {best['epoch']} epoch(s)" in result.stdout
    load_trained_model(run_dir / "refit.pt", "cpu")  # loads as any checkpoint does


def test_a_rerun_keeps_a_finished_refit_and_evaluate_scores_it(refitted, release, tmp_path):
    run_dir, _ = refitted
    before = (run_dir / "refit.pt").stat().st_mtime_ns
    lines: list[str] = []
    config = load_config(None, [*SETTINGS, "train.epochs=4", "train.refit=true"])
    summary = run_train(release, None, run_dir, config, "cpu", show_progress=False, log=lines.append)
    assert summary.epochs_run == 0 and summary.refit_path == run_dir / "refit.pt"
    assert (run_dir / "refit.pt").stat().st_mtime_ns == before and not [x for x in lines if x.startswith("refit:")]
    evaluate_run(run_dir, "test", tmp_path / "preds.json", "cpu", checkpoint="refit.pt", log=lines.append)
    assert json.loads((run_dir / "eval_test_refit.json").read_text())["checkpoint"] == "refit.pt"
