"""One-dimensional ConvNets for text.

- `imdb_conv1d`: the IMDB 1D ConvNet of the course's "ConvNets part 1" chapter (after Chollet 2017,
  section 6.4): Embedding(10000, 128), Conv1D(32, 7), MaxPooling1D(5), Conv1D(32, 7),
  GlobalMaxPooling1D, Dense(1), on reviews of 500 words. Keras summary: 1,315,937 parameters.
- `imdb_cnn`: the older 1D ConvNet of the "Large ConvNets" chapter (Keras's imdb_cnn example):
  5,000 words, maxlen 100, Embedding(5000, 100), dropout 0.25, two Conv1D(250, 3) each followed by
  MaxPooling1D(2), Flatten, Dense(250), dropout 0.25, ReLU, Dense(1). 2,201,001 parameters.
- `kim_cnn`: Kim (2014), "Convolutional Neural Networks for Sentence Classification", section 3.1
  (the CNN-rand model of table 2): 300-d embeddings, filter widths 3, 4, 5 with 100 maps each,
  ReLU, max-over-time pooling, dropout 0.5, a dense output layer.

PyTorch's Conv1d reads (batch, channels, time), so the embedding's (batch, time, dim) output is
transposed once (`TimeToChannels`); output shapes in `summary` are channels first.

The two Keras-born networks take `init="keras"` (glorot_uniform kernels, zero biases) and
`pad_row="trainable"` (the embedding's row 0 trained, as Keras's `mask_zero=False`), and
`imdb_conv1d` takes `output="probability"`: the course ends it with a bare Dense(1) under
binary_crossentropy, which Keras reads as a clipped probability, not a logit (see
`zoo.keras_literal`). Defaults are PyTorch's and the sensible reading; the recipes set Keras's.
`kim_cnn` keeps its frozen zero row, as Kim's own code does (it resets the padding vector to zero).
"""
from __future__ import annotations

import torch
from torch import nn

from ..recurrent import Embedding, GlobalMaxPool1d, TimeToChannels
from .keras_literal import initialise, output_layer, padding_idx
from .registry import register_model

COURSE = "the course (ConvNets part 1: 1D ConvNets); Chollet 2017, Deep Learning with Python, 6.4"


@register_model(description="IMDB 1D ConvNet: Embedding 128, Conv1D 32x7, max pool 5, Conv1D 32x7, "
                "global max pool, Dense(1)", paper=COURSE, year=2017, input_shape=(500,), input_dtype="long",
                num_params=1_315_937, params_source="the course's Keras summary")
def imdb_conv1d(num_words: int = 10000, embed_dim: int = 128, filters: int = 32, kernel_size: int = 7,
                pool: int = 5, num_classes: int = 1, init: str = "torch", pad_row: str = "zero",
                output: str = "logit") -> nn.Sequential:
    head = output_layer(output)
    if head and num_classes != 1:
        raise ValueError(f"output='probability' reads one Dense(1) output as a probability; got {num_classes} outputs")
    return initialise(nn.Sequential(
        Embedding(num_words, embed_dim, padding_idx=padding_idx(pad_row)), TimeToChannels(),
        nn.Conv1d(embed_dim, filters, kernel_size), nn.ReLU(inplace=True), nn.MaxPool1d(pool),
        nn.Conv1d(filters, filters, kernel_size), nn.ReLU(inplace=True),
        GlobalMaxPool1d(), nn.Linear(filters, num_classes), *head), init)


@register_model(description="older IMDB 1D ConvNet (Keras imdb_cnn example): 5,000 words, maxlen 100, two "
                "Conv1D 250x3 with max pooling, Dense 250", paper="the course (Large ConvNets: 1D convolution "
                "for IMDB); Keras examples/imdb_cnn.py", year=2015, input_shape=(100,), input_dtype="long",
                num_params=2_201_001,
                params_source="5000*100 + (3*100*250+250) + (3*250*250+250) + (23*250*250+250) + 251")
def imdb_cnn(num_words: int = 5000, input_size: int = 100, embed_dim: int = 100, filters: int = 250,
             kernel_size: int = 3, hidden: int = 250, dropout: float = 0.25, num_classes: int = 1,
             init: str = "torch", pad_row: str = "zero") -> nn.Sequential:
    length = input_size
    for _ in range(2):  # valid convolution, then pooling by 2
        length = (length - kernel_size + 1) // 2
    if length < 1:
        raise ValueError(f"reviews of {input_size} words are too short for two Conv1D({kernel_size}) + "
                         f"MaxPooling1D(2) stages; use input_size >= {2 * (kernel_size + 1) + kernel_size - 1}")
    return initialise(nn.Sequential(
        Embedding(num_words, embed_dim, padding_idx=padding_idx(pad_row)), nn.Dropout(dropout), TimeToChannels(),
        nn.Conv1d(embed_dim, filters, kernel_size), nn.ReLU(inplace=True), nn.MaxPool1d(2),
        nn.Conv1d(filters, filters, kernel_size), nn.ReLU(inplace=True), nn.MaxPool1d(2),
        nn.Flatten(), nn.Linear(length * filters, hidden), nn.Dropout(dropout), nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes)), init)


class KimCNN(nn.Module):
    """Embedding, parallel Conv1d of several widths, max over time of each, concatenated, dropout, dense."""

    def __init__(self, num_words: int, embed_dim: int, widths: tuple[int, ...], filters: int, dropout: float,
                 num_classes: int):
        super().__init__()
        self.embedding = Embedding(num_words, embed_dim)
        self.to_channels = TimeToChannels()
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, filters, w) for w in widths)
        self.relu = nn.ReLU()
        self.pool = GlobalMaxPool1d()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(filters * len(widths), num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.to_channels(self.embedding(ids))                    # (batch, dim, time)
        pooled = [self.pool(self.relu(conv(x))) for conv in self.convs]  # each (batch, filters)
        return self.dense(self.dropout(torch.cat(pooled, dim=1)))


@register_model(description="Kim's multi-width text CNN (CNN-rand): widths 3/4/5 x 100 maps, max over time, "
                "dropout 0.5", paper="Kim 2014, Convolutional Neural Networks for Sentence Classification",
                year=2014, input_shape=(500,), input_dtype="long")
def kim_cnn(num_words: int = 10000, embed_dim: int = 300, widths: tuple[int, ...] = (3, 4, 5),
            filters: int = 100, dropout: float = 0.5, num_classes: int = 1) -> KimCNN:
    return KimCNN(num_words, embed_dim, tuple(widths), filters, dropout, num_classes)
