"""Box operators against hand-computed cases, and RoI pooling against loop transcriptions of
torchvision's CPU kernels (csrc/ops/cpu/roi_pool_kernel.cpp, roi_align_kernel.cpp + roi_align_common.h)."""
import math
import numbers

import pytest
import torch
from torch.overrides import TorchFunctionMode

from classicnets.detection import ops
from classicnets.detection.ops import (
    BBOX_XFORM_CLIP,
    batched_nms,
    box_area,
    box_iou,
    decode_boxes,
    encode_boxes,
    make_anchors,
    match_boxes,
    nms,
    roi_align,
    roi_pool,
    sample_labels,
)
from classicnets.errors import UserError

T = torch.tensor


def test_area_and_iou_use_continuous_coordinates():
    a = T([[0., 0., 10., 10.], [1., 2., 4., 8.]])
    assert box_area(a).tolist() == [100.0, 18.0]
    b = T([[5., 5., 15., 15.], [10., 0., 20., 10.], [0., 0., 10., 10.], [2., 2., 4., 4.]])
    iou = box_iou(a[:1], b)
    # overlap 5x5 = 25 of union 100 + 100 - 25; touching edges share no area; inside: 4 / 100
    assert torch.allclose(iou, T([[25 / 175, 0.0, 1.0, 0.04]]))
    assert box_iou(a, b).shape == (2, 4) and box_iou(a[:0], b).shape == (0, 4)
    with pytest.raises(UserError, match=r"boxes1 must be a tensor of shape \(N, 4\)"):
        box_iou(T([1., 2., 3., 4.]), b)


def reference_nms(boxes, scores, threshold):
    """The sequential greedy algorithm, one box at a time, as torchvision's CPU kernel."""
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    over = (box_iou(boxes, boxes) > threshold).tolist()
    keep, dropped = [], set()
    for n, i in enumerate(order):
        if i in dropped:
            continue
        keep.append(i)
        dropped.update(j for j in order[n + 1:] if over[i][j])
    return keep


def test_nms_is_greedy_strict_and_sorted_by_score():
    # A overlaps B by 60 / 140 = 0.43 and B overlaps C as much; A and C only by 20 / 180 = 0.11.
    boxes = T([[0., 0., 10., 10.], [4., 0., 14., 10.], [8., 0., 18., 10.]])
    scores = T([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.4).tolist() == [0, 2]   # C survives: B, which overlaps it, was dropped
    assert nms(boxes, scores, 0.45).tolist() == [0, 1, 2]
    # IoU exactly 0.5 (50 / 100) is not above a 0.5 threshold
    half = T([[0., 0., 10., 10.], [0., 0., 10., 5.]])
    assert nms(half, T([0.5, 0.9]), 0.5).tolist() == [1, 0]
    assert nms(half, T([0.5, 0.9]), 0.49).tolist() == [1]
    # equal scores keep their input order
    assert nms(T([[0., 0., 1., 1.], [5., 5., 6., 6.]]), T([0.3, 0.3]), 0.5).tolist() == [0, 1]
    assert nms(boxes[:0], scores[:0], 0.5).dtype == torch.int64


@pytest.mark.parametrize("block", [7, 1024])
def test_nms_blocks_agree_with_the_sequential_algorithm(block):
    g = torch.Generator().manual_seed(block)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=g) * 40], 1)
    scores = torch.rand(200, generator=g).round(decimals=1)  # many ties
    for threshold in (0.2, 0.5, 0.8):
        assert nms(boxes, scores, threshold, block=block).tolist() == reference_nms(boxes, scores, threshold)


def test_batched_nms_suppresses_within_a_label_only():
    boxes = T([[0., 0., 10., 10.], [1., 1., 10., 10.], [0., 0., 10., 10.]])
    scores, labels = T([0.9, 0.8, 0.7]), T([0, 0, 1])
    assert batched_nms(boxes, scores, labels, 0.5).tolist() == [0, 2]
    # negative coordinates: torchvision's offset (max + 1 = 11) would make these two overlap by
    # IoU 0.5 across labels; the extent max - min + 1 keeps them apart
    neg = T([[-50., -50., 10., 10.], [-50., -50., 10., 10.]])
    assert batched_nms(neg, T([0.9, 0.8]), T([0, 1]), 0.4).tolist() == [0, 1]
    assert batched_nms(neg[:0], T([]), T([], dtype=torch.int64), 0.5).tolist() == []


