"""Box operators of the R-CNN line in plain, vectorised torch: IoU, non-maximum suppression, the box
parametrisation, RoI pooling and RoIAlign, anchors, and the RPN's target assignment and sampling.

Each reproduces the torchvision operator of the same name, read from its source (torchvision's
compiled ops do not load against every torch build, so nothing here calls them):
- `box_area`, `box_iou`, `nms`, `batched_nms`: torchvision/ops/boxes.py and the CPU nms kernel;
- `encode_boxes`, `decode_boxes`: models/detection/_utils.py `BoxCoder` (R-CNN, Girshick et al. 2014,
  appendix C: tx = (Gx - Px) / Pw, ty = (Gy - Py) / Ph, tw = log(Gw / Pw), th = log(Gh / Ph));
- `roi_pool`: csrc/ops/cpu/roi_pool_kernel.cpp (Fast R-CNN, Girshick 2015, section 2.1);
- `roi_align`: csrc/ops/cpu/roi_align_kernel.cpp (Mask R-CNN, He et al. 2017, section 3);
- `make_anchors`: models/detection/anchor_utils.py `AnchorGenerator` (Faster R-CNN, Ren et al. 2015,
  section 3.1.1);
- `match_boxes`, `sample_labels`: `Matcher` and `BalancedPositiveNegativeSampler` in
  models/detection/_utils.py (Faster R-CNN section 3.1.3).

Boxes are (x1, y1, x2, y2) in continuous pixel coordinates, torchvision's convention: a box over
pixel columns 0..9 has x1 = 0, x2 = 10 and width x2 - x1 (no +1).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

from ..errors import UserError

BBOX_XFORM_CLIP = math.log(1000.0 / 16)  # decode_boxes: largest log-scale change (a 62.5x larger box)
BELOW_LOW_THRESHOLD = -1                   # match_boxes: background
BETWEEN_THRESHOLDS = -2                    # match_boxes: neither, left out of the loss
_CHUNK_ELEMENTS = 1 << 24                  # roi_pool / roi_align: largest intermediate, in elements


def _check_boxes(boxes: torch.Tensor, name: str = "boxes") -> None:
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise UserError(f"{name} must be a tensor of shape (N, 4) holding x1, y1, x2, y2; got {shape}")


def _pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise UserError(f"{name} must be positive; got {size}")
    return int(h), int(w)


# -- boxes ----------------------------------------------------------------------------------------
def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """(N,) areas of (N, 4) boxes."""
    _check_boxes(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """(N, M) intersection over union of every box of `boxes1` (N, 4) with every box of `boxes2` (M, 4).
    Two empty boxes give NaN (0 / 0), as in torchvision."""
    _check_boxes(boxes1, "boxes1")
    _check_boxes(boxes2, "boxes2")
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2) top-left of the overlap
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2) bottom-right
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]                                # (N, M)
    return inter / (box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter)


# -- non-maximum suppression ----------------------------------------------------------------------
def _suppresses(a: torch.Tensor, b: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """(N, M) whether box a[i] overlaps box b[j] by an IoU above the threshold: `box_iou` > threshold
    with the arithmetic in torchvision's CPU kernel's order (inter / (area_i + area_j - inter)), done in
    place on (N, M) tensors, since this is where NMS spends its time."""
    inter = torch.minimum(a[:, None, 2], b[None, :, 2])
    inter -= torch.maximum(a[:, None, 0], b[None, :, 0])
    inter.clamp_(min=0)
    h = torch.minimum(a[:, None, 3], b[None, :, 3])
    h -= torch.maximum(a[:, None, 1], b[None, :, 1])
    inter *= h.clamp_(min=0)
    union = box_area(a)[:, None] + box_area(b)[None, :]
    union -= inter
    return inter.div_(union) > iou_threshold


def _greedy_keep(over: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Which boxes greedy NMS keeps among a block in decreasing score order, given `over[i, j]` (box i,
    ranked above j, overlaps it by more than the threshold) and `alive` (not already suppressed).

    A box is kept as soon as no undecided box ranked above it could suppress it (each box that could
    has been dropped); keeping it drops the boxes it overlaps. Every pass settles at least the first
    undecided box, usually many: exactly the sequential greedy result, a few passes of whole-block
    tensor operations instead of one Python step per box."""
    keep = torch.zeros_like(alive)
    alive = alive.clone()
    while bool(alive.any()):
        free = alive & ~(over & alive[:, None]).any(0)
        keep |= free
        alive &= ~free & ~over[free].any(0)
    return keep


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, *, block: int = 1024) -> torch.Tensor:
    """Indices of the boxes greedy non-maximum suppression keeps, in decreasing order of score: going
    down the scores, a box is dropped when its IoU with a box already kept is above `iou_threshold`
    (strictly, as torchvision). Equal scores keep their input order (a stable sort).

    Boxes are taken `block` at a time in score order: each block is first checked against the boxes
    kept so far, then settled within itself (`_greedy_keep`), so memory stays O(N * block) rather than
    the O(N^2) of a full IoU matrix."""
    _check_boxes(boxes)
    if scores.shape != (len(boxes),):
        raise UserError(f"scores must be one per box, shape ({len(boxes)},); got {tuple(scores.shape)}")
    if len(boxes) == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    ranked = boxes[order]
    keep = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    for start in range(0, len(boxes), block):
        blk = ranked[start:start + block]
        alive = torch.ones(len(blk), dtype=torch.bool, device=boxes.device)
        kept = ranked[:start][keep[:start]]
        if len(kept):
            alive &= ~_suppresses(kept, blk, iou_threshold).any(0)
        over = _suppresses(blk, blk, iou_threshold).triu(1)  # (B, B): only higher-ranked boxes suppress
        keep[start:start + len(blk)] = _greedy_keep(over, alive)
    return order[keep]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """`nms` within each label, never across labels, in one call: torchvision's coordinate trick shifts
    each label's boxes by label * (extent of all boxes + 1), so boxes of different labels cannot
    overlap. The extent is torchvision's `max + 1` when no coordinate is negative and also covers
    negative coordinates, which torchvision's `max + 1` alone does not. Kept indices, by decreasing score."""
    _check_boxes(boxes)
    if labels.shape != (len(boxes),):
        raise UserError(f"labels must be one per box, shape ({len(boxes)},); got {tuple(labels.shape)}")
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    extent = boxes.max() - boxes.min().clamp(max=0) + 1
    return nms(boxes + (labels.to(boxes) * extent)[:, None], scores, iou_threshold)


