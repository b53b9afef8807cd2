"""Selective search: class-independent region proposals by hierarchical grouping, R-CNN's first stage.

Uijlings, van de Sande, Gevers & Smeulders (2013), "Selective search for object recognition", IJCV
104(2), section 3: an image is over-segmented by Felzenszwalb & Huttenlocher's graph method (2004,
`skimage.segmentation.felzenszwalb`, the one step taken from scikit-image), then the two most similar
neighbouring regions are merged, again and again, until one region is left; the boxes of every region
made on the way (the initial ones included) are the proposals. Similarity (section 3.2) is a sum of
terms, each in [0, 1]:
- colour `c`: intersection of the regions' colour histograms, 25 bins per channel, L1-normalised;
- texture `t`: intersection of histograms of Gaussian derivatives (sigma 1) in 8 orientations,
  10 bins each, per channel (the derivative along each of the 8 directions 45 degrees apart, taken
  where positive: the opposite direction's is its negative, so the 8 are the two signs of 4 axes);
- size `s`: 1 - (size_i + size_j) / image size, so small regions merge first, everywhere at once;
- fill `f`: 1 - (size of the pair's bounding box - size_i - size_j) / image size, so regions that
  fill each other's gaps merge first.
A merged region's histograms are the size-weighted mean of its parts' (section 3.2's propagation).

Diversification (section 3.3) runs several strategies, each a colour space ("rgb", "hsv", "lab",
"gray"), a Felzenszwalb `scale` (the paper's k) and a set of similarity terms ("ctsf", "tsf", ...),
and pools their boxes. The pooled boxes are ranked as in section 3.4: within a strategy a region's
position is its place counted back from the last merge (the whole image is 1), multiplied by a
uniform random number (seeded, so proposals are deterministic); lower goes first, duplicates keep
their best place, and the first `max_proposals` are kept. R-CNN's "fast mode" is colour spaces HSV
and Lab, k = 50 and 100, similarities ctsf and tsf: `selective_search(img, scale=(50, 100),
color_spaces=("hsv", "lab"), similarities=("ctsf", "tsf"))`.

Images are (C, H, W) tensors with 1 or 3 channels: uint8 in 0..255, or float in 0..1 (clipped);
colour spaces other than "gray" need 3 channels. Boxes are (x1, y1, x2, y2) in continuous pixel
coordinates (`ops`' convention): a region over columns 3..7 has x1 = 3, x2 = 8.

The per-image work is numpy: feature histograms are `np.bincount`s over all pixels at once, and the
grouping keeps the candidate pairs in a heap, so each merge costs set operations on its neighbours and
one vectorised similarity against them. `proposals_for` computes a whole split's proposals through a
`ProposalCache` keyed by image content and options, in memory and optionally in a folder on disk
(one safetensors file per image, written atomically), so training epochs and later runs reuse them.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError

COLOUR_BINS = 25        # per channel (section 3.2)
TEXTURE_BINS = 10       # per orientation and channel
ORIENTATIONS = 8        # Gaussian derivative directions, 45 degrees apart
TEXTURE_SIGMA = 1.0     # of the Gaussian derivatives, pixels
COLOUR_SPACES = ("rgb", "hsv", "lab", "gray")
SIMILARITY_TERMS = "ctsf"


def _skimage():
    try:
        import skimage.color
        import skimage.segmentation
    except ImportError:
        raise UserError("selective search needs scikit-image (Felzenszwalb's segmentation); install it with "
                        "pip install 'classicnets[detection]'") from None
    return skimage


def _as_array(image: torch.Tensor) -> np.ndarray:
    """(H, W, C) float64 in 0..1 from a (C, H, W) uint8 (0..255) or float (0..1) tensor."""
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] not in (1, 3) \
            or image.shape[1] < 2 or image.shape[2] < 2:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise UserError(f"selective search takes one image as a (C, H, W) tensor with 1 or 3 channels and at "
                        f"least 2x2 pixels; got {shape}")
    x = image.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.to(torch.float64) / 255
    elif x.is_floating_point():
        x = x.to(torch.float64).nan_to_num(0.0).clamp(0, 1)
    else:
        raise UserError(f"selective search takes uint8 images (0..255) or float images (0..1); got {x.dtype}")
    return x.permute(1, 2, 0).numpy()


def _colour_space(x: np.ndarray, space: str) -> np.ndarray:
    """(H, W, C') in roughly 0..1 (the histograms' fixed range)."""
    if space not in COLOUR_SPACES:
        raise UserError(f"unknown colour space {space!r}; choose from {', '.join(COLOUR_SPACES)}")
    if x.shape[2] == 1:
        if space != "gray":
            raise UserError(f"colour space {space!r} needs a 3-channel image; a 1-channel image takes 'gray'")
        return x
    color = _skimage().color
    if space == "rgb":
        return x
    if space == "gray":
        return color.rgb2gray(x)[..., None]
    if space == "hsv":
        return color.rgb2hsv(x)
    lab = color.rgb2lab(x)  # L in 0..100, a and b in about -128..127
    return np.stack([lab[..., 0] / 100, (lab[..., 1] + 128) / 255, (lab[..., 2] + 128) / 255], axis=-1)


def _texture(x: np.ndarray) -> np.ndarray:
    """(H, W, C, 8) bin index (0..9) of each pixel's rectified Gaussian derivative along each of the 8
    directions, per channel; bins span 0 .. the channel's largest response."""
    from scipy.ndimage import gaussian_filter

    gx = np.stack([gaussian_filter(x[..., c], TEXTURE_SIGMA, order=(0, 1)) for c in range(x.shape[2])], -1)
    gy = np.stack([gaussian_filter(x[..., c], TEXTURE_SIGMA, order=(1, 0)) for c in range(x.shape[2])], -1)
    theta = np.arange(ORIENTATIONS) * (2 * np.pi / ORIENTATIONS)
    r = np.maximum(gx[..., None] * np.cos(theta) + gy[..., None] * np.sin(theta), 0)  # (H, W, C, 8)
    top = r.max(axis=(0, 1, 3), keepdims=True)
    scaled = np.divide(r, top, out=np.zeros_like(r), where=top > 0)
    return np.minimum((scaled * TEXTURE_BINS).astype(np.int64), TEXTURE_BINS - 1)


