"""Fast R-CNN: Girshick (2015), "Fast R-CNN", ICCV (figure 1).

R-CNN ran the network once per warped proposal; Fast R-CNN runs it once per image and cuts each
proposal's features out of the shared feature map with RoI max pooling (section 2.1), then a
fully connected head gives class scores and per-class box regressions, trained together with one
multi-task loss (section 2.3): "cls" and "box". Proposals still come from outside the network:
selective search (Uijlings et al. 2013), about 2,000 per image in the paper.

Proposals: in training each target may carry "proposals" (P, 4), precomputed once (the training
engine caches them: `detection.proposals.proposals_for`); the model computes them itself, by
`detection.proposals.selective_search` on the image, wherever they are missing, in training and
at test time (eval mode reads targets' "proposals" too when targets are given, so an evaluation can
reuse cached ones). Selective search wants raw pixels; the model sees normalised images, so each is
rescaled by its own minimum and maximum to 0..255 as uint8 first (`rcnn` does the same): for an image
whose pixels span 0..255, as digit_boxes' do, that undoes the normalisation exactly, so the
proposals equal those computed from the stored uint8 images.

The registered builder `fast_rcnn` is sized for `digit_boxes` (1x64x64): the CIFAR ResNet-8 base at
stride 4, RoI max pooling to 7x7 as in the paper, 64 RoIs per image (a quarter foreground) and at
most `test_proposals` proposals per image at test time. `backbone="vgg16"`, `hidden=4096` and
`test_proposals=2000` is the paper's VGG-16 model.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..zoo.registry import register_model
from .backbones import Backbone, build_backbone
from .roi_heads import RoIConfig, RoIHeads, check_inputs


class FastRCNN(nn.Module):
    """Backbone and RoI heads on external proposals."""

    needs_proposals = True
    has_masks = False

    def __init__(self, backbone: Backbone, num_classes: int, roi: RoIConfig | None = None,
                 max_proposals: int = 2000):
        super().__init__()
        self.num_classes = num_classes
        self.max_proposals = max_proposals  # proposals per image used at test time, best ranked first
        self.backbone = backbone
        self.roi_heads = RoIHeads(backbone.out_channels, backbone.stride, num_classes,
                                  roi or RoIConfig(pool="pool"))

    def proposals(self, images: torch.Tensor, targets: Sequence[dict[str, torch.Tensor]] | None) -> list[torch.Tensor]:
        """Each image's proposals: its target's "proposals" where given, else selective search's."""
        out = []
        for i, image in enumerate(images):
            given = targets[i].get("proposals") if targets is not None else None
            if given is None:
                from .proposals import selective_search  # numpy and scikit-image: only when needed
                x = image.detach().float().cpu()
                lo, hi = x.amin(), x.amax()
                given = selective_search(((x - lo) / (hi - lo).clamp(min=1e-12) * 255).round().to(torch.uint8))
            given = given.to(images.device, images.dtype).reshape(-1, 4)
            out.append(given if self.training else given[:self.max_proposals])
        return out

    def forward(self, images: torch.Tensor, targets: Sequence[dict[str, torch.Tensor]] | None = None):
        check_inputs(self, images, targets, self.training)
        features = self.backbone(images)                                     # (B, C, H / stride, W / stride)
        size = tuple(images.shape[-2:])
        if images.is_meta:  # a summary on the meta device: shapes only
            return self.roi_heads.trace(features, size)
        proposals = self.proposals(images, targets)
        if self.training:
            return self.roi_heads.loss(features, proposals, targets)
        return self.roi_heads.detect(features, proposals, size)


@register_model(description="Fast R-CNN: RoI pooling of selective-search proposals on one feature map (detection)",
                paper="Girshick 2015, Fast R-CNN", year=2015, input_shape=(1, 64, 64), task="detection")
def fast_rcnn(num_classes: int = 10, in_channels: int = 1, backbone: str = "cifar_resnet8", width: float = 1.0,
              pool: str = "pool", roi_batch: int = 64, hidden: int = 256, test_proposals: int = 2000,
              bg_iou_low: float = 0.0, detections_per_image: int = 100) -> FastRCNN:
    roi = RoIConfig(pool=pool, hidden=hidden, batch_per_image=roi_batch, bg_iou_low=bg_iou_low,
                    detections_per_image=detections_per_image)
    return FastRCNN(build_backbone(backbone, in_channels, width), num_classes, roi, test_proposals)