def test_box_parametrisation_round_trips_and_clamps():
    proposal = T([[0., 0., 10., 10.]])        # centre (5, 5), 10 x 10
    reference = T([[2., 4., 12., 24.]])       # centre (7, 14), 10 x 20
    assert torch.allclose(encode_boxes(reference, proposal), T([[0.2, 0.9, 0.0, math.log(2)]]))
    weighted = encode_boxes(reference, proposal, (10., 10., 5., 5.))
    assert torch.allclose(weighted, T([[2.0, 9.0, 0.0, 5 * math.log(2)]]))
    assert torch.allclose(decode_boxes(weighted, proposal, (10., 10., 5., 5.)), reference)
    # tw = 10 is clamped to log(1000 / 16): the width grows 62.5 times, about the same centre
    wide = decode_boxes(T([[0., 0., 10., 0.]]), proposal)
    assert BBOX_XFORM_CLIP == pytest.approx(math.log(62.5))
    assert torch.allclose(wide, T([[5 - 312.5, 0., 5 + 312.5, 10.]]))
    # one set of deltas per class: (N, 4 * K) -> (N, 4 * K)
    per_class = decode_boxes(T([[0., 0., 0., 0., 0.2, 0.9, 0.0, math.log(2)]]), proposal)
    assert torch.allclose(per_class, T([[0., 0., 10., 10., 2., 4., 12., 24.]]))


GRID = torch.arange(16.).reshape(1, 1, 4, 4)  # value 4y + x at row y, column x


def test_roi_pool_hand_computed():
    rois = T([[0., 0., 0., 3., 3.],      # the whole map: quadrants
              [0., 0.4, 0.6, 2.5, 1.5],  # rounded half away from zero: x 0..3, y 1..2
              [0., 10., 10., 12., 12.]])  # outside the map: empty bins are 0
    out = roi_pool(GRID, rois, 2)
    assert out[0, 0].tolist() == [[5., 7.], [13., 15.]]
    assert out[1, 0].tolist() == [[5., 7.], [9., 11.]]  # torch.round would make x2 = 2 and give [[5, 6], [9, 10]]
    assert out[2, 0].tolist() == [[0., 0.], [0., 0.]]
    # 3 bins over 4 cells: floor / ceil make them overlap: rows 0-1, 1-2, 2-3
    assert roi_pool(GRID, rois[:1], (3, 3))[0, 0].tolist() == [[5., 6., 7.], [9., 10., 11.], [13., 14., 15.]]
    # spatial_scale 0.5: 0..7 -> cells 0..round(3.5) = 4, 5 cells (clipped to the map), bins of 2.5
    assert roi_pool(GRID, T([[0., 0., 0., 7., 7.]]), 2, spatial_scale=0.5)[0, 0].tolist() == [[10., 11.], [14., 15.]]


def test_roi_pool_batches_lists_and_gradients():
    x = torch.cat([GRID, -GRID]).requires_grad_()
    listed = roi_pool(x, [T([[0., 0., 3., 3.]]), T([[0., 0., 3., 3.]])], 2)
    assert listed[1, 0].tolist() == [[-0., -2.], [-8., -10.]]  # image 1's maxima: its least negative values
    assert torch.equal(listed, roi_pool(x, T([[0., 0., 0., 3., 3.], [1., 0., 0., 3., 3.]]), 2))
    listed[0].sum().backward()
    assert torch.nonzero(x.grad[0, 0].flatten()).flatten().tolist() == [5, 7, 13, 15]  # each bin's maximum
    assert roi_pool(GRID, T([]).reshape(0, 5), 7).shape == (0, 1, 7, 7)
    with pytest.raises(UserError, match="image index must be a whole number in 0..0"):
        roi_pool(GRID, T([[1., 0., 0., 1., 1.]]), 2)


