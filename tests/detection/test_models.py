"""The detectors (Fast R-CNN, Faster R-CNN, Mask R-CNN and any other model registered with
task="detection"), driven by the registry: each builds, trains on a few `digit_boxes` images with
finite, named losses that fall, and detects with outputs of the right form; plus their parts
(backbones, batched NMS, RoIAlign, mask pasting) and mask AP."""
import math

import pytest
import torch

from classicnets.detection.backbones import BACKBONES, build_backbone
from classicnets.detection.data import load_digit_boxes
from classicnets.detection.metrics import voc_map
from classicnets.detection.ops import box_iou, nms
from classicnets.detection.roi_heads import paste_masks
from classicnets.detection.rpn import nms_per_image
from classicnets.errors import UserError
from classicnets.inspect import count_params, summarize
from classicnets.zoo import create, list_models, model_info, parameter_count

DETECTORS = [n for n in list_models() if model_info(n).task == "detection"]
LOSS_NAMES = {"rpn_objectness", "rpn_box", "cls", "box", "mask"}


@pytest.fixture(scope="module")
def data():
    return load_digit_boxes(train=24, val=0, test=0, seed=1)


def batch(data, index, proposals=False, seed=0):
    """Normalised images and targets of `index`; with `proposals`, jittered ground truth plus random boxes."""
    split = data.train
    norm = data.normalization()
    targets = [dict(split.target(i)) for i in index]
    if proposals:
        g = torch.Generator().manual_seed(seed)
        for t in targets:
            gt = t["boxes"].repeat(4, 1)
            jittered = gt + torch.randn(gt.shape, generator=g) * 2
            xy = torch.rand(20, 2, generator=g) * 48
            rand = torch.cat([xy, xy + 6 + torch.rand(20, 2, generator=g) * 20], 1)
            t["proposals"] = torch.cat([jittered, rand]).clamp(0, 64)
    return norm(split.images[index]), targets


def empty_target(like):
    t = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
         "masks": torch.zeros(0, 64, 64, dtype=torch.bool)}
    if "proposals" in like:
        t["proposals"] = like["proposals"]
    return t


def test_the_three_detectors_are_registered_as_detection_models():
    assert {"fast_rcnn", "faster_rcnn", "mask_rcnn"} <= set(DETECTORS)
    assert model_info("lenet").task == "classification"
    for name, masks, proposals in (("fast_rcnn", False, True), ("faster_rcnn", False, False),
                                   ("mask_rcnn", True, False)):
        m = create(name, num_classes=4)
        assert (m.num_classes, m.has_masks, m.needs_proposals) == (4, masks, proposals)


def test_the_registry_refuses_an_unknown_task():
    from classicnets.zoo import register_model
    with pytest.raises(ValueError, match="task must be one of"):
        register_model(description="", paper="", year=2000, input_shape=(1, 8, 8), task="segmentation")


@pytest.mark.parametrize("name", DETECTORS)
def test_losses_are_named_finite_and_reach_every_weight(name, data):
    model = create(name, seed=0).train()
    x, targets = batch(data, [0, 1, 2], proposals=model.needs_proposals)
    targets[1] = empty_target(targets[1])  # an image without objects trains too
    losses = model(x, targets)
    assert set(losses) <= LOSS_NAMES and {"cls", "box"} <= set(losses)
    assert ("mask" in losses) == model.has_masks
    assert ("rpn_objectness" in losses) == ("rpn_box" in losses) == (not model.needs_proposals)
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", DETECTORS)
def test_a_batch_without_any_object_trains(name, data):
    model = create(name, seed=0).train()
    x, targets = batch(data, [0, 1], proposals=model.needs_proposals)
    losses = model(x, [empty_target(t) for t in targets])
    assert all(torch.isfinite(v) for v in losses.values()) and float(losses["cls"].detach()) > 0
    sum(losses.values()).backward()


