"""What does recurrent dropout cost? Training steps per second of the course's IMDB recurrent models.

Rows, each timed in the same process on the same batches (random word ids, batch 128, 500 steps):
- plain PyTorch: nn.Embedding + nn.RNN/nn.LSTM + nn.Linear, written by hand (the baseline);
- classicnets, no dropout: the registry model (fused kernel);
- dropout=0.2: input dropout with one mask per sequence (still the fused kernel);
- recurrent_dropout=0.2: one state mask per sequence, which needs the mask between steps, so
  training runs the step loop (evaluation stays fused).
Printed: steps/second (median over trials) and the ratio to the plain PyTorch row.

    python bench/recurrent_dropout.py                      # SimpleRNN and LSTM, CPU
    python bench/recurrent_dropout.py --length 100 --device cuda
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from classicnets.train.engine import describe_machine, resolve_device
from classicnets.zoo import create

PLAIN = {"imdb_simple_rnn": nn.RNN, "imdb_lstm": nn.LSTM}


class Plain(nn.Module):
    def __init__(self, rnn_cls):
        super().__init__()
        self.emb = nn.Embedding(10000, 32)
        self.rnn = rnn_cls(32, 32, batch_first=True)
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        out, _ = self.rnn(self.emb(x))
        return self.out(out[:, -1])


def steps_per_second(model, x, y, steps: int, device) -> float:
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    model.train()

    def step():
        loss = F.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    device = resolve_device(a.device)
    print(describe_machine(device))
    print(f"batch {a.batch_size} x {a.length} word ids, {a.steps} training steps per trial, median of {a.trials}")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 10000, (a.batch_size, a.length), generator=g).to(device)
    y = torch.randint(0, 2, (a.batch_size,), generator=g).float().to(device)
    print(f"{'model':<18} {'variant':<24} {'steps/s':>9} {'vs plain':>9}")
    for name, rnn_cls in PLAIN.items():
        variants = {"plain PyTorch": lambda cls=rnn_cls: Plain(cls),
                    "no dropout": lambda n=name: create(n),
                    "dropout=0.2": lambda n=name: create(n, dropout=0.2),
                    "recurrent_dropout=0.2": lambda n=name: create(n, dropout=0.2, recurrent_dropout=0.2)}
        rates: dict[str, list[float]] = {k: [] for k in variants}
        models = {k: make().to(device) for k, make in variants.items()}
        for _ in range(a.trials):  # alternate, so every variant sees the same machine state
            for k, m in models.items():
                rates[k].append(steps_per_second(m, x, y, a.steps, device))
        base = statistics.median(rates["plain PyTorch"])
        for k, r in rates.items():
            med = statistics.median(r)
            print(f"{name:<18} {k:<24} {med:9.2f} {med / base:9.2f}")


if __name__ == "__main__":
    main()
