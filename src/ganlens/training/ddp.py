"""Multi-process data parallelism for ``torchrun`` (gloo on CPU, nccl on CUDA).

We all-reduce gradients by hand instead of wrapping modules in ``DistributedDataParallel``: the
StyleGAN2 step runs several forward/backward phases per module, including double backward for R1
and path length, and toggles ``requires_grad`` between phases, which DDP's reducer does not like.
One flattened all-reduce per optimiser step is also what DDP would send.
"""

from __future__ import annotations

import atexit
import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size`` (1 when not distributed).

    ``device`` is where the backend's collectives run: ``"cpu"`` for gloo, this rank's GPU for nccl
    (which cannot reduce CPU tensors).
    """

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(*, backend: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend=backend)
        # Tear the group down at exit, before the interpreter finalises (see shutdown_distributed).
        atexit.register(shutdown_distributed)
    device = "cpu"
    if dist.get_backend() == "nccl":
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank())) % max(1, torch.cuda.device_count())
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device)


def shutdown_distributed() -> None:
    """Destroy the default process group (if any), then give gloo's worker threads time to finish.

    A gloo worker frees each finished collective (and the ones a barrier waited on) just after the
    caller has been released; freeing tensors that Python let go of needs the GIL. If the
    interpreter is already finalising by then, the thread is killed inside a C++ destructor:
    "terminate called without an active exception", SIGABRT, and torchrun reports a finished run
    as failed (1 exit in 5 on a busy 2-core machine; none in 16 with this pause). The sleep hands the
    GIL over; no barrier, so that a rank that failed still exits.
    """
    if dist.is_initialized():
        dist.destroy_process_group()
        time.sleep(0.5)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


@torch.no_grad()
def broadcast_module(module: nn.Module, info: DistInfo, *, src: int = 0) -> None:
    """Make every rank hold rank ``src``'s parameters and buffers."""
    if not info.distributed:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=src)


@torch.no_grad()
def all_reduce_gradients(params: list[torch.Tensor], info: DistInfo) -> None:
    """Average ``.grad`` over ranks in one flat all-reduce (missing grads count as zeros)."""
    if not info.distributed or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p in params:
        n = p.numel()
        g = flat[offset : offset + n].view_as(p)
        if p.grad is None:
            p.grad = g.clone()
        else:
            p.grad.copy_(g)
        offset += n


@torch.no_grad()
def all_reduce_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (a copy on ``x``'s device; the input is unchanged)."""
    y = x.detach().clone().float()
    if info.distributed:
        y = y.to(info.device)
        dist.all_reduce(y)
        y = (y / info.world_size).to(x.device)
    return y


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True when ``flag`` is set on any rank (used to stop every rank together)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


@torch.no_grad()
def in_sync(module: nn.Module, info: DistInfo) -> bool:
    """Whether every rank holds the same parameters (compares a float64 checksum per tensor)."""
    if not info.distributed:
        return True
    sums = torch.stack([p.detach().double().sum() for p in module.parameters()])  # (P,)
    lo, hi = sums.clone(), sums.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    return bool(torch.equal(lo, hi))
