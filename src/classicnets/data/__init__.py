"""Data sets: registry, on-device loaders, augmentation, text encoding (imported on first use)."""
from .._lazy import lazy_exports

__all__ = ["AugmentConfig", "Augmenter", "BatchLoader", "Dataset", "DatasetInfo", "ImageDataset",
           "Normalization", "Split", "Vocabulary", "dataset_info", "list_datasets", "load_dataset",
           "pad_sequences", "register_dataset", "stratified_split", "tokenize"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "AugmentConfig": ".augment_config", "Augmenter": ".augment",
    **dict.fromkeys(["BatchLoader", "Dataset", "ImageDataset", "Normalization", "Split", "stratified_split"], ".core"),
    **dict.fromkeys(["DatasetInfo", "dataset_info", "list_datasets", "load_dataset", "register_dataset"], ".registry"),
    **dict.fromkeys(["Vocabulary", "pad_sequences", "tokenize"], ".text"),
})