def test_roi_align_hand_computed():
    # bilinear sampling of a linear map is exact: each output is 4 * mean(y) + mean(x) of its samples
    def one(box, **kw):
        return roi_align(GRID, T([[0., *box]]), 1, **kw).item()
    assert one([0, 0, 2, 2], sampling_ratio=2) == pytest.approx(5.0)                 # samples at 0.5, 1.5
    assert one([0, 0, 2, 2], sampling_ratio=2, aligned=True) == pytest.approx(2.5)   # shifted to 0, 1
    assert one([0, 0, 3, 3]) == pytest.approx(7.5)          # adaptive: ceil(3 / 1) = 3 samples, 0.5..2.5
    assert one([2, 2, 4, 4], sampling_ratio=2) == pytest.approx(4 * 2.75 + 2.75)  # 3.5 is read at row 3
    assert one([0, 0, 4, 4], sampling_ratio=2, spatial_scale=0.5) == pytest.approx(5.0)
    # x samples -1.5 (beyond -1: counts 0) and -0.5 (read at 0); y 0.5 and 1.5: (2 + 6) / 4 samples
    assert one([-2, 0, 0, 2], sampling_ratio=2) == pytest.approx(2.0)
    assert one([-3, -3, -1, -1], sampling_ratio=2) == 0.0
    x = torch.rand(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: roi_align(t, T([[0., 0.3, 0.7, 3.9, 4.2]], dtype=torch.float64), 2,
                                                        sampling_ratio=2, aligned=True), (x,))


def kernel_roi_pool(x, rois, ph, pw, scale):
    """roi_pool_forward_kernel_impl, loop for loop (in float32, as the kernel computes)."""
    f32 = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    out = torch.zeros(len(rois), x.shape[1], ph, pw)
    h, w = x.shape[2:]
    for n, r in enumerate(rois.tolist()):
        b = int(r[0])
        c_round = lambda v: int(math.copysign(math.floor(abs(v) + 0.5), v))  # noqa: E731  C's round()
        sw, sh, ew, eh = (c_round(float(f32(v) * scale)) for v in r[1:])
        bin_h, bin_w = f32(max(eh - sh + 1, 1)) / ph, f32(max(ew - sw + 1, 1)) / pw
        for i in range(ph):
            for j in range(pw):
                hs = min(max(int(torch.floor(f32(i) * bin_h)) + sh, 0), h)
                he = min(max(int(torch.ceil(f32(i + 1) * bin_h)) + sh, 0), h)
                ws = min(max(int(torch.floor(f32(j) * bin_w)) + sw, 0), w)
                we = min(max(int(torch.ceil(f32(j + 1) * bin_w)) + sw, 0), w)
                if he > hs and we > ws:
                    out[n, :, i, j] = x[b, :, hs:he, ws:we].amax(dim=(1, 2))
    return out


def kernel_roi_align(x, rois, ph, pw, scale, ratio, aligned):
    """roi_align_forward_kernel_impl with pre_calc_for_bilinear_interpolate, loop for loop."""
    out = torch.zeros(len(rois), x.shape[1], ph, pw, dtype=torch.float64)
    h, w = x.shape[2:]
    for n, r in enumerate(rois.tolist()):
        b, off = int(r[0]), 0.5 if aligned else 0.0
        x1, y1, x2, y2 = (v * scale - off for v in r[1:])
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = ratio if ratio > 0 else math.ceil(rh / ph)
        gw = ratio if ratio > 0 else math.ceil(rw / pw)
        for i in range(ph):
            for j in range(pw):
                acc = torch.zeros(x.shape[1], dtype=torch.float64)
                for iy in range(gh):
                    for ix in range(gw):
                        yy = y1 + i * bh + (iy + .5) * bh / gh
                        xx = x1 + j * bw + (ix + .5) * bw / gw
                        if not (-1.0 <= yy <= h and -1.0 <= xx <= w):
                            continue
                        yy, xx = max(yy, 0.0), max(xx, 0.0)
                        yl, xl = int(yy), int(xx)
                        if yl >= h - 1:
                            yh = yl = h - 1
                            yy = float(yl)
                        else:
                            yh = yl + 1
                        if xl >= w - 1:
                            xh = xl = w - 1
                            xx = float(xl)
                        else:
                            xh = xl + 1
                        ly, lx = yy - yl, xx - xl
                        acc += ((1 - ly) * (1 - lx) * x[b, :, yl, xl] + (1 - ly) * lx * x[b, :, yl, xh]
                                + ly * (1 - lx) * x[b, :, yh, xl] + ly * lx * x[b, :, yh, xh]).double()
                out[n, :, i, j] = acc / max(gh * gw, 1)
    return out


