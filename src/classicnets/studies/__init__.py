"""Experiments that teach: `classicnets study NAME` turns a sentence of the course into a measurement.

One module per study; `registry.STUDIES` maps each name to its class and to the course sentence it
tests (file and line). `classicnets study --list` shows them. Each study is a dataclass of settings
with `run()`, `table()`, `finding()`, `plot(path)` and `to_dict()` (see `common`).

    from classicnets.studies import Degradation
    study = Degradation(epochs=4).run()
    print(study.finding())

Classes are imported on first use, so listing the studies does not import torch.
"""
from .._lazy import lazy_exports
from .registry import STUDIES, CourseClaim, StudyInfo, get_study

__all__ = ["STUDIES", "CourseClaim", "StudyInfo", "get_study", "VanishingGradients", "Degradation",
           "SharedWeights", "ExplodingGradients", "OneByOne", "DropoutStudy", "PolynomialDegree", "DenseVsConv",
           "HighwayDepth", "ConvCost", "ConvBackprop", "ResidualIdentity", "input_gradients"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **{info.cls: f".{info.module}" for info in STUDIES.values()},
    "input_gradients": ".vanishing",
    "STUDIES": ".registry", "CourseClaim": ".registry", "StudyInfo": ".registry", "get_study": ".registry",
})
