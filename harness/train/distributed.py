"""DDP through torchrun (or a SLURM job's tasks, harness/launch): one process per GPU (NCCL) or per
CPU worker (gloo). The launcher sets RANK / WORLD_SIZE / LOCAL_RANK; without them the run is a
single process. Only rank 0 logs and writes (run store, checkpoints, W&B).

A rank that fails ends the job promptly: torchrun's agent stops the other ranks as soon as one
exits non-zero (SLURM's `--kill-on-bad-exit` does the same for a job's tasks). As a safety net for
other launchers, a collective waits at most DIST_TIMEOUT (NCCL's own default; gloo's would be 30
minutes)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

DIST_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistContext:
    """The context of this process; joins the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None,
                                timeout=DIST_TIMEOUT)
    return DistContext(rank, world_size, local_rank, device)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """`obj` of every rank, in rank order (a one-element list without DDP)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(ctx: DistContext, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (`obj` itself without DDP)."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def max_over_ranks(ctx: DistContext, value: int) -> int:
    """The largest `value` of all ranks (`value` itself without DDP): one decision every rank takes."""
    if not ctx.distributed:
        return value
    box = torch.tensor([value], dtype=torch.int64, device=ctx.device)
    dist.all_reduce(box, op=dist.ReduceOp.MAX)
    return int(box.item())


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
