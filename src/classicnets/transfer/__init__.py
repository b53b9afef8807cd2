"""Transfer learning as the course teaches it (ConvNets part 1): a base with published weights,
frozen, a new head on top, trained on extracted features (method 1), end to end with augmentation
(method 2), or fine-tuned by thawing the top of the base (method 3).

    import classicnets as cn
    from classicnets.transfer import freeze, with_head
    model = with_head(cn.create("lenet", seed=0), "flatten,dense:64:relu,dense", 5, (1, 8, 8))
    freeze(model, "base")
"""
from .._lazy import lazy_exports

__all__ = ["TransferConfig", "Transferred", "base_of", "build_head", "freeze", "head_names", "unfreeze",
           "unfreeze_top", "with_head"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "TransferConfig": "..config",
    **dict.fromkeys(["Transferred", "base_of", "build_head", "freeze", "head_names", "unfreeze", "unfreeze_top",
                     "with_head"], ".heads"),
})
