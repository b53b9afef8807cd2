"""Mask R-CNN: He, Gkioxari, Dollár & Girshick (2017), "Mask R-CNN", ICCV (figure 1, section 3).

Faster R-CNN with a third branch beside classification and box regression: a small fully
convolutional head that predicts a 28x28 binary mask per class for each RoI (figure 4, right),
read through RoIAlign (section 3, "RoIAlign") so the masks line up with the pixels; RoI max pooling's
rounding costs masks more than boxes (table 2c). The mask loss ("mask") is the average per-pixel
binary cross-entropy of the true class's mask only, so classes do not compete for pixels (section
3, table 2b). At test time the mask head runs on the detections after NMS, and each detection's
mask (probabilities in [0, 1]) is pasted into the image: `masks` (D, H, W) in the output beside
boxes, labels and scores. Targets need "masks" (K, H, W) bool besides boxes and labels.

The registered builder `mask_rcnn` is `faster_rcnn`'s digit_boxes model with a smaller mask head:
RoIAlign to 7x7 and 14x14 masks, 2 convolutions of 32 filters (`mask_pool_size`, `mask_layers`,
`mask_channels`), where the paper has 14x14, 28x28 and 4 of 256. The digits are 12-32 pixels, so
14x14 masks are already finer than 2.3 pixels a cell, and the head runs on every foreground RoI:
with RoIAlign to 14x14 (28x28 masks) a training step took 1.75x Faster R-CNN's, and 240 s of
training on a loaded 2-core CPU reached mask AP@0.5 0.88, against 0.98 at 7x7 (bench/detection.py).
"""
from __future__ import annotations

from ..zoo.registry import register_model
from .backbones import build_backbone
from .faster_rcnn import FasterRCNN, digit_configs


class MaskRCNN(FasterRCNN):
    """Faster R-CNN whose RoI heads also predict masks (RoIAlign pooling)."""

    def __init__(self, backbone, num_classes, rpn=None, roi=None):
        super().__init__(backbone, num_classes, rpn, roi, masks=True)


@register_model(description="Mask R-CNN: Faster R-CNN with a mask head on RoIAlign (detection, instance masks)",
                paper="He et al. 2017, Mask R-CNN", year=2017, input_shape=(1, 64, 64), task="detection")
def mask_rcnn(num_classes: int = 10, in_channels: int = 1, backbone: str = "cifar_resnet8", width: float = 1.0,
              anchor_sizes: tuple[float, ...] = (12.0, 20.0, 28.0),
              aspect_ratios: tuple[float, ...] = (1.0, 1.5, 2.0), rpn_batch: int = 256,
              train_proposals: int = 48, test_proposals: int = 32, roi_batch: int = 32, hidden: int = 256,
              mask_channels: int = 32, mask_layers: int = 2, mask_pool_size: int = 7,
              detections_per_image: int = 100) -> MaskRCNN:
    rpn, roi = digit_configs(anchor_sizes, aspect_ratios, rpn_batch, train_proposals, test_proposals, "align",
                             roi_batch, hidden, detections_per_image, mask_channels=mask_channels,
                             mask_layers=mask_layers, mask_pool_size=mask_pool_size)
    return MaskRCNN(build_backbone(backbone, in_channels, width), num_classes, rpn, roi)