@dataclass
class _Regions:
    """The initial regions of one segmentation: R rows each, plus the adjacent pairs."""

    size: np.ndarray     # (R,) pixels
    box: np.ndarray      # (R, 4) x1, y1, x2, y2
    colour: np.ndarray   # (R, C * 25), rows sum to 1
    texture: np.ndarray  # (R, C * 8 * 10), rows sum to 1
    edges: np.ndarray    # (E, 2) adjacent region pairs, i < j


def _histograms(labels: np.ndarray, bins: np.ndarray, n_bins: int, r: int) -> np.ndarray:
    """(R, D * n_bins) L1-normalised histograms of `bins` (H, W, D) values in 0..n_bins-1 per region."""
    d = bins.shape[-1]
    code = (labels[..., None] * d + np.arange(d)) * n_bins + bins            # (H, W, D)
    counts = np.bincount(code.ravel(), minlength=r * d * n_bins).reshape(r, d * n_bins).astype(np.float64)
    return counts / counts.sum(1, keepdims=True)


def _regions(labels: np.ndarray, space_img: np.ndarray, texture_bins: np.ndarray) -> _Regions:
    h, w = labels.shape
    r = int(labels.max()) + 1
    flat = labels.ravel()
    size = np.bincount(flat, minlength=r).astype(np.float64)
    # extents: which columns (rows) each region occupies, then its first and last one
    cols = np.zeros((r, w), dtype=bool)
    cols[flat, np.tile(np.arange(w), h)] = True
    rows = np.zeros((r, h), dtype=bool)
    rows[flat, np.repeat(np.arange(h), w)] = True
    box = np.stack([cols.argmax(1), rows.argmax(1), w - cols[:, ::-1].argmax(1), h - rows[:, ::-1].argmax(1)],
                   1).astype(np.float64)  # (R, 4)
    colour_bins = np.minimum((space_img * COLOUR_BINS).astype(np.int64), COLOUR_BINS - 1).clip(0)
    colour = _histograms(labels, colour_bins, COLOUR_BINS, r)
    texture = _histograms(labels, texture_bins.reshape(h, w, -1), TEXTURE_BINS, r)
    # neighbours: label pairs across each horizontal and vertical pixel boundary
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    differ = a != b
    lo, hi = np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])
    pairs = np.unique(lo.astype(np.int64) * r + hi)
    return _Regions(size, box, colour, texture, np.stack([pairs // r, pairs % r], 1))


def _group(reg: _Regions, terms: str, image_size: float) -> np.ndarray:
    """(2R - 1, 4) boxes of every region of the hierarchy, in order of creation (initial regions first,
    the whole image last): greedy merging of the most similar neighbours (Uijlings et al. algorithm 1)."""
    r = len(reg.size)
    total = 2 * r - 1
    size = np.zeros(total)
    size[:r] = reg.size
    box = np.zeros((total, 4))
    box[:r] = reg.box
    colour = np.zeros((total, reg.colour.shape[1]))
    colour[:r] = reg.colour
    texture = np.zeros((total, reg.texture.shape[1]))
    texture[:r] = reg.texture
    use_c, use_t, use_s, use_f = (t in terms for t in SIMILARITY_TERMS)

    def similarity(i: int | np.ndarray, j: np.ndarray) -> np.ndarray:
        s = np.zeros(len(j))
        if use_c:
            s += np.minimum(colour[i], colour[j]).sum(-1)
        if use_t:
            s += np.minimum(texture[i], texture[j]).sum(-1)
        if use_s:
            s += 1 - (size[i] + size[j]) / image_size
        if use_f:
            lo = np.minimum(box[i, :2], box[j, :2])
            hi = np.maximum(box[i, 2:], box[j, 2:])
            s += 1 - ((hi - lo).prod(-1) - size[i] - size[j]) / image_size
        return s

    neighbours: list[set[int]] = [set() for _ in range(total)]
    for i, j in reg.edges.tolist():
        neighbours[i].add(j)
        neighbours[j].add(i)
    heap = list(zip((-similarity(reg.edges[:, 0], reg.edges[:, 1])).tolist(), *reg.edges.T.tolist()))
    heapq.heapify(heap)
    alive = np.zeros(total, dtype=bool)
    alive[:r] = True
    t = r
    while heap:
        _, i, j = heapq.heappop(heap)
        if not (alive[i] and alive[j]):
            continue  # a pair whose region was merged away since
        size[t] = size[i] + size[j]
        box[t, :2] = np.minimum(box[i, :2], box[j, :2])
        box[t, 2:] = np.maximum(box[i, 2:], box[j, 2:])
        colour[t] = (size[i] * colour[i] + size[j] * colour[j]) / size[t]
        texture[t] = (size[i] * texture[i] + size[j] * texture[j]) / size[t]
        alive[[i, j]] = False
        alive[t] = True
        around = (neighbours[i] | neighbours[j]) - {i, j}
        for n in around:
            neighbours[n] -= {i, j}
            neighbours[n].add(t)
        neighbours[t] = around
        if around:
            others = np.fromiter(around, dtype=np.int64, count=len(around))
            for s, n in zip((-similarity(t, others)).tolist(), others.tolist()):
                heapq.heappush(heap, (s, n, t))
        t += 1
    return box[:t]


@dataclass(frozen=True)
class SelectiveSearchConfig:
    """Options of `selective_search` (see its docstring), as one value a model and a cache can keep."""

    scale: float | tuple[float, ...] = (50.0, 100.0)      # Felzenszwalb's k, one strategy each
    sigma: float = 0.8                                    # Gaussian smoothing before segmenting, pixels
    min_size: int = 10                                    # smallest initial region, pixels
    similarities: tuple[str, ...] = ("ctsf", "tsf")       # similarity term sets, one strategy each
    color_spaces: tuple[str, ...] | None = None           # None: ("rgb",) for 3 channels, ("gray",) for 1
    max_proposals: int = 2000                             # boxes kept, best ranked first
    seed: int = 0                                         # of the ranking's random numbers


def selective_search(image: torch.Tensor, *, scale: float | Sequence[float] = (50.0, 100.0), sigma: float = 0.8,
                     min_size: int = 10, similarities: Sequence[str] = ("ctsf", "tsf"),
                     color_spaces: Sequence[str] | None = None, max_proposals: int = 2000,
                     seed: int = 0) -> torch.Tensor:
    """(P, 4) float32 proposal boxes (x1, y1, x2, y2) of one (C, H, W) image by selective search
    (Uijlings et al. 2013; see the module docstring), best ranked first, no two the same.

    One strategy per combination of colour space, `scale` (Felzenszwalb's k: larger, fewer and larger
    initial regions), and similarity term set (letters of "ctsf": colour, texture, size, fill).
    `sigma` and `min_size` go to `skimage.segmentation.felzenszwalb` (pixels)."""
    seg = _skimage().segmentation
    x = _as_array(image)
    scales = [float(scale)] if isinstance(scale, (int, float)) else [float(s) for s in scale]
    sims = [similarities] if isinstance(similarities, str) else list(similarities)
    spaces = list(color_spaces) if color_spaces is not None else ["rgb" if x.shape[2] == 3 else "gray"]
    if isinstance(color_spaces, str):
        spaces = [color_spaces]
    if not scales or any(s <= 0 for s in scales) or sigma < 0 or min_size < 1 or max_proposals < 1:
        raise UserError(f"selective search needs positive scales, sigma >= 0, min_size >= 1 and max_proposals "
                        f">= 1; got scale {scale}, sigma {sigma}, min_size {min_size}, max_proposals {max_proposals}")
    if not sims or not spaces or any(not s or set(s) - set(SIMILARITY_TERMS) for s in sims):
        raise UserError(f"similarities must be non-empty sets of the letters c, t, s, f (colour, texture, size, "
                        f"fill), e.g. ('ctsf', 'tsf'); got {similarities!r}")
    h, w = x.shape[:2]
    rng = np.random.default_rng(seed)
    boxes, values = [], []
    for space in spaces:
        img = _colour_space(x, space)
        texture_bins = _texture(img)
        for k in scales:
            labels = seg.felzenszwalb(img[..., 0] if img.shape[2] == 1 else img, scale=k, sigma=sigma,
                                      min_size=int(min_size), channel_axis=None if img.shape[2] == 1 else -1)
            reg = _regions(labels.astype(np.int64), img, texture_bins)
            for terms in sims:
                b = _group(reg, terms, float(h * w))
                rank = np.arange(len(b), 0, -1, dtype=np.float64)  # the last merge (the whole image) is 1
                boxes.append(b)
                values.append(rank * rng.random(len(b)))
    boxes_all = np.concatenate(boxes)[np.argsort(np.concatenate(values), kind="stable")]
    _, first = np.unique(boxes_all, axis=0, return_index=True)   # each box at its best place
    kept = boxes_all[np.sort(first)[:max_proposals]]
    return torch.from_numpy(kept.astype(np.float32))


# -- a split's proposals, cached --------------------------------------------------------------------
class ProposalCache:
    """Proposals by image content and options: in memory always, and in `directory` when given (one
    `<sha256>.safetensors` file per image and option set, written atomically, read back by later runs).
    The key hashes the image's bytes, dtype and shape with the options, so a changed image or option
    never reads a stale entry."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, torch.Tensor] = {}
        self.hits = self.misses = 0

    @staticmethod
    def key(image: torch.Tensor, config: SelectiveSearchConfig) -> str:
        x = image.detach().cpu().contiguous()
        h = hashlib.sha256(json.dumps([str(x.dtype), list(x.shape), asdict(config)], sort_keys=True).encode())
        h.update(x.view(torch.uint8).numpy().tobytes() if x.numel() else b"")
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self._memory)

    def get(self, image: torch.Tensor, config: SelectiveSearchConfig | None = None) -> torch.Tensor:
        """The image's proposals, computed on a miss."""
        from safetensors.torch import load, save

        from ..fileio import write_bytes

        config = config or SelectiveSearchConfig()
        k = self.key(image, config)
        if k in self._memory:
            self.hits += 1
            return self._memory[k]
        path = self.directory / f"{k}.safetensors" if self.directory is not None else None
        if path is not None and path.is_file():
            boxes = load(path.read_bytes())["boxes"]
            self.hits += 1
        else:
            boxes = selective_search(image, **asdict(config))
            self.misses += 1
            if path is not None:
                write_bytes(path, save({"boxes": boxes.contiguous()}))
        self._memory[k] = boxes
        return boxes


def proposals_for(images, config: SelectiveSearchConfig | None = None, *,
                  cache: ProposalCache | None = None) -> list[torch.Tensor]:
    """Selective-search proposals of every image of a `DetectionSplit` (or an (N, C, H, W) tensor), one
    (P_i, 4) tensor each, through `cache` (a fresh in-memory one when None). Images are handled one
    after the other on the CPU (about 5-20 ms each at 64x64 with the default options)."""
    imgs = getattr(images, "images", images)
    if not isinstance(imgs, torch.Tensor) or imgs.ndim != 4:
        shape = tuple(imgs.shape) if isinstance(imgs, torch.Tensor) else type(imgs).__name__
        raise UserError(f"proposals_for takes a DetectionSplit or images (N, C, H, W); got {shape}")
    cache = cache if cache is not None else ProposalCache()
    return [cache.get(im, config) for im in imgs]
