"""One process or many: the few operations in which they differ, as a strategy the trainer calls every time.

`Trainer` never asks whether it runs alone. It calls its strategy to wrap the model, take its part of
each batch and of the validation split, scale the step's loss, sum the epoch's counts, agree on a
decision (stop on a signal, a non-finite step) and keep every process's random state. `OneProcess`
does nothing in each (the sums are the process's own, the decision its own); `DataParallel` does the
work described in `train.distributed`, through its `Dist` (the process group and its collectives).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..data.core import Split, shard
from ..errors import UserError
from .distributed import CHECK_STEPS, Dist, current, rank_seed
from .position import EpochPosition


class OneProcess:
    """A single process: every operation is the identity, every decision this process's own."""

    rank, world_size, is_main = 0, 1, True
    part: tuple[int, int] | None = None   # the batch rows this process takes: all of them
    loss_reduction = "mean"               # the step's loss: the batch's mean
    check_steps: int | None = None        # steps between agreements: none needed
    dist: Dist | None = None

    def wrap(self, model: nn.Module, sync_bn: bool) -> nn.Module:
        return model

    def seed_dropout(self, seed: int) -> None:
        """Dropout draws from torch's generator, seeded by `fit` with the run's seed."""

    def shard(self, split: Split) -> Split:
        return split

    def scale_loss(self, loss: torch.Tensor, yb, step: int, batch_size: int,
                   num_train: int) -> tuple[torch.Tensor, float]:
        """(the loss to differentiate, the examples it counts for in the epoch's mean) of step `step`,
        whose targets here are `yb`."""
        return loss, len(yb)

    def sum(self, values: list[float]) -> list[float]:
        return values

    def reduce_position(self, position: EpochPosition) -> EpochPosition:
        """A position inside the epoch, with its running sums over every process (rank 0 keeps them)."""
        return position

    def all_true(self, flag: torch.Tensor) -> bool:
        return bool(flag)

    def agree(self, stop: int | None, bad_step: int | None) -> tuple[int | None, int | None]:
        return stop, bad_step

    def before_eval(self, model: nn.Module) -> None:
        """Nothing to share: the one model is the one evaluated."""

    def gather_rng(self, rng: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]] | None:
        """Every process's dropout generator, to checkpoint (None: this process's is `rng` itself)."""
        return None

    def restore_rng(self, rng: dict, seed: int, epoch: int) -> None:
        """Restore this process's own dropout generator from a checkpoint's `rng` (rank 0's is `rng`)."""

    def localize(self, position: EpochPosition) -> None:
        """Keep of a checkpoint's position what this process adds to (rank 0 carries the sums so far)."""


class DataParallel(OneProcess):
    """One of several processes under torchrun (see `train.distributed` for what makes the result
    independent of their number)."""

    loss_reduction = "sum"  # this process's part summed, scaled in `scale_loss`
    check_steps = CHECK_STEPS

    def __init__(self, dist: Dist):
        self.dist = dist
        self.rank, self.world_size, self.is_main = dist.rank, dist.world_size, dist.is_main
        self.part = (dist.rank, dist.world_size)

    def wrap(self, model: nn.Module, sync_bn: bool) -> nn.Module:
        """`model` in DistributedDataParallel (its BatchNorm layers made SyncBatchNorm with `sync_bn`)."""
        from torch.nn.parallel import DistributedDataParallel

        device = self.dist.device
        if sync_bn:
            if device.type != "cuda":
                raise UserError("--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm does not run on the CPU); "
                                "leave it out")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        # gradient_as_bucket_view: gradients live in DDP's all-reduce buckets instead of being copied
        # into them and back every step (the same sums, two copies of every gradient fewer)
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                       gradient_as_bucket_view=True)

    def seed_dropout(self, seed: int) -> None:
        if self.rank:  # rank 0 draws what a single process would
            torch.manual_seed(rank_seed(seed, self.rank))

    def shard(self, split: Split) -> Split:
        lo, hi = shard(len(split), self.rank, self.world_size)
        return Split(split.x[lo:hi], split.y[lo:hi])

    def scale_loss(self, loss, yb, step, batch_size, num_train):
        # DDP averages gradients over processes: make that the gradient of the global batch's mean loss
        count = min(batch_size, num_train - step * batch_size) / self.world_size
        per_example = math.prod(yb.shape[1:])  # target values per example
        return loss / (count * per_example), count

    def sum(self, values: list[float]) -> list[float]:
        return self.dist.all_sum(values)

    def reduce_position(self, position):
        p = position
        loss_total, right, seen, targets, first = self.dist.all_sum(
            [p.loss_sum.item(), p.correct.item(), p.seen, p.targets, float(p.first) if p.first is not None else 0.0])
        return EpochPosition(p.order, p.step, torch.tensor(loss_total, dtype=torch.float32), torch.tensor(int(right)),
                             int(seen), int(targets), torch.tensor(first) if p.first is not None else None, p.skipped)

    def all_true(self, flag: torch.Tensor) -> bool:
        return self.dist.all_true(flag)

    def agree(self, stop, bad_step):
        return self.dist.agree(stop, bad_step)

    def before_eval(self, model: nn.Module) -> None:
        self.dist.broadcast_buffers(model)  # every process evaluates rank 0's BatchNorm statistics

    def gather_rng(self, rng):  # a collective: every process calls it
        ranks = [{"torch": t} for t in self.dist.gather(rng["torch"])]
        if "cuda" in rng:
            for r, t in zip(ranks, self.dist.gather(rng["cuda"])):
                r["cuda"] = t
        return ranks

    def restore_rng(self, rng, seed, epoch):
        if not self.rank:
            return
        ranks = rng.get("ranks") or []
        mine = ranks[self.rank] if self.rank < len(ranks) else {}
        if "torch" in mine:
            torch.set_rng_state(mine["torch"])
        else:  # a checkpoint from fewer processes: fresh draws, from the seed and the position
            torch.manual_seed(rank_seed(seed + epoch, self.rank))
        if "cuda" in mine and self.dist.device.type == "cuda":
            torch.cuda.set_rng_state(mine["cuda"], self.dist.device)

    def localize(self, position):
        if self.rank:  # rank 0 carries the sums so far
            p = position
            p.loss_sum.zero_(), p.correct.zero_()
            p.seen = p.targets = 0
            p.first = torch.zeros_like(p.first) if p.first is not None else None


def strategy() -> OneProcess:
    """This process's strategy: `DataParallel` once `distributed.setup` has joined a process group."""
    dist = current()
    return OneProcess() if dist is None else DataParallel(dist)