# -- the box parametrisation ----------------------------------------------------------------------
def _centres(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode_boxes(reference: torch.Tensor, proposals: torch.Tensor,
                 weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """(N, 4) regression targets (tx, ty, tw, th) that move each proposal onto its reference
    (ground-truth) box: centre shifts in units of the proposal's size and log size ratios, each times
    its weight (Fast R-CNN's box head uses (10, 10, 5, 5), the RPN (1, 1, 1, 1))."""
    _check_boxes(reference, "reference")
    _check_boxes(proposals, "proposals")
    if len(reference) != len(proposals):
        raise UserError(f"reference and proposals must pair up; got {len(reference)} and {len(proposals)} boxes")
    wx, wy, ww, wh = weights
    px, py, pw, ph = _centres(proposals)
    gx, gy, gw, gh = _centres(reference)
    return torch.stack((wx * (gx - px) / pw, wy * (gy - py) / ph,
                        ww * torch.log(gw / pw), wh * torch.log(gh / ph)), dim=1)


def decode_boxes(deltas: torch.Tensor, proposals: torch.Tensor,
                 weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
                 clip: float = BBOX_XFORM_CLIP) -> torch.Tensor:
    """The boxes that `deltas` (N, 4) or (N, 4 * K), one set per class) make of `proposals` (N, 4):
    the inverse of `encode_boxes`. tw and th are clamped at `clip` (log(1000 / 16)) first, as
    torchvision does, so exp() cannot overflow on an untrained network's output."""
    _check_boxes(proposals, "proposals")
    if deltas.ndim != 2 or deltas.shape[1] % 4 or len(deltas) != len(proposals):
        raise UserError(f"deltas must be (N, 4 * K) for {len(proposals)} proposals; got {tuple(deltas.shape)}")
    return apply_deltas(deltas, proposals.to(deltas.dtype), weights, clip)


def apply_deltas(deltas: torch.Tensor, proposals: torch.Tensor,
                 weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
                 clip: float = BBOX_XFORM_CLIP) -> torch.Tensor:
    """`decode_boxes`'s arithmetic without its argument checks, for callers that have checked them
    (or cannot: `torch.export` would fix the data-dependent number of proposals that `len()` reads)."""
    wx, wy, ww, wh = weights
    px, py, pw, ph = (v[:, None] for v in _centres(proposals))  # (N, 1) each
    dx, dy = deltas[:, 0::4] / wx, deltas[:, 1::4] / wy           # (N, K) each
    dw = (deltas[:, 2::4] / ww).clamp(max=clip)
    dh = (deltas[:, 3::4] / wh).clamp(max=clip)
    cx, cy = dx * pw + px, dy * ph + py
    w, h = torch.exp(dw) * pw, torch.exp(dh) * ph
    return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=2).flatten(1)  # (N, 4K)


# -- RoI pooling ----------------------------------------------------------------------------------
def _as_rois(boxes: torch.Tensor | Sequence[torch.Tensor], input: torch.Tensor) -> torch.Tensor:
    """(K, 5) rows of (batch index, x1, y1, x2, y2) from either that tensor or one (L, 4) tensor per image."""
    if isinstance(boxes, torch.Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise UserError(f"boxes must be (K, 5) rows of (image index, x1, y1, x2, y2) or a list of (L, 4) "
                            f"tensors, one per image; got a tensor of shape {tuple(boxes.shape)}")
        rois = boxes
    else:
        for b in boxes:
            _check_boxes(b)
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], 1) for i, b in enumerate(boxes)]) \
            if len(boxes) else input.new_zeros((0, 5))
    if input.ndim != 4:
        raise UserError(f"input must be feature maps (N, C, H, W); got shape {tuple(input.shape)}")
    rois = rois.to(input.dtype)
    if len(rois) and not bool(((rois[:, 0] >= 0) & (rois[:, 0] < len(input)) & (rois[:, 0] == rois[:, 0].round())).all()):
        raise UserError(f"every box's image index must be a whole number in 0..{len(input) - 1}")
    return rois


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's round(): halves away from zero (torch.round rounds them to even)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _div(x: torch.Tensor, n: int) -> torch.Tensor:
    """x / n rounded as IEEE division on every device. CUDA divides a tensor by a Python number as
    x * (1 / n), which can be one unit in the last place off: enough to move a bin edge across a
    whole cell after floor or ceil (found on an H200: roi_pool differed from torchvision's by whole
    values). Dividing by a tensor is a true division there as on the CPU."""
    return x / torch.tensor(n, dtype=x.dtype, device=x.device)


