"""Training on several processes: torchrun's environment, the process group, small collectives.

`torchrun --nproc_per_node N cli.py train ...` starts N copies of the command and tells
each one its place through the environment: RANK (0 .. WORLD_SIZE - 1 over all machines),
WORLD_SIZE, LOCAL_RANK (its index on this machine), LOCAL_WORLD_SIZE, MASTER_ADDR and
MASTER_PORT. Without these variables, or with WORLD_SIZE 1, no process group is started
and every helper here does nothing: a plain `cli.py train` runs exactly as before.

Devices: --device cpu puts every process on the CPU (gloo); cuda puts process LOCAL_RANK
on cuda:LOCAL_RANK (NCCL); auto is cuda when GPUs are usable, else cpu.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import torch
import torch.distributed as dist

from pipeline.devices import DeviceError, resolve_device

Item = TypeVar("Item")
TORCHRUN_VARIABLES: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class DistributedError(DeviceError):
    """torchrun's environment or the devices do not allow the run asked for."""


@dataclass(frozen=True)
class DistributedContext:
    """This process's place among the training processes (a single process by default).

    Attributes:
        device: the torch device this process trains on ("cpu", "cuda", "cuda:1").
        rank: index of this process among all of them (0: the one that writes files).
        world_size: number of processes.
        local_rank: index of this process on its machine.
        local_world_size: processes on this machine (they share its CPU cores).
        backend: "nccl" or "gloo" when a process group runs, None for a single process.
    """

    device: str = "cpu"
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None

    @property
    def is_distributed(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and prints (rank 0)."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every process gets here (nothing for a single process)."""
        if not self.is_distributed:
            return
        if self.backend == "nccl":
            dist.barrier(device_ids=[torch.device(self.device).index])
        else:
            dist.barrier()

    def sum_over_ranks(self, values: torch.Tensor) -> torch.Tensor:
        """`values` summed element-wise over every process (no gradient; `values` as is for one process)."""
        if not self.is_distributed:
            return values
        total = values.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def agree(self, values: Sequence[float]) -> bool:
        """True when every process passes the same `values` (the same answer on every process)."""
        if not self.is_distributed:
            return True
        highest = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        lowest = highest.clone()
        dist.all_reduce(highest, op=dist.ReduceOp.MAX)
        dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
        return bool(torch.equal(highest, lowest))

    def broadcast_from_main(self, value: float | None) -> float:
        """Rank 0's `value` on every process (the others pass anything, e.g. None)."""
        if not self.is_distributed:
            return float(value)
        carrier = torch.tensor([float(value) if self.is_main else 0.0], dtype=torch.float64, device=self.device)
        dist.broadcast(carrier, src=0)
        return float(carrier.item())

    def shard(self, global_batch: Sequence[Item]) -> list[Item]:
        """This process's share of a global batch (see :func:`shard_positions`)."""
        return [global_batch[i] for i in shard_positions(len(global_batch), self.rank, self.world_size)]


def shard_positions(batch_size: int, rank: int, world_size: int) -> list[int]:
    """Positions in a global batch of `batch_size` items that process `rank` takes.

    Every world_size-th item from position `rank`: the shards partition the batch, differ
    in size by at most one, and (the batch being sorted by length) get similar lengths,
    so every process pads about as much as one process would. A shard may be empty when
    the batch has fewer items than processes.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    return list(range(rank, batch_size, world_size))


def torchrun_environment(environ: Mapping[str, str] = os.environ) -> dict[str, int] | None:
    """rank, world_size, local_rank, local_world_size from torchrun's variables; None without them."""
    if "WORLD_SIZE" not in environ:
        return None
    missing = [name for name in TORCHRUN_VARIABLES if name not in environ]
    if missing:
        raise DistributedError(f"WORLD_SIZE is set but {', '.join(missing)} is not; start the command with torchrun")
    try:
        place = {name.lower(): int(environ[name]) for name in TORCHRUN_VARIABLES}
        place["local_world_size"] = int(environ.get("LOCAL_WORLD_SIZE", place["world_size"]))
    except ValueError:
        values = {name: environ.get(name) for name in (*TORCHRUN_VARIABLES, "LOCAL_WORLD_SIZE")}
        raise DistributedError(f"torchrun's variables must be integers, got {values}") from None
    if place["world_size"] < 1 or not 0 <= place["rank"] < place["world_size"]:
        raise DistributedError(f"RANK={place['rank']} must lie in 0..WORLD_SIZE-1 (WORLD_SIZE={place['world_size']})")
    return place


def rank_device(choice: str, local_rank: int) -> str:
    """The device of process `local_rank` for the user's --device (auto, cpu, cuda)."""
    if choice not in ("auto", "cpu", "cuda"):
        raise DistributedError(
            f"--device {choice}: under torchrun pass auto, cpu or cuda (process LOCAL_RANK uses cuda:LOCAL_RANK)"
        )
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return "cpu"
    resolve_device("cuda")  # DeviceError when no GPU is usable
    available = torch.cuda.device_count()
    if local_rank >= available:
        raise DistributedError(
            f"process LOCAL_RANK={local_rank} needs cuda:{local_rank} but this machine has {available} GPU(s); "
            f"start at most {available} processes per machine (--nproc_per_node)"
        )
    return f"cuda:{local_rank}"


def start(device_choice: str) -> DistributedContext:
    """This process's context; under torchrun (WORLD_SIZE > 1) the process group is started.

    NCCL when the process trains on a GPU, gloo on the CPU. Without torchrun: a single
    process on ``resolve_device(device_choice)``, no process group.
    """
    place = torchrun_environment()
    if place is None or place["world_size"] == 1:
        return DistributedContext(device=resolve_device(device_choice))
    device = rank_device(device_choice, place["local_rank"])
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(backend=backend, rank=place["rank"], world_size=place["world_size"])
    return DistributedContext(device=device, backend=backend, **place)


def stop(context: DistributedContext) -> None:
    """Leave the process group after a run that ended well on every process."""
    if context.is_distributed and dist.is_initialized():
        context.barrier()
        dist.destroy_process_group()


def exit_after_error(context: DistributedContext, message: str, status: int) -> NoReturn:
    """Report a failure of this process and exit at once with `status`.

    The other processes may be waiting in a collective that this one will never join;
    exiting (instead of leaving the process group politely, which can wait on them) lets
    torchrun see the failure and stop the others.
    """
    print(f"rank {context.rank}/{context.world_size}: {message}", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(status)
