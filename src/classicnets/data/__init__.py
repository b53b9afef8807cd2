"""Data sets: registry, on-device loaders, augmentation."""
from .augment import AugmentConfig, Augmenter
from .core import BatchLoader, ImageDataset, Normalization, Split, stratified_split
from .registry import DatasetInfo, dataset_info, list_datasets, load_dataset, register_dataset

__all__ = ["AugmentConfig", "Augmenter", "BatchLoader", "DatasetInfo", "ImageDataset",
           "Normalization", "Split", "dataset_info", "list_datasets", "load_dataset",
           "register_dataset", "stratified_split"]
