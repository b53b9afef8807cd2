"""Transfer learning as the course teaches it (ConvNets part 1): a base with published weights,
frozen, a new head on top, trained on extracted features (method 1), end to end with augmentation
(method 2), or fine-tuned by thawing the top of the base (method 3).

    import classicnets as cn
    from classicnets.transfer import freeze, with_head
    model = with_head(cn.create("lenet", seed=0), "flatten,dense:64:relu,dense", 5, (1, 8, 8))
    freeze(model, "base")

Published weights in one call, or used as they are (transfer/published.py):

    model = create("resnet18", weights="resnet18-f37072fd.pth")   # model.preprocessing: what the weights expect
    report, norm = load_weights(model, "resnet18-f37072fd.pth", model_name="resnet18")
    p = pretrained("resnet18", "imagenet")   # model in eval mode, ImageNet's classes, input shape, preprocessing
"""
from .._lazy import lazy_exports

__all__ = ["Pretrained", "TransferConfig", "Transferred", "base_of", "build_head", "create", "describe_preprocessing", "freeze",
           "head_names", "imagenet_classes", "load_weights", "pretrained", "unfreeze", "unfreeze_top", "with_head"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "TransferConfig": "..config", "imagenet_classes": ".imagenet",
    **dict.fromkeys(["Pretrained", "create", "describe_preprocessing", "load_weights", "pretrained"], ".published"),
    **dict.fromkeys(["Transferred", "base_of", "build_head", "freeze", "head_names", "unfreeze", "unfreeze_top",
                     "with_head"], ".heads"),
})
