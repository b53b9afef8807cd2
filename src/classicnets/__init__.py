"""classicnets: build, inspect, train and compare the classic convolutional and recurrent networks.

    import classicnets as cn
    data = cn.load_dataset("digits")
    model = cn.create("lenet", seed=0)
    cn.summary(model, (1, 8, 8)).print()
    history = cn.fit(model, data, cn.TrainConfig(epochs=30))
    cn.evaluate(model, data)            # {'loss': ..., 'acc': ...}

Names are imported on first use, so `import classicnets` (and `classicnets --help`) is quick.
"""
__version__ = "0.1.0"

from ._lazy import lazy_exports

__all__ = ["AugmentConfig", "RunConfig", "TrainConfig", "UserError", "create", "evaluate", "fit",
           "list_datasets", "list_models", "load_dataset", "predict", "summary", "train_run", "freeze", "unfreeze",
           "with_head", "TransferConfig"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "AugmentConfig": ".data.augment_config", "list_datasets": ".data.registry", "load_dataset": ".data.registry",
    "UserError": ".errors", "summary": ".inspect", "TrainConfig": ".config", "evaluate": ".train.evaluation",
    "fit": ".train.engine", "predict": ".train.evaluation", "create": ".zoo.build", "list_models": ".zoo.registry",
    "RunConfig": ".config", "train_run": ".runs.run", "TransferConfig": ".config",
    **dict.fromkeys(["freeze", "unfreeze", "with_head"], ".transfer.heads"),
})
