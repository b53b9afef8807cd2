"""The 1,000 ImageNet-1k class names, shipped with the package (imagenet_classes.txt, whose header
names its source: pytorch/hub's imagenet_classes.txt, the names of Keras's imagenet_class_index.json),
in the class index order of every published ImageNet classifier (torchvision's, Keras's)."""
from __future__ import annotations

import functools
from importlib import resources

NUM_CLASSES = 1000


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The class names by index, words separated by spaces: 0 'tench', 207 'golden retriever',
    281 'tabby', 999 'toilet tissue'."""
    text = resources.files(__package__).joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    names = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        index, name = line.split(", ", 1)
        if int(index) != len(names):  # the file is the index order, line for line
            raise RuntimeError(f"imagenet_classes.txt is damaged: index {index} on line {len(names) + 1}")
        names.append(name.replace("_", " "))
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"imagenet_classes.txt is damaged: {len(names)} classes, not {NUM_CLASSES}")
    return tuple(names)
