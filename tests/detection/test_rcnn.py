"""R-CNN (Girshick et al. 2014): interface, training sample, warping, losses, detection, and the one
backbone pass per proposal that Fast R-CNN removes."""
import math

import pytest
import torch

from classicnets.detection.data import load_digit_boxes
from classicnets.detection.ops import box_iou
from classicnets.detection.rcnn import RCNN, RCNNConfig, inference_time
from classicnets.errors import UserError
from classicnets.zoo import create, model_info


@pytest.fixture(scope="module")
def batch(with_proposals):
    """Six digit_boxes training images, normalised, with precomputed proposals (a fixed grid of boxes
    plus jittered ground truth, so these tests do not need scikit-image)."""
    return with_proposals(6, jitter=2)


def test_registered_with_the_detector_interface():
    info = model_info("rcnn")
    assert info.task == "detection" and info.input_shape == (1, 64, 64)
    m = create("rcnn")
    assert isinstance(m, RCNN) and m.num_classes == 10
    assert m.has_masks is False and m.needs_proposals is True
    assert m.config.warp_size == 32 and m.padding == pytest.approx(16 / 227 * 32)
    assert create("rcnn", max_proposals=300).proposal_config.max_proposals == 300  # what the engine searches with
    assert create("rcnn", num_classes=3).cls_score.out_features == 4  # background added
    with pytest.raises(UserError, match="classifier must be 'softmax' or 'svm'"):
        create("rcnn", classifier="boost")


@pytest.mark.parametrize("classifier, box_regression", [("softmax", "linear"), ("svm", "ridge")])
def test_losses_are_finite_and_fall(batch, classifier, box_regression):
    x, targets = batch
    model = create("rcnn", seed=0, classifier=classifier, box_regression=box_regression, roi_batch=32,
                   backbone="lenet5")  # 13x cheaper per region than the default lenet
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    history = []
    for _ in range(12):
        losses = model(x, targets)
        assert set(losses) == {"cls", "box"} and all(v.ndim == 0 and math.isfinite(v.item()) for v in losses.values())
        history.append({k: v.item() for k, v in losses.items()})
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    first, last = history[0]["cls"], sum(h["cls"] for h in history[-3:]) / 3
    assert last < 0.8 * first, history


def test_ridge_regression_and_svms_learn_on_detached_features(batch):
    x, targets = batch
    model = create("rcnn", seed=0, classifier="svm", box_regression="ridge").train()
    losses = model(x[:2], targets[:2])
    losses["box"].backward(retain_graph=True)
    assert all(p.grad is None for p in model.backbone.parameters())  # the paper's regressor: features fixed
    assert model.bbox_pred.weight.grad.abs().sum() > 0
    model.zero_grad()
    losses["cls"].backward()  # softmax fine-tuning reaches the CNN; the SVM hinge reaches the SVMs
    assert model.svm.weight.grad.abs().sum() > 0 and model.backbone.features[0].weight.grad.abs().sum() > 0


def test_training_sample_follows_the_paper(batch):
    x, targets = batch
    model = create("rcnn", roi_batch=16)
    props = [t["proposals"] for t in targets]
    boxes, image, labels, svm, matched, regress = model.sample(props, targets)
    for i, t in enumerate(targets):
        mine = image == i
        assert int(mine.sum()) <= 16 and int((labels[mine] > 0).sum()) <= 4  # a quarter foreground at most
        for box, label in zip(t["boxes"], t["labels"]):  # ground truth always in, positive for its SVM only
            row = torch.nonzero(mine & (boxes == box).all(1)).flatten()[0]
            assert labels[row] == label + 1 and svm[row, label] == 1 and (svm[row] == 1).sum() == 1
    best = torch.stack([box_iou(targets[int(i)]["boxes"], b[None]).max() for b, i in zip(boxes, image)])
    assert bool((best[labels > 0] >= 0.5).all()) and bool((best[labels == 0] < 0.5).all())
    assert bool((best[regress] >= 0.6).all())
    assert bool((svm[best < 0.3] <= 0).all())  # far from everything: negative (or ignored) for every class


