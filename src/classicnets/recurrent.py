"""Recurrent and text layers with Keras's meaning, on PyTorch's fused kernels.

- `SimpleRNN`, `LSTM`, `GRU` (all `Recurrent`): input (batch, time, features); the output is the
  last step's (batch, units), or every step's (batch, time, units) with `return_sequences=True`,
  which is what the next recurrent layer of a stack needs (Keras's flag). They run on
  `nn.RNN` / `nn.LSTM` / `nn.GRU` (cuDNN on a GPU) and start from Keras's initialisation
  (Glorot-uniform input weights, orthogonal recurrent weights, zero biases, LSTM forget bias 1).
- `Bidirectional(layer, merge_mode)`: a second copy reads the sequence backwards; the two outputs
  are concatenated ('concat', Keras's default), summed ('sum'), averaged ('ave') or multiplied ('mul').
- Dropout as Keras and Gal & Ghahramani (2016) do it: `dropout` drops input features and
  `recurrent_dropout` drops the state fed back, each with ONE mask per sequence kept for every
  step of the pass (a fresh mask per step is what made early RNN dropout fail, as the course
  explains). Input dropout keeps the fused kernel; recurrent dropout needs the mask between steps,
  so training then runs a step loop over the same weights (bench/recurrent_dropout.py measures the
  cost); evaluation always uses the fused kernel.

Parameter counts: PyTorch's SimpleRNN and LSTM have two bias vectors (input-to-hidden and
hidden-to-hidden) where Keras has one; they only ever appear summed, so the models are the same
functions, with `units` (SimpleRNN) or 4*`units` (LSTM) more parameters per direction. Keras's GRU
(reset_after=True, its default since 2.3) has two biases like PyTorch's. `keras_param_count` gives
the count Keras prints, and the models table shows both.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Cell = Literal["simple", "lstm", "gru"]
MergeMode = Literal["concat", "sum", "ave", "mul"]
_MODULES = {"simple": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {"simple": 1, "lstm": 4, "gru": 3}


class Recurrent(nn.Module):
    """One Keras recurrent layer (see the module docstring); `SimpleRNN`, `LSTM`, `GRU` build it."""

    is_layer = True  # `summary` shows it as one row, with Keras's output shape

    def __init__(self, cell: Cell, input_size: int, units: int, *, return_sequences: bool = False,
                 bidirectional: bool = False, merge_mode: MergeMode = "concat", dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, keras_init: bool = True):
        super().__init__()
        if cell not in _MODULES:
            raise ValueError(f"cell must be one of {', '.join(_MODULES)}; got {cell!r}")
        if merge_mode not in ("concat", "sum", "ave", "mul"):
            raise ValueError(f"merge_mode must be concat, sum, ave or mul; got {merge_mode!r}")
        for name, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {p}")
        self.cell, self.units, self.return_sequences = cell, units, return_sequences
        self.bidirectional, self.merge_mode = bidirectional, merge_mode
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        self.rnn = _MODULES[cell](input_size, units, batch_first=True, bidirectional=bidirectional)
        if keras_init:
            self.reset_parameters_keras()

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_features(self) -> int:
        return self.units * (2 if self.bidirectional and self.merge_mode == "concat" else 1)

    def reset_parameters_keras(self) -> None:
        g = GATES[self.cell]
        for name, p in self.rnn.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(p)  # Keras glorot_uniform on the (input, gates*units) kernel
            elif name.startswith("weight_hh"):
                for chunk in p.data.chunk(g, 0):  # Keras: orthogonal (units, gates*units); per gate here
                    nn.init.orthogonal_(chunk)
            else:
                nn.init.zeros_(p)
                if self.cell == "lstm" and name.startswith("bias_ih"):
                    p.data[self.units:2 * self.units] = 1.0  # unit_forget_bias (gate order i, f, g, o)

    def extra_repr(self) -> str:
        opts = [f"{self.cell}", f"units={self.units}"]
        if self.return_sequences:
            opts.append("return_sequences=True")
        if self.bidirectional:
            opts.append(f"bidirectional, merge_mode={self.merge_mode!r}")
        if self.dropout or self.recurrent_dropout:
            opts.append(f"dropout={self.dropout}, recurrent_dropout={self.recurrent_dropout}")
        return ", ".join(opts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"{type(self).__name__} expects (batch, time, features); got {tuple(x.shape)}")
        if self.training and self.dropout:
            keep = 1.0 - self.dropout  # one input mask per sequence, the same at every step
            x = x * torch.bernoulli(x.new_full((x.shape[0], 1, x.shape[2]), keep)) / keep
        if self.training and self.recurrent_dropout:
            out, last = self.step_loop(x)
        else:
            out, h = self.rnn(x)
            last = h[0] if self.cell == "lstm" else h           # (directions, batch, units)
        if self.return_sequences:                                 # (batch, time, directions*units)
            parts = out.chunk(2, dim=-1) if self.bidirectional else (out,)
        else:
            parts = tuple(last)                                   # forward's last step, backward's first
        return self._merge(parts)

    def _merge(self, parts: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if len(parts) == 1:
            return parts[0]
        a, b = parts
        if self.merge_mode == "concat":
            return torch.cat([a, b], dim=-1)
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "ave":
            return (a + b) / 2
        return a * b

    def step_loop(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The recurrence written out step by step over the fused module's own weights, with one
        recurrent-dropout mask per sequence (`recurrent_dropout`, or none when it is 0).
        Returns (every step's output (B, T, D*H), last states (D, B, H)) like the fused kernel."""
        b, t, _ = x.shape
        keep = 1.0 - self.recurrent_dropout
        outs, lasts = [], []
        for d in range(self.directions):
            sfx = "_reverse" if d else ""
            w_ih, w_hh = getattr(self.rnn, f"weight_ih_l0{sfx}"), getattr(self.rnn, f"weight_hh_l0{sfx}")
            b_ih, b_hh = getattr(self.rnn, f"bias_ih_l0{sfx}"), getattr(self.rnn, f"bias_hh_l0{sfx}")
            xs = x.flip(1) if d else x
            u = self.units
            gru = self.cell == "gru"
            # all steps' input projections in one matmul; the hidden bias joins them except in the
            # GRU, whose reset gate multiplies the recurrent term with its bias
            # unbind once: indexing gi[:, i] per step would make backward build a full-size
            # gradient for every step (quadratic in the length)
            gi = F.linear(xs, w_ih, b_ih if gru else b_ih + b_hh).unbind(1)
            w_hh_t = w_hh.t()
            h = x.new_zeros(b, u)
            c = x.new_zeros(b, u)
            mask = (torch.bernoulli(x.new_full((b, u), keep)) / keep
                    if self.recurrent_dropout and self.training else None)
            steps = []
            for i in range(t):
                hm = h * mask if mask is not None else h
                if self.cell == "simple":
                    h = torch.tanh(torch.addmm(gi[i], hm, w_hh_t))
                elif self.cell == "lstm":
                    gates = torch.addmm(gi[i], hm, w_hh_t)            # i, f, g, o
                    sig = torch.sigmoid(gates)
                    c = torch.addcmul(sig[:, u:2 * u] * c, sig[:, :u], torch.tanh(gates[:, 2 * u:3 * u]))
                    h = sig[:, 3 * u:] * torch.tanh(c)
                else:
                    gh = torch.addmm(b_hh, hm, w_hh_t)                    # r, z, n
                    rz = torch.sigmoid(gi[i][:, :2 * u] + gh[:, :2 * u])
                    n = torch.tanh(torch.addcmul(gi[i][:, 2 * u:], rz[:, :u], gh[:, 2 * u:]))
                    h = torch.lerp(n, h, rz[:, u:])                       # (1 - z) * n + z * h
                steps.append(h)
            out = torch.stack(steps, dim=1)
            outs.append(out.flip(1) if d else out)
            lasts.append(h)
        return torch.cat(outs, dim=-1), torch.stack(lasts)


