"""The course's random data: the input the Keras "VGG-like convnet" example trains on (Large
ConvNets, L39-42), which needs no download:

    x_train = np.random.random((100, 100, 100, 3))
    y_train = keras.utils.to_categorical(np.random.randint(10, size=(100, 1)), num_classes=10)
    x_test = np.random.random((20, 100, 100, 3))
    y_test = keras.utils.to_categorical(np.random.randint(10, size=(20, 1)), num_classes=10)

Values are uniform in [0, 1) (float images, used as they are) and labels are noise, so nothing can
be learned: the loss wanders near ln 10. Drawn from `seed`, so every machine gets the same arrays.
"""
from __future__ import annotations

import numpy as np
import torch

from .core import Dataset, Split, option_int
from .registry import dataset_info


def load_random_images(size: int = 100, train: int = 100, test: int = 20, classes: int = 10,
                       seed: int = 0) -> Dataset:
    what = "data set 'random_images'"
    size, train, test = option_int(what, "size", size, 1, 1024), option_int(what, "train", train, 1, 100_000), \
        option_int(what, "test", test, 0, 100_000)
    classes, seed = option_int(what, "classes", classes, 2, 1000), option_int(what, "seed", seed, 0, 2**32 - 1)
    rng = np.random.RandomState(seed)

    def part(n: int) -> Split:
        x = rng.random_sample((n, size, size, 3)).astype(np.float32).transpose(0, 3, 1, 2)  # (N, 3, H, W)
        return Split(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(rng.randint(classes, size=n)).long())
    tr = part(train)
    te = part(test) if test else None
    return Dataset("random_images", [str(c) for c in range(classes)], tr, None, te, max_value=1.0,
                   description=(info := dataset_info("random_images")).description, citation=info.citation)


