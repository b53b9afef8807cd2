"""Transfer-learning settings of a run (torch-free, so the command line builds its options quickly)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError, check_range


@dataclass
class TransferConfig:
    weights: str = ""        # published or earlier weights to start from: a file, a run directory, or 'imagenet' (looked up in $CLASSICNETS_WEIGHTS, else downloaded)
    head: str = ""           # a new head on the model's base, e.g. flatten,dense:256,dropout:0.5,dense (the last dense follows the data)
    freeze: str = ""         # what stops learning: 'base', or module-name patterns such as 'features.*' (frozen BatchNorm runs in inference mode)
    unfreeze_top: int = 0    # fine-tuning: thaw the last N blocks of a frozen base (with --base-lr for their learning rate)
    features: bool = False   # method 1: run the frozen base once over the data, cache the features, train only the head on them

    @property
    def enabled(self) -> bool:
        return bool(self.weights or self.head or self.freeze or self.unfreeze_top or self.features)

    def validate(self) -> TransferConfig:
        check_range("unfreeze_top", self.unfreeze_top, 0, None)
        if "all" in [p.strip() for p in self.freeze.split(",")] and not self.unfreeze_top:
            raise UserError("--freeze all freezes every parameter, so nothing would be trained; freeze 'base' to "
                            "train a head on a fixed base (or add --unfreeze-top N to train the base's top blocks)")
        if self.unfreeze_top and not self.freeze:
            raise UserError("--unfreeze-top thaws blocks of a frozen base; add --freeze base")
        if self.features and not self.head:
            raise UserError("--features trains a new head on extracted features; give it with --head "
                            "(e.g. flatten,dense:256,dropout:0.5,dense)")
        if self.features and self.unfreeze_top:
            raise UserError("--features keeps the whole base frozen (its outputs are computed once); "
                            "fine-tune afterwards with --weights RUN --freeze base --unfreeze-top N")
        return self
