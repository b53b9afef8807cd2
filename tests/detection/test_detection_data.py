"""DetectionSplit's flat layout and the generated digit_boxes data set."""
import pytest
import torch

from classicnets.data import dataset_info, load_dataset
from classicnets.detection.data import INK_THRESHOLD, DetectionDataset, DetectionSplit, load_digit_boxes
from classicnets.detection.ops import box_iou
from classicnets.errors import UserError

T = torch.tensor


def small_split():
    images = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    boxes = T([[0., 0., 1., 1.], [1., 1., 2., 2.], [2., 2., 4., 4.]])
    return DetectionSplit(images, boxes, T([5, 6, 7]), T([0, 2, 2, 3]))  # image 1 has no objects


def test_flat_objects_give_torchvision_targets_and_subsets():
    s = small_split()
    assert s.counts.tolist() == [2, 0, 1]
    assert s.target(0)["labels"].tolist() == [5, 6] and s.target(1)["boxes"].shape == (0, 4)
    assert [t["labels"].tolist() for t in s.targets] == [[5, 6], [], [7]]
    sub = s.subset([2, 1, 0])
    assert sub.offsets.tolist() == [0, 1, 1, 3] and sub.labels.tolist() == [7, 5, 6]
    assert sub.boxes[0].tolist() == [2., 2., 4., 4.]
    with pytest.raises(UserError, match="offsets must rise from 0 to the 3 objects over the 3 images"):
        DetectionSplit(s.images, s.boxes, s.labels, T([0, 2, 1, 3]))
    with pytest.raises(UserError, match=r"masks must be \(K, H, W\)"):
        DetectionSplit(s.images, s.boxes, s.labels, s.offsets, torch.zeros(3, 5, 5, dtype=torch.bool))


@pytest.fixture(scope="module")
def boxes_data():
    return load_dataset("digit_boxes", train=40, val=6, test=12, seed=3)


def test_digit_boxes_is_registered_and_shaped(boxes_data):
    info = dataset_info("digit_boxes")
    assert info.classes == 10 and info.input_shape == (1, 64, 64)
    d = boxes_data
    assert isinstance(d, DetectionDataset) and d.kind == "detection" and d.classes == [str(i) for i in range(10)]
    assert d.train.images.shape == (40, 1, 64, 64) and d.train.images.dtype == torch.uint8
    assert len(d.val) == 6 and len(d.test) == 12 and d.input_shape == (1, 64, 64)
    for s in (d.train, d.val, d.test):
        assert bool(((s.counts >= 1) & (s.counts <= 3)).all())
        assert s.masks.shape == (len(s.boxes), 64, 64) and s.masks.dtype == torch.bool
        assert bool(((s.labels >= 0) & (s.labels <= 9)).all())
    assert d.normalization().mean[0] > 0
    with pytest.raises(UserError, match="option size of data set 'digit_boxes' must be between 32 and 512"):
        load_dataset("digit_boxes", size=8)


def test_digit_boxes_objects_are_consistent(boxes_data):
    s = boxes_data.train
    sides = (s.boxes[:, 2:] - s.boxes[:, :2])
    assert bool((sides >= 1).all()) and bool((sides <= 32).all())
    for i in range(len(s)):
        t = s.target(i)
        iou = box_iou(t["boxes"], t["boxes"])
        assert torch.equal(iou > 0, torch.eye(len(iou), dtype=torch.bool))  # digits never overlap
        ink = torch.zeros(64, 64, dtype=torch.bool)
        for (x1, y1, x2, y2), mask in zip(t["boxes"].long().tolist(), t["masks"]):
            rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
            assert [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1] == [x1, y1, x2, y2]  # tight box
            ink |= mask
        # a mask is the pixels above a quarter of full ink: 4 / 16 * 255 = 63.75 before rounding
        image = s.images[i, 0]
        assert INK_THRESHOLD == 4.0
        assert bool(ink[image >= 65].all()) and bool((image[ink] >= 64).all())


def test_digit_boxes_is_reproducible_split_by_split():
    a = load_dataset("digit_boxes", train=5, val=0, test=4, seed=1)
    b = load_dataset("digit_boxes", train=9, val=0, test=4, seed=1)  # another train size: same test set
    c = load_dataset("digit_boxes", train=5, val=0, test=4, seed=2)
    assert a.val is None and torch.equal(a.test.images, b.test.images) and torch.equal(a.test.boxes, b.test.boxes)
    assert not torch.equal(a.test.images, c.test.images)
    with pytest.raises(UserError, match="has no 'val' split; it has train, test"):
        a.split("val")


def test_detection_data_sets_and_splits_print_short():
    data = load_digit_boxes(train=8, val=0, test=4, seed=0)
    text = repr(data)
    assert text.startswith("Dataset digit_boxes: 10 classes, images with boxes (1, 64, 64)")
    assert "splits: train 8 / test 4" in text and len(text) < 600 and "tensor(" not in text
    assert repr(data.train) == f"DetectionSplit(8 images (1, 64, 64), {len(data.train.boxes)} objects, masks)"