def test_warp_with_and_without_context():
    img = torch.arange(64.0).reshape(1, 1, 8, 8)
    m = RCNN(2, backbone="lenet", config=RCNNConfig(warp_size=8, context_padding=0.0))
    whole = m.warp(img, torch.tensor([[0.0, 0.0, 8.0, 8.0]]), torch.tensor([0]))
    assert torch.allclose(whole, img)  # the whole image at its own size: itself
    # a 4x4 box stretched to 8x8: output pixel i samples the image at index 0.5 i - 0.25 (pixel
    # centres), bilinearly, which on this linear image (8 row + column) is exact inside the image
    quarter = m.warp(img, torch.tensor([[0.0, 0.0, 4.0, 4.0]]), torch.tensor([0]))[0, 0]
    at = torch.arange(1, 8) * 0.5 - 0.25
    assert torch.allclose(quarter[1:, 1:], 8 * at[:, None] + at[None, :], atol=1e-5)
    # 2 pixels of context in an 8-pixel warp: the box is dilated to twice its size, so the whole image
    # fills the middle 4x4 (sampled at indices 0.5, 2.5, 4.5, 6.5) and the rim lies outside it: zero
    padded = RCNN(2, backbone="lenet", config=RCNNConfig(warp_size=8, context_padding=2.0))
    out = padded.warp(img, torch.tensor([[0.0, 0.0, 8.0, 8.0]]), torch.tensor([0]))[0, 0]
    mid = torch.tensor([0.5, 2.5, 4.5, 6.5])
    assert torch.allclose(out[2:6, 2:6], 8 * mid[:, None] + mid[None, :], atol=1e-5)
    rim = torch.ones(8, 8, dtype=torch.bool)
    rim[2:6, 2:6] = False
    assert bool((out[rim] == 0).all())
    with pytest.raises(UserError, match="context padding must leave room"):
        RCNN(2, backbone="lenet", config=RCNNConfig(warp_size=8, context_padding=4.0))


def test_detections_are_well_formed(batch):
    x, targets = batch
    model = create("rcnn", seed=0).eval()
    with torch.no_grad():
        out = model(x[:3], [{"proposals": t["proposals"]} for t in targets[:3]])
    assert len(out) == 3
    for d in out:
        assert set(d) == {"boxes", "labels", "scores"}
        n = len(d["scores"])
        assert d["boxes"].shape == (n, 4) and d["labels"].shape == (n,) and d["labels"].dtype == torch.int64
        assert 0 < n <= 100 and bool((d["labels"] >= 0).all() and (d["labels"] < 10).all())
        assert bool((d["scores"][:-1] >= d["scores"][1:]).all()) and bool((d["scores"] > 0.05).all())
        assert bool((d["boxes"] >= 0).all() and (d["boxes"] <= 64).all())
        assert bool((d["boxes"][:, 2:] > d["boxes"][:, :2]).all())


def test_one_backbone_pass_per_proposal(batch):
    """The course's point about R-CNN: each proposal goes through the CNN on its own (in chunks of
    `chunk` warped regions per call), so the network's work grows with the number of proposals."""
    x, targets = batch
    model = create("rcnn", seed=0, chunk=40).eval()
    calls = []
    model.backbone.register_forward_hook(lambda mod, inp, out: calls.append(len(inp[0])))
    props = [t["proposals"] for t in targets[:2]]
    with torch.no_grad():
        model(x[:2], [{"proposals": p} for p in props])
    total = sum(len(p) for p in props)
    assert sum(calls) == total and len(calls) == math.ceil(total / 40)
    calls.clear()
    with torch.no_grad():
        model(x[:1], [{"proposals": props[0][:10]}])
    assert calls == [10]


def test_bad_inputs_are_refused(batch):
    x, targets = batch
    model = create("rcnn").train()
    with pytest.raises(UserError, match="needs targets"):
        model(x[:1])
    with pytest.raises(UserError, match=r"'proposals' must be a \(P, 4\) tensor"):
        model(x[:1], [{**targets[0], "proposals": torch.zeros(5)}])
    with pytest.raises(UserError, match="label outside 0..9"):
        model(x[:1], [{**targets[0], "labels": targets[0]["labels"] + 10}])
    with pytest.raises(UserError, match=r"normalised float images \(B, C, H, W\)"):
        model.eval()(x[0])


def test_proposals_from_normalised_images_match_the_raw_image():
    pytest.importorskip("skimage")
    from classicnets.detection.proposals import selective_search
    ds = load_digit_boxes(train=2, val=0, test=1)
    x = ds.normalization()(ds.train.images)
    model = create("rcnn", seed=0).eval()
    props = model.external_proposals(x, None)  # min-max rescaled to 0..1 before the search
    for p, raw in zip(props, ds.train.images):
        assert torch.equal(p, selective_search(raw))
    with torch.no_grad():
        out = model(x)
    assert len(out) == 2 and len(model.proposal_cache) == 2  # the search ran once per image


def test_inference_time_per_image(batch):
    x, targets = batch
    model = create("rcnn", seed=0)
    t = inference_time(model, x[:2], [tt["proposals"] for tt in targets[:2]])
    assert set(t) == {"proposals", "network", "total", "regions"}
    assert t["proposals"] == 0 and t["network"] > 0 and t["total"] == t["network"]
    assert t["regions"] == sum(len(tt["proposals"]) for tt in targets[:2]) / 2
    assert not model.training
