"""Data sets: registry, on-device loaders, augmentation, text encoding."""
from .augment import AugmentConfig, Augmenter
from .core import BatchLoader, Dataset, ImageDataset, Normalization, Split, stratified_split
from .registry import DatasetInfo, dataset_info, list_datasets, load_dataset, register_dataset
from .text import Vocabulary, pad_sequences, tokenize

__all__ = ["AugmentConfig", "Augmenter", "BatchLoader", "Dataset", "DatasetInfo", "ImageDataset",
           "Normalization", "Split", "Vocabulary", "dataset_info", "list_datasets", "load_dataset",
           "pad_sequences", "register_dataset", "stratified_split", "tokenize"]