def SimpleRNN(input_size: int, units: int, **kw) -> Recurrent:  # noqa: N802  (Keras's layer names)
    """Keras `SimpleRNN(units)`: h_t = tanh(W x_t + U h_{t-1} + b)."""
    return Recurrent("simple", input_size, units, **kw)


def LSTM(input_size: int, units: int, **kw) -> Recurrent:  # noqa: N802
    """Keras `LSTM(units)` (Hochreiter & Schmidhuber 1997, with a forget gate)."""
    return Recurrent("lstm", input_size, units, **kw)


def GRU(input_size: int, units: int, **kw) -> Recurrent:  # noqa: N802
    """Keras `GRU(units)` (Cho et al. 2014; reset gate applied after the recurrent product)."""
    return Recurrent("gru", input_size, units, **kw)


def Bidirectional(layer: Recurrent, merge_mode: MergeMode = "concat") -> Recurrent:  # noqa: N802
    """Keras `Bidirectional(layer, merge_mode)`: the same layer reading both ways."""
    return Recurrent(layer.cell, layer.rnn.input_size, layer.units, return_sequences=layer.return_sequences,
                     bidirectional=True, merge_mode=merge_mode, dropout=layer.dropout,
                     recurrent_dropout=layer.recurrent_dropout)


class Embedding(nn.Embedding):
    """Keras `Embedding(num_words, dim)`: (batch, time) ids -> (batch, time, dim), initialised
    uniformly in [-0.05, 0.05]. With `padding_idx=0` (the default) id 0 is padding: its row stays
    zero and gets no gradient. Keras's own (`mask_zero=False`, the course's) trains row 0 like any
    other: `padding_idx=None`."""

    def __init__(self, num_words: int, dim: int, padding_idx: int | None = 0):
        super().__init__(num_words, dim, padding_idx=padding_idx)

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.weight, -0.05, 0.05)
        self._fill_padding_idx_with_zero()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.is_floating_point():
            raise ValueError("an Embedding takes integer word ids; got floating-point input "
                             "(use --dtype long for summary)")
        return super().forward(ids)


class TimeToChannels(nn.Module):
    """(batch, time, features) -> (batch, features, time): Keras's Conv1D reads channels last,
    PyTorch's Conv1d channels first."""

    is_view = True  # no memory of its own (`summary`)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class GlobalMaxPool1d(nn.Module):
    """Keras `GlobalMaxPooling1D`: (batch, channels, time) -> (batch, channels), the max over time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=-1)


def is_recurrent(model: nn.Module) -> bool:
    """Whether a model holds a recurrent layer (its input is (batch, time, ...), not an image)."""
    return any(isinstance(m, nn.RNNBase) for m in model.modules())


def keras_param_count(model: nn.Module) -> int:
    """Parameters as Keras counts them: one bias per SimpleRNN / LSTM gate instead of PyTorch's two
    (GRU and every other layer count the same)."""
    extra = sum(p.numel() for m in model.modules() if isinstance(m, (nn.RNN, nn.LSTM))
                for n, p in m.named_parameters() if n.startswith("bias_hh"))
    return sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for b in model.buffers() if b.is_floating_point()) - extra
