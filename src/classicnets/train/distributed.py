"""Data parallel training on PyTorch's own engine: torchrun starts the processes, this module joins them.

    torchrun --nproc_per_node 4 -m classicnets.cli train --model resnet20 --data cifar10 --batch-size 512

Under torchrun (its RANK, WORLD_SIZE, MASTER_ADDR in the environment) `setup` joins the process
group (NCCL on CUDA GPUs, Gloo on the CPU); `fit` then trains through the `train.strategy.DataParallel`
strategy, which wraps the model in DistributedDataParallel.
What makes the result independent of the number of processes (beyond float rounding):

- `--batch-size` stays the global batch. Every process draws the same permutation from the same
  seeded generator, and process r takes the r-th contiguous part of each global batch (`data.core.shard`):
  the first `n % world` parts one example longer, so a last batch smaller than the world still
  works (a process may get an empty part for that step).
- Augmentation is drawn for the whole global batch from that shared generator, and each process
  keeps its rows: every example gets its own draw, the same one as in a single process. (Seeding
  augmentation per process instead would make the draws, and so the run, depend on the world size.)
- Each process's loss is its part's *sum* scaled by world / (global examples x values per example),
  so DDP's mean of the gradients over processes is the gradient of the global batch's mean loss,
  also for an uneven last batch.
- Running sums (loss, correct predictions, counts) are all-reduced at the epoch's end; validation is
  split the same way and all-reduced, with BatchNorm statistics taken from rank 0.
- Dropout draws from each process's own generator, seeded from (seed, rank): rank 0 draws what a
  single process would; with dropout the runs agree in distribution, not bit for bit.

Checkpoints hold one copy of everything (rank 0's model, optimizer, schedule; the data generator,
which is the same everywhere; the epoch's position with its sums already all-reduced), plus every
rank's dropout generator, so a checkpoint resumes under any world size: exactly under the same one,
and with fresh dropout draws on the ranks it did not have under another.

Decisions that must be the same everywhere are agreed with a collective: a stop request (SIGTERM or
SIGINT reaches each process at its own moment) and a non-finite loss are compared every
`CHECK_STEPS` steps and before every checkpoint; a failure while starting (data, run directory, lock)
stops every process with one sentence from the one that failed.
"""
from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from ..errors import UserError

T = TypeVar("T")

# Steps between the checks that need every process (or, on CUDA, a read from the device).
CHECK_STEPS = 16