def test_roi_align_on_many_rois_per_map_and_on_one_channel_masks_matches_the_kernel():
    """The layout the detectors' heads use (many RoIs on few maps: two matrix products per image; one
    channel: each RoI's map gathered), values against the kernel loop, gradients by gradcheck."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 16, 16, dtype=torch.float64, generator=g)
    rois = []
    for n in (4, 0, 7):
        xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 50
        rois.append(torch.cat([xy, xy + 0.5 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 30], 1))
    rows = torch.cat([torch.cat([torch.full((len(r), 1), float(i), dtype=torch.float64), r], 1)
                      for i, r in enumerate(rois)])
    for ratio in (-1, 2):
        assert torch.allclose(roi_align(x, rois, 7, 0.25, ratio), kernel_roi_align(x, rows, 7, 7, 0.25, ratio, False),
                              atol=1e-12)
    masks = torch.rand(4, 1, 20, 20, dtype=torch.float64, generator=g)
    crop = torch.tensor([[3, 1, 1, 10, 12], [0, 0, 0, 20, 20], [3, 5, 2, 9, 9]], dtype=torch.float64)
    assert torch.allclose(roi_align(masks, crop, 28), kernel_roi_align(masks, crop, 28, 28, 1.0, -1, False), atol=1e-12)
    small = x[:2, :2, :8, :8].clone().requires_grad_()
    two = [r[:2] * 0.4 for r in rois[:1]] + [rois[2][:2] * 0.4]
    assert torch.autograd.gradcheck(lambda t: roi_align(t, two, 3, 0.5, 2), (small,))
    crop_small = crop.clone()
    crop_small[:, 1:] *= 0.3
    assert torch.autograd.gradcheck(lambda t: roi_align(t, crop_small, 3), (masks[:, :, :8, :8].clone().requires_grad_(),))


def test_roi_pool_and_align_match_the_kernels_on_awkward_boxes():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 11, generator=g)
    rois = T([[0, 1.2, 0.7, 8.6, 7.3], [1, -3, -2, 4.5, 3.5], [0, 5, 5, 5, 5], [1, 7.5, 2.5, 30, 30],
              [0, 10.9, 8.9, 10.9, 8.9], [1, 0, 0, 2.5, 0.5], [0, 3.4, 2.2, 1.1, 1.0]])
    for scale in (1.0, 0.5):
        for ph, pw in ((2, 2), (3, 4)):
            assert torch.allclose(roi_pool(x, rois, (ph, pw), scale), kernel_roi_pool(x, rois, ph, pw, scale))
            for ratio in (-1, 2):
                for aligned in (False, True):
                    got = roi_align(x, rois, (ph, pw), scale, ratio, aligned).double()
                    assert torch.allclose(got, kernel_roi_align(x, rois, ph, pw, scale, ratio, aligned), atol=1e-5)


def test_anchors_as_torchvision_anchor_generator():
    a = make_anchors((2, 3), 16, sizes=(32,), aspect_ratios=(0.5, 1.0, 2.0))
    assert a.shape == (2 * 3 * 3, 4)
    # 32^2 areas with height / width 0.5, 1, 2: widths 45.25, 32, 22.63, halved and rounded
    assert a[:3].tolist() == [[-23., -11., 23., 11.], [-16., -16., 16., 16.], [-11., -23., 11., 23.]]
    assert a[3].tolist() == [-23 + 16., -11., 23 + 16., 11.]          # next cell: x + 16
    assert a[-1].tolist() == [-11 + 32., -23 + 16., 11 + 32., 23 + 16.]  # last cell (y 1, x 2), ratio 2
    # ratio-major, then size; halves round to even (torch.round): 3 / 2 = 1.5 -> 2
    b = make_anchors(1, 16, sizes=(3, 64), aspect_ratios=(1.0, 4.0))
    assert b.tolist() == [[-2., -2., 2., 2.], [-32., -32., 32., 32.], [-1., -3., 1., 3.], [-16., -64., 16., 64.]]
    with pytest.raises(UserError, match="positive numbers"):
        make_anchors(2, 16, sizes=(0,))


def test_matcher_thresholds_and_low_quality_matches():
    iou = T([[0.9, 0.5, 0.1, 0.0, 0.2],
             [0.1, 0.6, 0.25, 0.0, 0.65]])
    # best per prediction: 0.9 (gt 0), 0.6 (between), 0.25 and 0.0 (background), 0.65 (between)
    assert match_boxes(iou, allow_low_quality=False).tolist() == [0, -2, -1, -1, -2]
    # gt 1 claims prediction 4, its best overlap, though 0.65 < 0.7
    assert match_boxes(iou).tolist() == [0, -2, -1, -1, 1]
    # ties for a ground truth's best are all claimed; each goes to its own best ground truth
    tie = T([[0.4, 0.4, 0.1], [0.1, 0.45, 0.2]])
    assert match_boxes(tie).tolist() == [0, 1, -1]
    # a ground truth overlapping nothing claims nothing (torchvision would claim every prediction)
    assert match_boxes(T([[0.8, 0.1, 0.0], [0.0, 0.0, 0.0]])).tolist() == [0, -1, -1]
    assert match_boxes(torch.zeros(0, 4)).tolist() == [-1, -1, -1, -1]
    with pytest.raises(UserError, match="low IoU threshold must not exceed"):
        match_boxes(iou, high=0.3, low=0.7)


def test_sampler_balances_and_is_reproducible():
    labels = T([1, 0, 0, -1, 2, 0, 0, 1, -1, 0])   # positives 0, 4, 7; negatives 1, 2, 5, 6, 9
    pos, neg = sample_labels(labels, 4, 0.5, torch.Generator().manual_seed(0))
    assert int(pos.sum()) == 2 and int(neg.sum()) == 2
    assert bool((labels[pos] >= 1).all()) and bool((labels[neg] == 0).all())
    pos, neg = sample_labels(labels, 10, 0.5)      # too few of each: all 3 positives, all 5 negatives
    assert pos.tolist() == (labels >= 1).tolist() and neg.tolist() == (labels == 0).tolist()
    draws = [sample_labels(labels, 3, 0.34, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(draws[0][0], draws[1][0]) and torch.equal(draws[0][1], draws[1][1])
    assert int(draws[0][0].sum()) == 1 and int(draws[0][1].sum()) == 2  # int(3 * 0.34) = 1 positive


class CudaScalarDivision(TorchFunctionMode):
    """Divide a float tensor by a Python number as PyTorch's CUDA kernel does: times the reciprocal
    (rounded to the tensor's type), which can be one unit in the last place off true division."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.__truediv__, torch.Tensor.div, torch.div, torch.true_divide) and not kwargs \
                and len(args) == 2 and isinstance(args[0], torch.Tensor) and args[0].is_floating_point() \
                and isinstance(args[1], numbers.Number):
            return args[0] * float(torch.tensor(1.0 / args[1], dtype=args[0].dtype))
        return func(*args, **(kwargs or {}))


def test_roi_pool_and_align_do_not_depend_on_how_the_device_divides_by_a_number():
    """On an H200, roi_pool differed from torchvision's by whole feature values: CUDA's reciprocal
    division moved bin edges across a cell. These boxes are from that run (bench/gpu_smoke.py)."""
    feat = torch.randn(2, 8, 40, 40, generator=torch.Generator().manual_seed(1))
    rois = torch.tensor([[1.0, 107.86426544189453, 137.63975524902344, 224.27816772460938, 251.61203002929688],
                         [0.0, 107.47550201416016, 71.73416900634766, 128.2299346923828, 89.79804229736328],
                         [1.0, 21.236648559570312, 27.886310577392578, 91.506591796875, 35.85242462158203]])
    cells = torch.arange(1.0, 200.0)
    with CudaScalarDivision():
        assert not torch.equal(cells / 7, cells.clone().div_(7))  # the emulation is live: some quotients move
        pooled = ops.roi_pool(feat, rois, 7, 0.125)
        aligned = [ops.roi_align(feat, rois, 7, 0.125, -1, a) for a in (False, True)]
    assert torch.equal(pooled, ops.roi_pool(feat, rois, 7, 0.125))
    for got, a in zip(aligned, (False, True)):
        assert torch.equal(got, ops.roi_align(feat, rois, 7, 0.125, -1, a))


@pytest.mark.parametrize("op", [ops.roi_pool, ops.roi_align])
def test_roi_operators_work_in_float32_under_bf16_autocast(op):
    """As torchvision's autocast registration: boxes are not rounded to bfloat16 (60.3 would become
    60.25) and roi_align's products are not run in bf16; the result comes back in the input's type."""
    feat = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(2))
    boxes = [T([[3.3, 7.7, 40.95, 51.9], [10.1, 2.2, 30.7, 41.3]])]  # 40.95 is 41.0 in bfloat16: a cell further
    exact = op(feat, boxes, 5, 0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        same = op(feat, boxes, 5, 0.5)
    assert same.dtype == torch.float32 and torch.equal(same, exact)
    low = op(feat.bfloat16(), boxes, 5, 0.5)
    assert low.dtype == torch.bfloat16
    assert torch.equal(low, op(feat.bfloat16().float(), boxes, 5, 0.5).bfloat16())
