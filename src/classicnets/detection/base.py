"""What every detector here is: `Detector`, the shared forward pass and the capabilities the rest of
the package asks a detector about.

The interface is torchvision's (its `GeneralizedRCNN`):
    model.train(); losses = model(images, targets)   # dict of scalar losses; total = sum(losses.values())
    model.eval();  detections = model(images)        # one dict per image: boxes (D, 4), labels (D,), scores (D,)
images: (B, C, H, W) floats, already normalised; targets: one dict per image with "boxes" (K, 4)
x1, y1, x2, y2 pixels, "labels" (K,) 0-based data-set classes (background is added inside), "masks"
(K, H, W) for a mask model and optionally "proposals" (P, 4) for a model that takes them from outside.
Output labels are 0-based data-set classes too.

A detector declares what it needs: `num_classes` (object classes, no background), `has_masks`
(it learns and predicts instance masks, so its targets need them), `needs_proposals` (its regions
come from outside the network, selective search, so the training engine computes them once per
image and caches them), `proposal_config` (the selective-search options for them). Its forward pass
is one skeleton: check the inputs, compute the features (`feature_map`: the backbone's map, or the
images themselves for R-CNN, which crops before its network), then on the meta device only the
shapes (`trace`, for `summary`), otherwise the proposals (`propose`: the RPN's, with its losses, or
the external ones) and the losses (`loss`) in training or the detections (`detect`) in evaluation.
A detector with more to fit after the engine's epochs (R-CNN trained in stages) does it in
`finish_training`, which the training engine calls once they are done.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import UserError

Target = dict[str, torch.Tensor]


def raw_pixels(image: torch.Tensor, max_value: float | None = None) -> torch.Tensor:
    """A (C, H, W) image as uint8 0..255, what selective search wants. With `max_value`, the image
    is in raw units (0..max_value) and is scaled; without, it was normalised and is min-max rescaled,
    which undoes the normalisation exactly for an image whose pixels span 0..255 (digit_boxes'), so
    its proposals equal those of the stored uint8 image."""
    x = image.detach().float()
    if max_value is not None:
        return (x * (255.0 / max_value)).round().clamp(0, 255).to(torch.uint8)
    lo, hi = x.min(), x.max()
    x = (x - lo) * (255 / (hi - lo)) if hi > lo else torch.zeros_like(x)
    return x.round().to(torch.uint8)


def check_inputs(model: Detector, images: torch.Tensor, targets, training: bool) -> None:
    """`UserError` for what the detectors cannot take: images not (B, C, H, W) floats, targets that
    are not one dict per image, or (when training) targets without boxes (K, 4) and 0-based labels
    (K,) (and masks for a mask model)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise UserError(f"a detector takes normalised float images (B, C, H, W); got {shape}"
                        + (f" of {images.dtype}" if isinstance(images, torch.Tensor) else ""))
    if targets is not None and len(targets) != len(images):
        raise UserError(f"targets must be one dict per image; got {len(targets)} for {len(images)} images")
    if not training:
        return
    if targets is None:
        raise UserError("a detector in training mode needs targets (one dict per image with 'boxes' and "
                        "'labels'); call model.eval() to detect")
    for i, t in enumerate(targets):
        boxes, labels = t.get("boxes"), t.get("labels")
        if boxes is None or labels is None or boxes.ndim != 2 or boxes.shape[1] != 4 or labels.shape != (len(boxes),):
            raise UserError(f"target {i} must hold 'boxes' (K, 4) and 'labels' (K,)")
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= model.num_classes):
            raise UserError(f"target {i} has a label outside 0..{model.num_classes - 1} (labels are 0-based "
                            f"data-set classes; the model adds background itself)")
        if model.has_masks:
            masks = t.get("masks")
            if masks is None or tuple(masks.shape) != (len(boxes), *images.shape[-2:]):
                raise UserError(f"target {i} needs 'masks' of shape (K, H, W) = "
                                f"{(len(boxes), *images.shape[-2:])} for Mask R-CNN")


