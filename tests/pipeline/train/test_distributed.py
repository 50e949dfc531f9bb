"""`torchrun ... cli.py train`: two gloo processes train exactly like one.

The end-to-end test runs the real command under `python -m torch.distributed.run` on a
tiny synthetic release whose training split (9 videos, global batch 4) ends every epoch
with a batch of one video: shards of 2 and 2, then of 1 and 0 (a stand-in shard).
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from model import FSENet, combine_loss_parts
from pipeline.config import load_config, with_overrides
from pipeline.data.batching import collate
from pipeline.data.sources import load_dataset
from pipeline.train.distributed import (
    DistributedContext,
    DistributedError,
    rank_device,
    shard_positions,
    torchrun_environment,
)
from pipeline.train.shard_loss import _loss, _loss_parts, own_shard
from tests.conftest import ROOT, cli

EXACT = [
    "--set", "model.d_model=32", "--set", "model.num_heads=2", "--set", "model.dropout=0",
    "--set", "train.amp_dtype=none", "--set", "train.learning_rate=0.002", "--set", "train.batch_size=4",
    "--set", "train.validate_every_epochs=1", "--set", "data.validation_fraction=0.25",
    "--no-progress", "--device", "cpu",
]


def torchrun(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m torch.distributed.run --nproc_per_node 2 --standalone cli.py ARGS`."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
               str(ROOT / "cli.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=dict(os.environ))


def test_shards_partition_every_global_batch():
    for world_size in (1, 2, 3, 4):
        for batch_size in range(1, 10):
            shards = [shard_positions(batch_size, rank, world_size) for rank in range(world_size)]
            assert sorted(sum(shards, [])) == list(range(batch_size))
            assert max(map(len, shards)) - min(map(len, shards)) <= 1
    second_of_two = DistributedContext(rank=1, world_size=2, backend="gloo")
    assert own_shard(["a", "b", "c"], second_of_two) == (["b"], 1.0)
    assert own_shard(["a"], second_of_two) == (["a"], 0.0)  # a stand-in that counts for nothing


def test_torchrun_environment_and_devices():
    assert torchrun_environment({}) is None
    place = torchrun_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert place == {"rank": 1, "world_size": 2, "local_rank": 1, "local_world_size": 2}
    with pytest.raises(DistributedError, match="LOCAL_RANK"):
        torchrun_environment({"RANK": "0", "WORLD_SIZE": "2"})
    assert rank_device("cpu", 1) == "cpu"
    with pytest.raises(DistributedError, match="auto, cpu or cuda"):
        rank_device("cuda:1", 0)


@pytest.mark.parametrize("supervision", ["point", "full", "video"])
def test_shard_losses_add_up_to_the_global_batch_loss_and_gradient(release, supervision):
    config = load_config(None,
                         ["model.d_model=16", "model.num_heads=2", "model.dropout=0",
                          f"model.supervision={supervision}"])
    dataset = load_dataset(release, config.data)
    config = with_overrides(config, {"model": {"num_classes": len(dataset.class_names)}})
    streams = config.model.streams
    dims = {name: dataset.feature_spec.streams[name] for name in streams}
    torch.manual_seed(0)
    model = FSENet(config.model, dims)
    samples = [dataset.samples[v] for v in dataset.splits["train"][:5]]

    whole = _loss(model, collate(samples, streams, 2), config, None, "cpu")
    whole["total"].backward()
    expected = {name: parameter.grad.clone() for name, parameter in model.named_parameters()
                if parameter.grad is not None}
    model.zero_grad(set_to_none=True)

    shards = [samples[rank::3] for rank in range(3)]  # 2, 2 and 1 videos, different paddings
    parts = [_loss_parts(model, collate(shard, streams, 2), config, None, "cpu") for shard in shards]
    counts = {name: sum(part[name].count for part in parts) for name in parts[0]}
    terms = [combine_loss_parts(part, config.model, counts) for part in parts]
    sum(term["total"] for term in terms).backward()
    for name in whole:
        torch.testing.assert_close(sum(term[name] for term in terms), whole[name], rtol=1e-5, atol=1e-7)
    got = {name: parameter.grad for name, parameter in model.named_parameters() if parameter.grad is not None}
    assert set(got) == set(expected)
    for name, gradient in expected.items():
        torch.testing.assert_close(got[name], gradient, rtol=1e-4, atol=1e-7, msg=name)


def _losses(run_dir):
    history = json.loads((run_dir / "history.json").read_text())
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def test_two_processes_train_like_one_and_resume(release, tmp_path):
    command = ["train", "--features", str(release), *EXACT]
    one, two = tmp_path / "one", tmp_path / "two"
    single = cli(*command, "--epochs", "2", "--out", str(one))
    assert single.returncode == 0, single.stderr
    first = torchrun(*command, "--epochs", "1", "--out", str(two))
    assert first.returncode == 0, first.stderr
    resumed = torchrun(*command, "--epochs", "2", "--out", str(two))  # both processes load last.pt
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert resumed.stdout.count("trained 1 epoch(s)") == 1  # rank 0 alone prints
    assert resumed.stderr.count("audio of 18 video(s)") == 1  # and warns

    ours, theirs = _losses(one), _losses(two)
    assert len(theirs) == 2
    for mine, other in zip(ours, theirs, strict=True):
        assert other == pytest.approx(mine, rel=1e-5, abs=1e-7)
    a = torch.load(one / "last.pt", weights_only=True)
    b = torch.load(two / "last.pt", weights_only=True)
    width = a["config"]["model"]["d_model"]
    assert list(b["model_state"]) == list(a["model_state"])  # no "module." prefix
    for name, expected in a["model_state"].items():
        got = b["model_state"][name]
        if name.endswith("in_proj_bias"):
            # the key bias: its gradient is 0 in exact arithmetic (softmax ignores a shift), so Adam turns
            # rounding noise into full steps in any two runs that add in another order; compare q and v only
            keep = torch.ones_like(expected, dtype=torch.bool)
            keep[width : 2 * width] = False
            expected, got = expected[keep], got[keep]
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6, msg=name)
    for index, state in a["optimizer_state"]["state"].items():  # Adam's moving average of the gradients
        torch.testing.assert_close(b["optimizer_state"]["state"][index]["exp_avg"], state["exp_avg"],
                                   rtol=1e-3, atol=1e-7)

    assert sorted(path.name for path in two.iterdir()) == sorted(path.name for path in one.iterdir())
    assert len(list((two / "tensorboard").iterdir())) == 2  # one event file per launch: rank 0's
    assert json.loads((two / "run.json").read_text())["processes"] == 2
    assert torch.load(two / "best.pt", weights_only=True)["epoch"] == b["best_epoch"]


def test_a_failure_on_one_rank_stops_every_rank(release, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    # rank 0 alone creates the run folder and fails; rank 1 waits for it in a barrier, where
    # a rank left behind would wait for torch's 30-minute timeout: torchrun's timeout (TimeoutExpired)
    # catches that, with no bound on this machine's speed
    result = torchrun("train", "--features", str(release), "--out", str(blocker / "run"), "--epochs", "1", *EXACT,
                      timeout=300)
    assert result.returncode != 0
    assert "rank 0/2:" in result.stderr
