"""Detection tests: a tiny stand-in detector with the detectors' interface, registered for a test and removed after.

It learns the first object of each image (its class from a 16x16 thumbnail, its box as
fractions of the image), so its losses fall within a few steps of a handful of images; with
`masks=True` it also learns a per-pixel mask logit. Evaluation gives one detection per image.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from classicnets.zoo import registry


class StubDetector(nn.Module):
    needs_proposals = False

    def __init__(self, num_classes: int = 10, in_channels: int = 1, masks: bool = False):
        super().__init__()
        self.num_classes, self.has_masks = num_classes, masks
        self.features = nn.Sequential(nn.AdaptiveAvgPool2d(16), nn.Flatten(), nn.Linear(in_channels * 256, 64), nn.ReLU())
        self.head = nn.Linear(64, num_classes + 4)
        self.mask = nn.Conv2d(in_channels, 1, 3, 1, 1) if masks else None

    def forward(self, images, targets=None):
        n, _, h, w = images.shape
        out = self.head(self.features(images))                                # (N, classes + 4)
        logits, box = out[:, :self.num_classes], torch.sigmoid(out[:, self.num_classes:])
        size = torch.tensor([w, h, w, h], dtype=box.dtype, device=box.device)
        if self.training:
            has = torch.tensor([len(t["boxes"]) > 0 for t in targets], device=images.device)
            first = [t["boxes"][:1] if len(t["boxes"]) else torch.zeros(1, 4, device=images.device) for t in targets]
            label = torch.stack([t["labels"][0] if len(t["labels"]) else torch.tensor(0, device=images.device)
                                 for t in targets])
            losses = {"cls": F.cross_entropy(logits[has], label[has]) if has.any() else logits.sum() * 0,
                      "box": F.l1_loss(box[has], (torch.cat(first) / size)[has]) if has.any() else box.sum() * 0}
            if self.mask is not None:
                m = torch.stack([t["masks"][0] if len(t["masks"]) else torch.zeros(h, w, dtype=torch.bool,
                                                                                  device=images.device) for t in targets])
                losses["mask"] = F.binary_cross_entropy_with_logits(self.mask(images)[:, 0], m.float())
            return losses
        x1y1 = torch.minimum(box[:, :2], box[:, 2:])
        x2y2 = torch.maximum(box[:, :2], box[:, 2:]) + 1e-3
        boxes = torch.cat([x1y1, x2y2], 1) * size
        p = torch.softmax(logits, 1)
        scores, labels = p.max(1)
        dets = [{"boxes": boxes[i:i + 1], "labels": labels[i:i + 1], "scores": scores[i:i + 1]} for i in range(n)]
        if self.mask is not None:
            m = torch.sigmoid(self.mask(images)[:, 0])
            for i, d in enumerate(dets):
                d["masks"] = m[i:i + 1]
        return dets


def stub_detector(num_classes: int = 10, in_channels: int = 1, masks: bool = False) -> StubDetector:
    return StubDetector(num_classes, in_channels, masks)


@pytest.fixture(scope="module")
def stub():
    """Registers `stub_detector` (task "detection") for the tests of one module."""
    info = registry.ModelInfo("stub_detector", stub_detector, "stub", "a test detector", "none", 2026, (1, 64, 64),
                              task="detection")
    registry.model_info("lenet")  # the real families first, so the stub is only added
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry._REGISTRY, "stub_detector", info)
        yield "stub_detector"


def _digit_boxes_with_proposals(train: int, jitter: float):
    """`train` digit_boxes training images, normalised, and their targets with precomputed proposals:
    a fixed grid of boxes plus each ground-truth box four times, jittered by `jitter` pixels (standard
    deviation), so that R-CNN's tests need no scikit-image."""
    from classicnets.detection.data import load_digit_boxes

    ds = load_digit_boxes(train=train, val=0, test=1)
    x = ds.normalization()(ds.train.images)
    g = torch.Generator().manual_seed(0)
    xs = torch.arange(0, 64, 8.0)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    grid = torch.cat([torch.cat([grid, grid + 16], 1), torch.cat([grid, grid + 28], 1)]).clamp(max=64)
    targets = []
    for t in ds.train.targets:
        noise = t["boxes"].repeat(4, 1) + torch.randn(4 * len(t["boxes"]), 4, generator=g) * jitter
        targets.append({**t, "proposals": torch.cat([grid, noise.clamp(0, 64)])})
    return x, targets


@pytest.fixture(scope="session")
def with_proposals():
    """`with_proposals(train, jitter)`: (images, targets with proposals) of digit_boxes."""
    return _digit_boxes_with_proposals