class Detector(nn.Module):
    """Base of the detectors (see the module docstring): subclasses give `trace`, `loss` and
    `detect`, and `features` / `propose` where they differ from a backbone and external proposals."""

    num_classes: int
    has_masks = False
    needs_proposals = False

    @property
    def proposal_config(self):
        """The `proposals.SelectiveSearchConfig` a model with `needs_proposals` wants its proposals
        computed with; None: selective search's defaults."""
        return None

    def finish_training(self, train, val=None, *, seed: int = 0, log=lambda s: None) -> bool:
        """What the model fits after the training engine's epochs, from (images, targets) batches of the
        training and validation images in a fixed order: nothing for a detector trained end to end
        (returns False); R-CNN's `training="stages"` trains its SVMs and box regressors here."""
        return False

    def forward(self, images: torch.Tensor, targets: Sequence[Target] | None = None):
        check_inputs(self, images, targets, self.training)
        size = tuple(images.shape[-2:])
        features = self.feature_map(images)
        if images.is_meta:  # a summary on the meta device: shapes only, no data-dependent step
            return self.trace(features, size)
        proposals, losses = self.propose(images, features, size, targets)
        if self.training:
            return {**losses, **self.loss(features, proposals, targets)}
        return self.detect(features, proposals, size)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """What the heads read: the backbone's feature map (B, C, H / stride, W / stride)."""
        return self.backbone(images)

    def propose(self, images: torch.Tensor, features: torch.Tensor, size: tuple[int, int],
                targets: Sequence[Target] | None) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        """(each image's region proposals, the losses of making them): external proposals by default."""
        return self.external_proposals(images, targets), {}

    def external_proposals(self, images: torch.Tensor, targets: Sequence[Target] | None) -> list[torch.Tensor]:
        """Each image's proposals: its target's "proposals" where given (also in eval mode, so an
        evaluation can reuse cached ones), else selective search on its raw pixels (`search`)."""
        out = []
        for i, image in enumerate(images):
            given = targets[i].get("proposals") if targets is not None else None
            if given is None:
                given = self.search(raw_pixels(image))
            elif not isinstance(given, torch.Tensor) or given.ndim != 2 or given.shape[1] != 4:
                raise UserError(f"target {i}'s 'proposals' must be a (P, 4) tensor of x1, y1, x2, y2; got "
                                f"{tuple(given.shape) if isinstance(given, torch.Tensor) else type(given).__name__}")
            out.append(self.keep_proposals(given.to(images.device, images.dtype)))
        return out

    def search(self, image: torch.Tensor) -> torch.Tensor:
        """Selective search on a uint8 (C, H, W) image (scikit-image: imported only when needed)."""
        from .proposals import selective_search
        return selective_search(image.cpu())

    def keep_proposals(self, proposals: torch.Tensor) -> torch.Tensor:
        """The proposals of one image this model uses (all of them by default)."""
        return proposals

    def trace(self, features: torch.Tensor, size: tuple[int, int]) -> list[Target]:
        raise NotImplementedError

    def loss(self, features: torch.Tensor, proposals: list[torch.Tensor],
             targets: Sequence[Target]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def detect(self, features: torch.Tensor, proposals: list[torch.Tensor], size: tuple[int, int]) -> list[Target]:
        raise NotImplementedError


class RoIDetector(Detector):
    """A detector whose RoI heads (`roi_heads.RoIHeads`, its `roi_heads`) read each region off one
    feature map of the whole image: Fast, Faster and Mask R-CNN."""

    def trace(self, features, size):
        return self.roi_heads.trace(features, size)

    def loss(self, features, proposals, targets):
        return self.roi_heads.loss(features, proposals, targets)

    def detect(self, features, proposals, size):
        return self.roi_heads.detect(features, proposals, size)
