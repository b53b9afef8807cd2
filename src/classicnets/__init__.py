"""classicnets: build, inspect, train and compare the classic convolutional and recurrent networks.

    import classicnets as cn
    data = cn.load_dataset("digits")
    model = cn.create("lenet")
    cn.summary(model, (1, 8, 8)).print()
    history = cn.fit(model, data, cn.TrainConfig(epochs=30))
    cn.evaluate(model, data)            # {'loss': ..., 'acc': ...}
"""
__version__ = "0.1.0"

from .data import AugmentConfig, list_datasets, load_dataset
from .errors import UserError
from .inspect import summary
from .train import TrainConfig, evaluate, fit, predict
from .zoo import create, list_models

__all__ = ["AugmentConfig", "TrainConfig", "UserError", "create", "evaluate", "fit", "list_datasets",
           "list_models", "load_dataset", "predict", "summary"]
