"""Recurrent networks of the course's recurrent chapter, built like its Keras `Sequential` models.

The course (recurrent chapter) trains on IMDB, with 10,000 words, a 32-d embedding learnt from
scratch and 32 units, each classifier ending in a single logit (Keras's Dense(1, sigmoid); the
sigmoid is left to the loss):
- `imdb_simple_rnn`: Embedding(10000, 32), SimpleRNN(32), Dense(1). Keras summary: 322,113.
- `imdb_stacked_rnn`: four SimpleRNN(32) layers, the first three with return_sequences=True.
  Keras summary of the stack without a head: 328,320 (`include_top=False`).
- `imdb_bidirectional_rnn`: Bidirectional(SimpleRNN(32)) (concatenated), Dense(1). Keras: 324,225.
- `imdb_lstm`, `imdb_gru`, `imdb_bilstm`: the same classifier with LSTM(32), GRU(32) and
  Bidirectional(LSTM(32)) (Chollet 2017, section 6.2, which the chapter follows).
The RNN-dropout experiment of the chapter is `imdb_simple_rnn` with `dropout=0.2,
recurrent_dropout=0.2`. The IMDB builders take `init="keras"` (the Dense head's glorot_uniform kernel
and zero bias; the recurrent layers and the embedding start as Keras's in any case) and
`pad_row="trainable"` (the embedding's row 0 trained like any other, as Keras's `mask_zero=False`);
see `zoo.keras_literal`. Their defaults are PyTorch's; the recipes set Keras's.

`simple_rnn`, `lstm`, `gru` are the same builders with free settings, by default for the generated
adding problem (50 steps of 2 features, one output): they are the models of the long-range
experiments (Hochreiter & Schmidhuber 1997) and of `classicnets study vanishing-gradients`.

PyTorch counts two biases per SimpleRNN / LSTM gate where Keras counts one (see
`classicnets.recurrent`): `summary` shows PyTorch's real count, `keras_params` the course's, and
tests check the course's figures exactly with `keras_param_count`.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ..recurrent import Cell, Embedding, MergeMode, Recurrent
from .keras_literal import initialise, padding_idx
from .registry import register_builder

NAMES = {"simple": "simple_rnn", "lstm": "lstm", "gru": "gru"}
COURSE = "the course (recurrent chapter); Chollet 2017, Deep Learning with Python, 6.2"


def sequence_model(cell: Cell, *, num_words: int | None = None, embed_dim: int = 32, in_features: int = 1,
                   units: int = 32, layers: int = 1, bidirectional: bool = False,
                   merge_mode: MergeMode = "concat", dropout: float = 0.0, recurrent_dropout: float = 0.0,
                   num_classes: int = 1, per_step: bool = False, include_top: bool = True,
                   init: str = "torch", pad_row: str = "zero") -> nn.Sequential:
    """[Embedding] -> `layers` recurrent layers -> [Dense(num_classes)], a Keras Sequential model.

    With `num_words` the input is (batch, time) word ids, else (batch, time, in_features) floats.
    `per_step=True` keeps every step's output (return_sequences on the last layer too), so the
    dense layer makes one prediction per step (the copy task). `init` and `pad_row`: see
    `zoo.keras_literal`."""
    if layers < 1:
        raise ValueError(f"layers must be at least 1; got {layers}")
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    width = in_features
    if num_words:
        mods["embedding"] = Embedding(num_words, embed_dim, padding_idx=padding_idx(pad_row))
        width = embed_dim
    for i in range(layers):
        layer = Recurrent(cell, width, units, return_sequences=per_step or i < layers - 1,
                          bidirectional=bidirectional, merge_mode=merge_mode, dropout=dropout,
                          recurrent_dropout=recurrent_dropout)
        name = ("bidirectional_" if bidirectional else "") + NAMES[cell]
        mods[f"{name}_{i + 1}" if layers > 1 else name] = layer
        width = layer.out_features
    if include_top:
        mods["dense"] = nn.Linear(width, num_classes)
    return initialise(nn.Sequential(mods), init)  # recurrent layers keep their own (Keras's) initialisation


def _generic(cell: Cell):
    def build(in_features: int = 2, num_words: int | None = None, embed_dim: int = 32, units: int = 64,
              layers: int = 1, bidirectional: bool = False, merge_mode: MergeMode = "concat",
              dropout: float = 0.0, recurrent_dropout: float = 0.0, num_classes: int = 1,
              per_step: bool = False, include_top: bool = True) -> nn.Sequential:
        return sequence_model(cell, num_words=num_words, embed_dim=embed_dim, in_features=in_features,
                              units=units, layers=layers, bidirectional=bidirectional, merge_mode=merge_mode,
                              dropout=dropout, recurrent_dropout=recurrent_dropout, num_classes=num_classes,
                              per_step=per_step, include_top=include_top)
    return build


register_builder(
    "simple_rnn", _generic("simple"), globals(),
    description="SimpleRNN (Elman) sequence model; default: 64 units on the adding problem",
    paper="Elman 1990, Finding structure in time", year=1990, input_shape=(50, 2),
    num_params=4_417, params_source="2*64+64*64+2*64 (two biases) + 65")
register_builder(
    "lstm", _generic("lstm"), globals(),
    description="LSTM sequence model; default: 64 units on the adding problem",
    paper="Hochreiter & Schmidhuber 1997, Long Short-Term Memory", year=1997, input_shape=(50, 2),
    num_params=17_473, params_source="4*(2*64+64*64+2*64) (two biases) + 65")
register_builder(
    "gru", _generic("gru"), globals(),
    description="GRU sequence model; default: 64 units on the adding problem",
    paper="Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder", year=2014,
    input_shape=(50, 2), num_params=13_121,
    params_source="3*(2*64+64*64+2*64) + 65 (PyTorch and Keras reset_after=True)")


def _imdb(cell: Cell, *, layers: int = 1, bidirectional: bool = False):
    def build(num_words: int = 10000, embed_dim: int = 32, units: int = 32, merge_mode: MergeMode = "concat",
              dropout: float = 0.0, recurrent_dropout: float = 0.0, num_classes: int = 1,
              include_top: bool = True, init: str = "torch", pad_row: str = "zero") -> nn.Sequential:
        return sequence_model(cell, num_words=num_words, embed_dim=embed_dim, units=units, layers=layers,
                              bidirectional=bidirectional, merge_mode=merge_mode, dropout=dropout,
                              recurrent_dropout=recurrent_dropout, num_classes=num_classes,
                              include_top=include_top, init=init, pad_row=pad_row)
    return build


def _register(name: str, build, **meta) -> None:
    register_builder(name, build, globals(), paper=COURSE, year=2015, input_shape=(500,),
                     input_dtype="long", **meta)


_register("imdb_simple_rnn", _imdb("simple"), keras_params=322_113,
          description="IMDB: Embedding(10000, 32), SimpleRNN(32), Dense(1)",
          params_source="the course's Keras summary")
_register("imdb_stacked_rnn", _imdb("simple", layers=4), keras_params=328_353,
          description="IMDB: four stacked SimpleRNN(32) (return_sequences), Dense(1)",
          params_source="the course's Keras summary: 328,320 for the stack without Dense(1) "
                        "(include_top=False), + 33 for the head")
_register("imdb_bidirectional_rnn", _imdb("simple", bidirectional=True), keras_params=324_225,
          description="IMDB: Bidirectional(SimpleRNN(32)), concatenated, Dense(1)",
          params_source="the course's Keras summary")
_register("imdb_lstm", _imdb("lstm"), description="IMDB: Embedding(10000, 32), LSTM(32), Dense(1)")
_register("imdb_gru", _imdb("gru"), description="IMDB: Embedding(10000, 32), GRU(32), Dense(1)")
_register("imdb_bilstm", _imdb("lstm", bidirectional=True),
          description="IMDB: Bidirectional(LSTM(32)), concatenated, Dense(1)")
