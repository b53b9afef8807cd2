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
rescaled by its own minimum and maximum to 0..255 as uint8 first (`base.raw_pixels`, as `rcnn`): for
an image whose pixels span 0..255, as digit_boxes' do, that undoes the normalisation exactly, so the
proposals equal those computed from the stored uint8 images.

The registered builder `fast_rcnn` is sized for `digit_boxes` (1x64x64): the CIFAR ResNet-8 base at
stride 4, RoI max pooling to 7x7 as in the paper, 64 RoIs per image (a quarter foreground) and at
most `test_proposals` proposals per image at test time. `backbone="vgg16"`, `hidden=4096` and
`test_proposals=2000` is the paper's VGG-16 model.
"""
from __future__ import annotations

from ..zoo.registry import register_model
from .backbones import Backbone, build_backbone
from .base import RoIDetector
from .roi_heads import RoIConfig, RoIHeads


class FastRCNN(RoIDetector):
    """Backbone and RoI heads on external proposals."""

    needs_proposals = True

    def __init__(self, backbone: Backbone, num_classes: int, roi: RoIConfig | None = None,
                 max_proposals: int = 2000):
        super().__init__()
        self.num_classes = num_classes
        self.max_proposals = max_proposals  # proposals per image used at test time, best ranked first
        self.backbone = backbone
        self.roi_heads = RoIHeads(backbone.out_channels, backbone.stride, num_classes,
                                  roi or RoIConfig(pool="pool"))

    def keep_proposals(self, proposals):
        return proposals if self.training else proposals[:self.max_proposals]


@register_model(description="Fast R-CNN: RoI pooling of selective-search proposals on one feature map (detection)",
                paper="Girshick 2015, Fast R-CNN", year=2015, input_shape=(1, 64, 64), task="detection")
def fast_rcnn(num_classes: int = 10, in_channels: int = 1, backbone: str = "cifar_resnet8", width: float = 1.0,
              pool: str = "pool", roi_batch: int = 64, hidden: int = 256, test_proposals: int = 2000,
              bg_iou_low: float = 0.0, detections_per_image: int = 100) -> FastRCNN:
    roi = RoIConfig(pool=pool, hidden=hidden, batch_per_image=roi_batch, bg_iou_low=bg_iou_low,
                    detections_per_image=detections_per_image)
    return FastRCNN(build_backbone(backbone, in_channels, width), num_classes, roi, test_proposals)