def _chunk_size(per_item: int) -> int:
    """How many boxes to process at once when each needs `per_item` elements of intermediate."""
    return max(1, _CHUNK_ELEMENTS // max(per_item, 1))


def _in_float32(op):
    """Run a RoI operator in float32 with autocast off, and give the result in the input's type, as
    torchvision registers its RoI operators for autocast: in bfloat16 a box corner at x = 60.3
    becomes 60.25 and bin edges move, and autocast would run roi_align's matrix products in bf16."""
    @functools.wraps(op)
    def run(input: torch.Tensor, boxes, *args, **kwargs) -> torch.Tensor:
        low = input.dtype in (torch.float16, torch.bfloat16)
        if not low and not torch.is_autocast_enabled(input.device.type):
            return op(input, boxes, *args, **kwargs)
        if isinstance(boxes, torch.Tensor):
            boxes = boxes.float()
        else:
            boxes = [b.float() for b in boxes]
        with torch.autocast(input.device.type, enabled=False):
            return op(input.float(), boxes, *args, **kwargs).to(input.dtype)
    return run


@_in_float32
def roi_pool(input: torch.Tensor, boxes: torch.Tensor | Sequence[torch.Tensor], output_size: int | Sequence[int],
             spatial_scale: float = 1.0) -> torch.Tensor:
    """Fast R-CNN's RoI max pooling, as torchvision.ops.roi_pool: (K, C, out_h, out_w).

    Each box is scaled by `spatial_scale` and rounded to whole feature cells (halves away from zero);
    it spans round(x2) - round(x1) + 1 cells (at least 1). Bin i of n covers cells
    floor(i * size / n) .. ceil((i + 1) * size / n) - 1 (computed in the input's float type, as the
    kernel does), clipped to the map; an empty bin gives 0. Bins may overlap by a cell. `boxes` is (K, 5)
    (image index, x1, y1, x2, y2) or one (L, 4) tensor per image. Gradients reach the input through
    each bin's maximum, as torchvision's backward does.

    Max pooling is separable: the maximum over rows of each bin, then over its columns, each a gather
    of bin-sized windows, in chunks of boxes so the intermediate stays bounded."""
    rois = _as_rois(boxes, input)
    out_h, out_w = _pair(output_size, "output_size")
    n, c, height, width = input.shape
    k = len(rois)
    if k == 0 or c == 0:
        return input.new_zeros((k, c, out_h, out_w))
    dt, dev = input.dtype, input.device
    start = _round_half_away(rois[:, 1:] * torch.tensor(spatial_scale, dtype=dt, device=dev)).long()  # (K, 4)
    batch = rois[:, 0].long()

    def bins(lo: torch.Tensor, hi: torch.Tensor, pooled: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        extent = (hi - lo + 1).clamp(min=1).to(dt)                    # (K,) cells
        bin_size = _div(extent, pooled)[:, None]
        p = torch.arange(pooled, dtype=dt, device=dev)[None]
        first = (torch.floor(p * bin_size).long() + lo[:, None]).clamp(0, size)   # (K, pooled)
        end = (torch.ceil((p + 1) * bin_size).long() + lo[:, None]).clamp(0, size)
        return first, end

    hs, he = bins(start[:, 1], start[:, 3], out_h, height)
    ws, we = bins(start[:, 0], start[:, 2], out_w, width)
    bh = max(int((he - hs).max()), 1)  # the tallest bin: rows gathered per bin
    bw = max(int((we - ws).max()), 1)
    row_off = torch.arange(bh, device=dev)
    col_off = torch.arange(bw, device=dev)
    out = []
    step = _chunk_size(out_h * bh * c * width)
    for i in range(0, k, step):
        sl = slice(i, i + step)
        rows = hs[sl, :, None] + row_off                                # (k, out_h, bh)
        rows_ok = rows < he[sl, :, None]
        x = input[batch[sl, None, None], :, rows.clamp(max=height - 1), :]  # (k, out_h, bh, C, W)
        x = x.masked_fill(~rows_ok[..., None, None], -math.inf).max(dim=2).values  # (k, out_h, C, W)
        cols = ws[sl, :, None] + col_off                                # (k, out_w, bw)
        cols_ok = cols < we[sl, :, None]
        kk = torch.arange(len(rows), device=dev)[:, None, None, None]
        pp = torch.arange(out_h, device=dev)[None, :, None, None]
        y = x[kk, pp, :, cols.clamp(max=width - 1)[:, None]]            # (k, out_h, out_w, bw, C)
        y = y.masked_fill(~cols_ok[:, None, :, :, None], -math.inf).max(dim=3).values  # (k, out_h, out_w, C)
        empty = (he[sl] <= hs[sl])[:, :, None] | (we[sl] <= ws[sl])[:, None, :]
        out.append(y.masked_fill(empty[..., None], 0).permute(0, 3, 1, 2))
    return torch.cat(out)


def _sampling_weights(start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, pooled: int,
                      size: int) -> torch.Tensor:
    """(K, pooled, size) weights of the map's rows (or columns) in each bin's average of bilinear
    samples along one axis, torchvision's kernel separated by axis: sample i of a bin of `grid`
    samples sits at start + p * bin + (i + 0.5) * bin / grid; a sample beyond [-1, size] counts as
    zero; one below 0 is read at 0 and one past size - 1 at size - 1."""
    k = len(start)
    dt, dev = start.dtype, start.device
    g = max(int(grid.max()), 1) if k else 1
    p = torch.arange(pooled, dtype=dt, device=dev)[None, :, None]
    i = torch.arange(g, dtype=dt, device=dev)[None, None, :]
    b, n = bin_size[:, None, None], grid[:, None, None]
    pos = start[:, None, None] + p * b + (i + 0.5) * b / n.clamp(min=1).to(dt)  # (K, pooled, g)
    ok = (i < n) & (pos >= -1) & (pos <= size)                                    # NaN fails too
    pos = torch.where(ok, pos, torch.zeros_like(pos)).clamp(min=0)
    low = pos.floor().long()
    edge = low >= size - 1
    low = torch.where(edge, torch.full_like(low, size - 1), low)
    high = torch.where(edge, low, low + 1)
    frac = torch.where(edge, torch.zeros_like(pos), pos - low.to(dt))
    per = 1 / n.clamp(min=1).to(dt)  # this axis's share of the bin's 1 / count
    w_low = torch.where(ok, (1 - frac) * per, torch.zeros_like(pos))
    w_high = torch.where(ok, frac * per, torch.zeros_like(pos))
    weights = torch.zeros((k, pooled, size), dtype=dt, device=dev)
    return weights.scatter_add(2, low, w_low).scatter_add(2, high, w_high)


@_in_float32
def roi_align(input: torch.Tensor, boxes: torch.Tensor | Sequence[torch.Tensor], output_size: int | Sequence[int],
              spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    """Mask R-CNN's RoIAlign, as torchvision.ops.roi_align: (K, C, out_h, out_w), each bin the average
    of bilinear samples on a regular grid, with no rounding of the box.

    `sampling_ratio` > 0 takes that many samples per bin along each axis; otherwise
    ceil(box size / output size) (per box). `aligned=True` shifts the box by -0.5 cell so sample
    positions line up with pixel centres (Detectron2); `aligned=False`, the legacy form, also stretches
    boxes smaller than one cell to one cell.

    Bilinear sampling is separable, so each box's output is Wy @ features @ Wx^T: (out_h, H) row
    weights and (W, out_w) column weights applied by two matrix products per image, in chunks of boxes
    (one map and many boxes, as a detector's heads have, cost two products, not a copy of the map per
    box). Differentiable with respect to the input."""
    rois = _as_rois(boxes, input)
    out_h, out_w = _pair(output_size, "output_size")
    n, c, height, width = input.shape
    k = len(rois)
    if k == 0 or c == 0:
        return input.new_zeros((k, c, out_h, out_w))
    offset = 0.5 if aligned else 0.0
    coords = rois[:, 1:] * spatial_scale - offset  # (K, 4), no rounding
    x1, y1 = coords[:, 0], coords[:, 1]
    roi_w, roi_h = coords[:, 2] - x1, coords[:, 3] - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    bin_h, bin_w = _div(roi_h, out_h), _div(roi_w, out_w)
    if sampling_ratio > 0:
        grid_h = grid_w = torch.full((k,), sampling_ratio, dtype=torch.int64, device=input.device)
    else:
        grid_h, grid_w = torch.ceil(bin_h).long(), torch.ceil(bin_w).long()
    wy = _sampling_weights(y1, bin_h, grid_h, out_h, height)  # (K, out_h, H)
    wx = _sampling_weights(x1, bin_w, grid_w, out_w, width)   # (K, out_w, W)
    batch = rois[:, 0].long()
    if c == 1:  # masks: each RoI's own map gathered, (K, out_h, H) @ (K, H, W) @ (K, W, out_w)
        return (wy @ input[batch, 0] @ wx.transpose(1, 2))[:, None]
    # many RoIs on few maps: two plain matrix products per image, never a copy of the map per RoI,
    # (k * out_h, H) @ (H, C * W), then per RoI (out_h * C, W) @ (W, out_w)
    parts, where = [], []
    step = _chunk_size(c * out_h * width)
    for b in batch.unique().tolist():
        sel = torch.nonzero(batch == b).flatten()
        plane = input[b].permute(1, 0, 2).reshape(height, c * width)    # (H, C * W)
        for i in range(0, len(sel), step):
            s = sel[i:i + step]
            m = len(s)
            rows = wy[s].reshape(m * out_h, height) @ plane                  # (m * out_h, C * W)
            cols = rows.view(m, out_h * c, width) @ wx[s].transpose(1, 2)   # (m, out_h * C, out_w)
            parts.append(cols.view(m, out_h, c, out_w).permute(0, 2, 1, 3))  # (m, C, out_h, out_w)
            where.append(s)
    result = torch.cat(parts)
    return result[torch.argsort(torch.cat(where))] if len(parts) > 1 else result


# -- anchors and the RPN's training targets -------------------------------------------------------
def make_anchors(feature_size: int | Sequence[int], stride: int | Sequence[int],
                 sizes: Sequence[float] = (128, 256, 512), aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """(H * W * A, 4) anchor boxes for one feature map of `feature_size` (H, W) cells `stride` pixels
    apart, as torchvision's AnchorGenerator: A = len(aspect_ratios) * len(sizes) anchors per cell,
    ordered by ratio then size, each of area size^2 and height / width = ratio, rounded to whole
    pixels (half to even, torch.round) and centred on the cell's top-left corner (x * stride,
    y * stride). Rows run over cells row by row (y, then x), then over the A anchors."""
    fh, fw = _pair(feature_size, "feature_size")
    sh, sw = _pair(stride, "stride")
    scales = torch.as_tensor(sizes, dtype=dtype, device=device)
    ratios = torch.as_tensor(aspect_ratios, dtype=dtype, device=device)
    if scales.ndim != 1 or ratios.ndim != 1 or not len(scales) or not len(ratios) \
            or bool((scales <= 0).any()) or bool((ratios <= 0).any()):
        raise UserError(f"anchor sizes and aspect ratios must be non-empty lists of positive numbers; "
                        f"got {list(sizes)} and {list(aspect_ratios)}")
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)  # (A,) ratio-major
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    base = (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()  # (A, 4), centred on 0
    shift_y, shift_x = torch.meshgrid(torch.arange(fh, device=device) * sh, torch.arange(fw, device=device) * sw,
                                      indexing="ij")
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=-1).reshape(-1, 1, 4).to(dtype)  # (H*W, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def match_boxes(iou_matrix: torch.Tensor, high: float = 0.7, low: float = 0.3,
                allow_low_quality: bool = True) -> torch.Tensor:
    """(N,) int64: for each of N predictions (anchors or proposals), the ground-truth box it is matched
    to, from `iou_matrix` (G ground truths, N predictions), as torchvision's Matcher: its best IoU
    >= `high` matches; below `low` is background (-1, BELOW_LOW_THRESHOLD); in between it is left
    out (-2, BETWEEN_THRESHOLDS).

    With `allow_low_quality`, each ground truth also claims the predictions that overlap it best
    (ties included) whatever their IoU (Faster R-CNN's "anchor with the highest IoU" positives), each
    matched to its own best ground truth. One difference from torchvision: a ground truth that
    touches no prediction at all claims none (torchvision would match every prediction with IoU 0 to
    it). With no ground truth every prediction is background."""
    if iou_matrix.ndim != 2:
        raise UserError(f"iou_matrix must be (ground truths, predictions); got shape {tuple(iou_matrix.shape)}")
    if not low <= high:
        raise UserError(f"the low IoU threshold must not exceed the high one; got low {low} and high {high}")
    g, n = iou_matrix.shape
    if g == 0 or n == 0:
        return torch.full((n,), BELOW_LOW_THRESHOLD, dtype=torch.int64, device=iou_matrix.device)
    best, matches = iou_matrix.max(dim=0)  # (N,) best ground truth of each prediction
    candidates = matches.clone()
    matches[best < low] = BELOW_LOW_THRESHOLD
    matches[(best >= low) & (best < high)] = BETWEEN_THRESHOLDS
    if allow_low_quality:
        best_per_gt = iou_matrix.max(dim=1).values[:, None]  # (G, 1)
        ties = (iou_matrix == best_per_gt) & (best_per_gt > 0)
        preds = torch.nonzero(ties)[:, 1]
        matches[preds] = candidates[preds]
    return matches


def sample_labels(matched_labels: torch.Tensor, batch_size_per_image: int = 256, positive_fraction: float = 0.5,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) boolean masks of the examples one image contributes to the loss, as
    torchvision's BalancedPositiveNegativeSampler: labels >= 1 are positives, 0 negatives, -1 (and
    any other negative value) ignored. Up to batch_size_per_image * positive_fraction positives are
    drawn at random, and negatives fill the rest of the batch (fewer when there are too few)."""
    if matched_labels.ndim != 1:
        raise UserError(f"matched_labels must be one label per example, shape (N,); got {tuple(matched_labels.shape)}")
    if batch_size_per_image < 1 or not 0.0 <= positive_fraction <= 1.0:
        raise UserError(f"the sample must hold at least 1 example and a positive fraction in [0, 1]; "
                        f"got {batch_size_per_image} and {positive_fraction}")
    positive = torch.nonzero(matched_labels >= 1).flatten()
    negative = torch.nonzero(matched_labels == 0).flatten()
    num_pos = min(positive.numel(), int(batch_size_per_image * positive_fraction))
    num_neg = min(negative.numel(), batch_size_per_image - num_pos)
    dev = matched_labels.device
    gen_dev = generator.device if generator is not None else dev
    pos = positive[torch.randperm(positive.numel(), generator=generator, device=gen_dev)[:num_pos].to(dev)]
    neg = negative[torch.randperm(negative.numel(), generator=generator, device=gen_dev)[:num_neg].to(dev)]
    pos_mask = torch.zeros(len(matched_labels), dtype=torch.bool, device=dev)
    neg_mask = torch.zeros_like(pos_mask)
    pos_mask[pos] = True
    neg_mask[neg] = True
    return pos_mask, neg_mask
