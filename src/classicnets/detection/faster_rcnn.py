"""Faster R-CNN: Ren, He, Girshick & Sun (2015), "Faster R-CNN: towards real-time object detection with
region proposal networks", NIPS (figure 2).

Fast R-CNN with its proposals made by the network itself: a Region Proposal Network (`rpn`) shares
the backbone's feature map with the RoI heads (`roi_heads`), so proposals cost one small convolution
instead of seconds of selective search. Trained end to end with the four losses summed
("approximate joint training", section 3.2): "rpn_objectness", "rpn_box", "cls", "box".

The interface is every detector's here (`detection.base.Detector`, torchvision's): `needs_proposals`
is False, the RPN makes them.

The registered builder `faster_rcnn` is sized for `digit_boxes` (1x64x64, digits of 12-32 pixels):
the CIFAR ResNet-8 base at stride 4, anchors of 12-28 pixels, taller than wide, 48 proposals per
image in training and 32 at test time, 32 RoIs per image; bench/detection.py trains it to box
mAP@0.5 0.99 in 330 s on a 2-core CPU. `backbone="vgg16"` with the paper's anchors
(`anchor_sizes=(128, 256, 512)`, `aspect_ratios=(0.5, 1, 2)`), `train_proposals=2000`,
`test_proposals=300`, `roi_batch=128` and `hidden=4096` is close to the paper's VOC model.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..zoo.registry import register_model
from .backbones import Backbone, build_backbone
from .base import RoIDetector
from .roi_heads import RoIConfig, RoIHeads
from .rpn import RegionProposalNetwork, RPNConfig


class FasterRCNN(RoIDetector):
    """Backbone, RPN and RoI heads (box head; Mask R-CNN adds the mask head)."""

    def __init__(self, backbone: Backbone, num_classes: int, rpn: RPNConfig | None = None,
                 roi: RoIConfig | None = None, masks: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.has_masks = masks
        self.backbone = backbone
        self.rpn = RegionProposalNetwork(backbone.out_channels, backbone.stride, rpn)
        self.roi_heads = RoIHeads(backbone.out_channels, backbone.stride, num_classes, roi, masks=masks)

    def propose(self, images, features, size, targets):
        return self.rpn(features, size, targets)  # (proposals, the RPN's losses in training)

    def trace(self, features, size):
        self.rpn.head(features)
        return super().trace(features, size)


def digit_configs(anchor_sizes: Sequence[float], aspect_ratios: Sequence[float], rpn_batch: int,
                  train_proposals: int, test_proposals: int, pool: str, roi_batch: int, hidden: int,
                  detections_per_image: int, **mask) -> tuple[RPNConfig, RoIConfig]:
    """The RPN and RoI settings the registered builders pass: small images with few objects need
    few proposals (NMS runs on the best 4x as many anchors) and few RoIs. `mask`: RoIConfig's
    mask_channels, mask_layers, mask_pool_size."""
    rpn = RPNConfig(anchor_sizes=tuple(float(s) for s in anchor_sizes),
                    aspect_ratios=tuple(float(r) for r in aspect_ratios), batch_per_image=rpn_batch,
                    pre_nms_top_n=(4 * train_proposals, 4 * test_proposals),
                    post_nms_top_n=(train_proposals, test_proposals))
    roi = RoIConfig(pool=pool, hidden=hidden, batch_per_image=roi_batch,
                    detections_per_image=detections_per_image, **mask)
    return rpn, roi


@register_model(description="Faster R-CNN: an RPN and Fast R-CNN's heads on one feature map (detection)",
                paper="Ren et al. 2015, Faster R-CNN", year=2015, input_shape=(1, 64, 64), task="detection")
def faster_rcnn(num_classes: int = 10, in_channels: int = 1, backbone: str = "cifar_resnet8", width: float = 1.0,
                anchor_sizes: tuple[float, ...] = (12.0, 20.0, 28.0),
                aspect_ratios: tuple[float, ...] = (1.0, 1.5, 2.0), rpn_batch: int = 256,
                train_proposals: int = 48, test_proposals: int = 32, pool: str = "align", roi_batch: int = 32,
                hidden: int = 256, detections_per_image: int = 100) -> FasterRCNN:
    rpn, roi = digit_configs(anchor_sizes, aspect_ratios, rpn_batch, train_proposals, test_proposals, pool,
                             roi_batch, hidden, detections_per_image)
    return FasterRCNN(build_backbone(backbone, in_channels, width), num_classes, rpn, roi)
