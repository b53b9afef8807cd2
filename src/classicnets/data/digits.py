"""scikit-learn's bundled `digits`: 1,797 real 8x8 handwritten digits; needs no network.

Alpaydin & Kaynak (1998), "Optical Recognition of Handwritten Digits", UCI Machine Learning
Repository. Each pixel counts set bits in a 4x4 block of a 32x32 bitmap, so values run 0..16.

The split is fixed (stratified, random_state 0) so runs are comparable: 20% test, then 12.5% of
the rest for validation: train 1,257 / val 180 / test 360.
"""
from __future__ import annotations

import numpy as np
import torch

from .core import Dataset, Split
from .registry import dataset_info

TEST_FRACTION = 0.2
VAL_FRACTION = 0.125


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = torch.from_numpy(bunch.images.astype(np.uint8)).unsqueeze(1)  # (1797, 1, 8, 8), 0..16
    y = torch.from_numpy(bunch.target.astype(np.int64))
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=TEST_FRACTION, stratify=bunch.target, random_state=0)
    train, val = train_test_split(rest, test_size=VAL_FRACTION, stratify=bunch.target[rest],
                                  random_state=0)
    part = lambda i: Split(x[np.sort(i)], y[np.sort(i)])  # noqa: E731
    return Dataset(
        name="digits", classes=[str(d) for d in range(10)],
        train=part(train), val=part(val), test=part(test), max_value=16.0,
        description=(info := dataset_info("digits")).description, citation=info.citation)