@pytest.fixture
def one_thread():
    """The detectors' steps are many small operations, which a second thread only slows (several
    times over on a busy machine); the bench trains with one thread too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", DETECTORS)
def test_a_few_steps_lower_the_loss(name, data, one_thread):
    torch.manual_seed(0)
    model = create(name, seed=0).train()
    x, targets = batch(data, list(range(6)), proposals=model.needs_proposals)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    totals = []
    for _ in range(10):
        loss = sum(model(x, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        totals.append(float(loss.detach()))
    assert sum(totals[-3:]) / 3 < 0.9 * sum(totals[:3]) / 3, totals


@pytest.mark.parametrize("name", DETECTORS)
def test_detections_have_the_documented_form(name, data):
    model = create(name, seed=0).eval()
    x, targets = batch(data, [3, 4, 5], proposals=model.needs_proposals)
    with torch.no_grad():
        out = model(x, targets if model.needs_proposals else None)
    assert isinstance(out, list) and len(out) == 3
    for d in out:
        n = len(d["boxes"])
        assert n > 0  # an untrained model scores every class near 1 / 11 > 0.05: something to check
        assert d["boxes"].shape == (n, 4) and d["boxes"].dtype == torch.float32
        assert d["labels"].shape == (n,) and d["labels"].dtype == torch.int64
        assert d["scores"].shape == (n,) and d["scores"].dtype == torch.float32
        b = d["boxes"]
        assert (b >= 0).all() and (b[:, [0, 2]] <= 64).all() and (b[:, [1, 3]] <= 64).all()
        assert (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()
        assert (d["labels"] >= 0).all() and (d["labels"] < model.num_classes).all()
        assert ((d["scores"] > 0) & (d["scores"] <= 1)).all()
        assert (d["scores"][1:] <= d["scores"][:-1]).all()  # best first
        if model.has_masks:
            assert d["masks"].shape == (n, 64, 64) and d["masks"].dtype == torch.float32
            assert ((d["masks"] >= 0) & (d["masks"] <= 1)).all()
        else:
            assert "masks" not in d


@pytest.mark.parametrize("name", DETECTORS)
def test_parameters_are_counted_and_summarised(name):
    assert parameter_count(name) == sum(p.numel() for p in create(name).parameters()) + sum(
        b.numel() for b in create(name).buffers() if b.is_floating_point())
    info = model_info(name)
    with torch.device("meta"):  # the docs table and `classicnets summary`: shapes only, one RoI per image
        s = summarize(create(name), info.input_shape)
    assert (s.trainable, s.non_trainable) == count_params(create(name)) and s.macs > 0
    assert summarize(create(name, seed=0), info.input_shape).macs >= s.macs  # real boxes: at least one RoI


def test_training_mode_without_targets_and_bad_labels_are_refused(data):
    model = create("faster_rcnn").train()
    x, targets = batch(data, [0])
    with pytest.raises(UserError, match="needs targets"):
        model(x)
    with pytest.raises(UserError, match="label outside 0..9"):
        model(x, [{"boxes": targets[0]["boxes"], "labels": targets[0]["labels"] + 10}])
    with pytest.raises(UserError, match="normalised float images"):
        model(data.train.images[:1], targets)
    with pytest.raises(UserError, match="'masks' of shape"):
        create("mask_rcnn").train()(x, [{k: v for k, v in targets[0].items() if k != "masks"}])


def test_fast_rcnn_runs_selective_search_where_no_proposals_are_given(data, monkeypatch):
    import classicnets.detection.proposals as proposals
    seen = []

    def fake(image):
        seen.append(image)
        return torch.tensor([[0.0, 0.0, 20.0, 20.0], [10.0, 10.0, 40.0, 50.0]])
    monkeypatch.setattr(proposals, "selective_search", fake)
    model = create("fast_rcnn", seed=0).eval()
    x, _ = batch(data, [0, 1])
    with torch.no_grad():
        out = model(x)
    assert len(seen) == 2 and len(out) == 2
    raw = data.train.images[:2]  # normalisation undone: the stored pixels (they span 0..255)
    assert all(im.dtype == torch.uint8 and torch.equal(im, r) for im, r in zip(seen, raw))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbones_declare_their_stride_and_channels(name):
    with torch.device("meta"):
        for c in (1, 3):
            b = build_backbone(name, c)
            y = b(torch.zeros(2, c, 64, 64))
            assert y.shape == (2, b.out_channels, 64 // b.stride, 64 // b.stride)
    with pytest.raises(UserError, match="unknown backbone"):
        build_backbone("vgg61")


def test_backbone_choice_reaches_the_model():
    with torch.device("meta"):
        m = create("faster_rcnn", backbone="vgg16", in_channels=3)
    assert m.backbone.stride == 16 and m.rpn.head.conv.in_channels == 512


def test_batched_nms_keeps_what_nms_keeps_per_image():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(3, 150, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 1 + torch.rand(3, 150, 2, generator=g) * 20], -1)
    scores = torch.rand(3, 150, generator=g)
    order = scores.argsort(1, descending=True)
    boxes = boxes.gather(1, order[..., None].expand(-1, -1, 4))
    valid = torch.rand(3, 150, generator=g) > 0.2
    keep = nms_per_image(boxes, valid, 0.5)
    for b in range(3):
        idx = torch.nonzero(valid[b]).flatten()
        expected = idx[nms(boxes[b, idx], -idx.float(), 0.5)]  # rank order as scores
        assert torch.equal(torch.nonzero(keep[b]).flatten(), expected.sort().values)


def test_pasted_masks_fill_their_box_only():
    boxes = torch.tensor([[4.0, 8.0, 20.0, 40.0], [0.0, 0.0, 64.0, 64.0]])
    pasted = paste_masks(torch.ones(2, 28, 28), boxes, (64, 64))
    assert pasted.shape == (2, 64, 64)
    inside = torch.zeros(64, 64, dtype=torch.bool)
    inside[8:40, 4:20] = True
    assert torch.equal(pasted[0] > 0.5, inside) and bool((pasted[1] == 1).all())
    half = torch.zeros(1, 28, 28)
    half[:, :, 14:] = 1  # the right half of the box
    right = paste_masks(half, boxes[:1], (64, 64))[0] > 0.5
    assert right[8:40, 12:20].all() and not right[:, :12].any()


def test_voc_map_scores_masks_by_mask_iou(data):
    targets = data.train.targets[:10]
    perfect = [{"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(len(t["boxes"])),
                "masks": t["masks"].float() * 0.9} for t in targets]
    assert voc_map(perfect, targets, iou_type="segm").map == 1.0
    shifted = [{**d, "masks": torch.roll(d["masks"], 6, -1)} for d in perfect]  # right boxes, wrong masks
    assert voc_map(shifted, targets).map == 1.0 and voc_map(shifted, targets, iou_type="segm").map < 0.2
    faint = [{**d, "masks": t["masks"].float() * 0.5} for d, t in zip(perfect, targets)]  # at the threshold: in
    assert voc_map(faint, targets, iou_type="segm").map == 1.0
    assert voc_map(faint, targets, iou_type="segm", mask_threshold=0.6).map == 0.0
    with pytest.raises(UserError, match="has no 'masks'"):
        voc_map([{k: v for k, v in d.items() if k != "masks"} for d in perfect], targets, iou_type="segm")
    with pytest.raises(UserError, match="iou_type must be"):
        voc_map(perfect, targets, iou_type="mask")


def test_a_detection_matches_the_box_it_should():
    """The box coding through the detection step: a proposal with zero regression is detected where it
    is, once per class."""
    model = create("faster_rcnn", seed=0).eval()
    with torch.no_grad():
        for p in model.roi_heads.box_predictor.parameters():
            p.zero_()  # no regression, every class equally likely
        feats = torch.zeros(1, model.backbone.out_channels, 16, 16)
        gt = torch.tensor([[10.0, 12.0, 30.0, 40.0]])
        out = model.roi_heads.detect(feats, [gt], (64, 64))[0]
    assert len(out["boxes"]) == 10 and bool((box_iou(out["boxes"], gt) > 1 - 1e-6).all())
    assert torch.allclose(out["scores"], torch.full((10,), 1 / 11)) and not math.isnan(float(out["scores"][0]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", DETECTORS)
def test_detectors_train_and_detect_on_cuda(name, data):
    model = create(name, seed=0).cuda().train()
    x, targets = batch(data, [0, 1, 2], proposals=model.needs_proposals)
    targets = [{k: v.cuda() for k, v in t.items()} for t in targets]
    losses = model(x.cuda(), targets)
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        out = model.eval()(x.cuda(), targets if model.needs_proposals else None)
    assert all(v.device.type == "cuda" for d in out for v in d.values())
