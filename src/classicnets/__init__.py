"""classicnets: build, inspect, train and compare the classic convolutional and recurrent networks.

    import classicnets as cn
    data = cn.load_dataset("digits")
    model = cn.create("lenet", seed=0)
    cn.summary(model, (1, 8, 8)).print()
    history = cn.fit(model, data, cn.TrainConfig(epochs=30))
    cn.evaluate(model, data)            # {'loss': ..., 'acc': ...}
    model = cn.create("resnet18", weights="imagenet")   # published weights in one call (model.preprocessing)
    p = cn.pretrained("resnet18")       # ready to classify: p.predict(pixels), ImageNet's class names

Names are imported on first use, so `import classicnets` (and `classicnets --help`) is quick.
"""
__version__ = "0.1.0"

from ._lazy import lazy_exports

__all__ = ["AugmentConfig", "RunConfig", "TrainConfig", "UserError", "create", "evaluate", "fit",
           "list_datasets", "list_models", "load_dataset", "load_weights", "predict", "pretrained", "summary",
           "train_run", "freeze", "unfreeze", "with_head", "TransferConfig"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "AugmentConfig": ".data.augment_config", "list_datasets": ".data.registry", "load_dataset": ".data.registry",
    "UserError": ".errors", "summary": ".inspect", "TrainConfig": ".config", "evaluate": ".train.evaluation",
    "fit": ".train.engine", "predict": ".train.evaluation", "list_models": ".zoo.registry",
    "RunConfig": ".config", "train_run": ".runs.run", "TransferConfig": ".config",
    **dict.fromkeys(["freeze", "unfreeze", "with_head"], ".transfer.heads"),
    # `create` builds (zoo.build) and, with weights=, loads them (transfer.published)
    **dict.fromkeys(["create", "load_weights", "pretrained"], ".transfer.published"),
})