def launched() -> bool:
    """True in a process started by torchrun (or another launcher setting its environment)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR"))


class Aborted(UserError):
    """Another process of the run failed and said why; this one stops without repeating it."""

    aborted = True


class RankError(UserError):
    """A mistake found by one process other than rank 0 (its own data, say): printed by that process."""

    always_print = True


def rank_seed(seed: int, rank: int) -> int:
    """Seed of rank's dropout generator: the run's seed on rank 0, distinct ones elsewhere."""
    return (seed + rank * 0x9E3779B97F4A7C15) % 2**63


@dataclass
class Dist:
    """This process's place in the process group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- collectives --------------------------------------------------------------------------------
    def all_sum(self, values: list[float]) -> list[float]:
        """Sums over all processes of a few numbers (float64, exact for counts below 2**53)."""
        import torch.distributed as tdist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        tdist.all_reduce(t)
        return t.tolist()

    def agree(self, stop: int | None, bad_step: int | None) -> tuple[int | None, int | None]:
        """(a stop signal any process received, the earliest non-finite step any process saw)."""
        import torch.distributed as tdist

        big = 2**52
        t = torch.tensor([float(stop or 0), -float(big if bad_step is None else bad_step)],
                         dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        sig, bad = int(t[0]), -int(t[1])
        return (sig or None), (None if bad >= big else bad)

    def all_true(self, flag: torch.Tensor) -> bool:
        """Whether a boolean device scalar is true on every process (one small all-reduce)."""
        import torch.distributed as tdist

        t = flag.to(device=self.device, dtype=torch.int32).reshape(1)
        tdist.all_reduce(t, op=tdist.ReduceOp.MIN)
        return bool(t.item())

    def gather(self, t: torch.Tensor) -> list[torch.Tensor]:
        """Every process's copy of a tensor of the same shape, on the CPU, in rank order."""
        import torch.distributed as tdist

        local = t.to(self.device)
        parts = [torch.empty_like(local) for _ in range(self.world_size)]
        tdist.all_gather(parts, local)
        return [p.cpu() for p in parts]

    def broadcast_text(self, text: str) -> str:
        """Rank 0's `text` on every process (as bytes in a tensor: nothing is pickled)."""
        import torch.distributed as tdist

        data = text.encode() if self.is_main else b""
        n = torch.tensor([len(data)], dtype=torch.int64, device=self.device)
        tdist.broadcast(n, 0)
        buf = (torch.frombuffer(bytearray(data), dtype=torch.uint8).to(self.device) if self.is_main
               else torch.empty(int(n.item()), dtype=torch.uint8, device=self.device))
        if int(n.item()):
            tdist.broadcast(buf, 0)
        return bytes(buf.cpu().tolist()).decode()

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (BatchNorm statistics) everywhere, so every process evaluates one model."""
        import torch.distributed as tdist

        for b in model.buffers():
            tdist.broadcast(b.data, 0)

    def _attempt(self, fn: Callable[[], T], here: bool) -> tuple[T | None, BaseException | None, bool]:
        """Run `fn` on this process if `here`, then agree with every process (each must call this):
        (its result, its error, whether it succeeded everywhere)."""
        result, error = None, None
        if here:
            try:
                result = fn()
            except BaseException as e:  # noqa: BLE001 - the caller re-raises it, after telling the others
                error = e
        return result, error, self.all_true(torch.tensor(error is None))

    def on_main(self, fn: Callable[[], T]) -> T | None:
        """Run `fn` on rank 0 only; the others wait and stop too (quietly) if it failed."""
        result, error, ok = self._attempt(fn, self.is_main)
        if error is not None:
            raise error
        if not ok:
            raise Aborted("rank 0 stopped the run (see its message)")
        return result

    def everywhere(self, fn: Callable[[], T]) -> T:
        """Run `fn` on every process; if it fails on any, every process stops (the failing ones say why)."""
        result, error, ok = self._attempt(fn, True)
        if error is not None:
            if isinstance(error, UserError) and not isinstance(error, Aborted) and not self.is_main:
                raise RankError(f"process {self.rank}: {error}") from None
            raise error
        if not ok:
            raise Aborted("another process of the run stopped it (see its message)")
        return result


_current: Dist | None = None


def current() -> Dist | None:
    """This process's `Dist` once `setup` has joined a process group; None in a single process."""
    return _current


def setup(device: str = "auto") -> Dist | None:
    """Join the process group torchrun set up the environment for (once); None outside torchrun.

    `device`: auto (the local rank's GPU when there are GPUs, else the CPU), cuda, or cpu. Each
    process uses the GPU of its local rank, so a GPU index is refused.
    """
    global _current
    if _current is not None:
        return _current
    if not launched():
        return None
    import torch.distributed as tdist

    if not tdist.is_available():
        raise UserError("this PyTorch build has no torch.distributed; run without torchrun")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cuda", "cpu"):
        raise UserError(f"under torchrun each process uses the GPU of its local rank; use --device auto, cuda "
                        f"or cpu, not {device!r}")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"local rank {local_rank} has no GPU of its own ({torch.cuda.device_count()} on this "
                            f"node); start at most that many processes per node")
        torch.cuda.set_device(local_rank)
        dev, backend = torch.device("cuda", local_rank), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(backend)
        atexit.register(shutdown)
    _current = Dist(tdist.get_rank(), tdist.get_world_size(), local_rank, dev, tdist.get_backend())
    return _current


def shutdown() -> None:
    """Leave the process group (registered to run at exit)."""
    global _current
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        try:  # leave together: a rank tearing gloo down while rank 0 still writes the run aborts (SIGABRT)
            tdist.barrier()
        except Exception:  # noqa: BLE001  (a peer already gone: nothing left to wait for)
            pass
        tdist.destroy_process_group()
    _current = None


def on_main(fn: Callable[[], T]) -> T | None:
    """`fn()` in a single process; under torchrun on rank 0 only (see `Dist.on_main`)."""
    d = current()
    return fn() if d is None else d.on_main(fn)


def everywhere(fn: Callable[[], T]) -> T:
    """`fn()` in a single process; under torchrun on every process, stopping all if one fails."""
    d = current()
    return fn() if d is None else d.everywhere(fn)


def is_main() -> bool:
    d = current()
    return d is None or d.is_main


def describe(d: Dist | None) -> dict[str, Any] | None:
    """What config.json records of the process group."""
    return None if d is None else {"world_size": d.world_size, "backend": d.backend}
