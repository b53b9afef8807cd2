"""Object detection (the R-CNN line, `classicnets.detection`): boxes, classes and masks per image, scored
by VOC mAP@0.5 and COCO mAP."""
from __future__ import annotations

from ...errors import UserError
from .base import Prepared, Task, check_tta, fill_for_data


class Detection(Task):
    """A detector on a detection data set (boxes, not one class per image)."""

    def prepare(self, cfg, data, device, warn, base_only=False):
        import torch

        from ...detection.loader import check_augment
        from ...train import distributed

        self._check_pairing(cfg, data)
        if cfg.train.test_normalize != "train":
            raise UserError("--test-normalize reads the course's image classifiers literally; a detection run "
                            "normalises every split with the training split's statistics")
        tr = cfg.transfer
        if tr.head or tr.freeze or tr.unfreeze_top or tr.features:
            raise UserError("of the transfer learning options a detection model takes --weights (for its backbone); "
                            "--head, --freeze, --unfreeze-top and --features apply to classifiers")
        if distributed.current() is not None:
            raise UserError("detection training runs in one process; leave out --nproc and torchrun")
        check_tta(cfg.train.tta, data)
        check_augment(cfg.augment)
        if cfg.augment.enabled:
            cfg.augment.check_image_size(*data.input_shape[1:])
        empty = int((data.train.counts == 0).sum())
        if empty:
            warn(f"{empty:,} of the {len(data.train):,} training images have no objects; they teach the "
                 f"background only")
        model = self.build(cfg, data)
        record = self._load_backbone(model, tr.weights, warn) if tr.weights else {}
        normalization = data.normalization(cfg.train.normalize)
        torch.manual_seed(cfg.train.seed)
        return Prepared(cfg, data, model, normalization, device, self, record)

    @staticmethod
    def _check_pairing(cfg, data) -> None:
        from ...zoo import model_info

        if model_info(cfg.model).task != "detection":
            raise UserError(f"{cfg.data} is a detection data set (boxes, not one class per image) and {cfg.model} "
                            f"is a classifier; train a detection model on it, e.g. --model faster_rcnn")
        if data.kind != "detection":
            raise UserError(f"{cfg.model} is a detection model and {cfg.data} has one class per image, not boxes; "
                            f"train it on a detection data set, e.g. --data digit_boxes")

    @staticmethod
    def _load_backbone(model, weights: str, warn) -> dict:
        """The backbone started from a classifier's weights (a run, torchvision's, Keras's)."""
        from ...detection.backbones import BACKBONES, load_backbone_weights
        from ...transfer.weights import find_weights

        name = model.backbone.name
        path = find_weights(weights, model_name=BACKBONES[name].zoo_name)
        report = load_backbone_weights(model.backbone, path)
        warn(f"backbone {name}: {report.summary()}")
        return {"weights_file": str(path), "backbone": name}

    def build(self, cfg, data):
        """The run's detector, initialised from the run's seed, with the data's classes, channels and image
        size where its builder takes them, run once on a blank image of the data's size."""
        import torch

        from ...zoo import create

        fill_for_data(cfg, data, data.num_classes, f"{data.num_classes} object classes")
        model = create(cfg.model, seed=cfg.train.seed, **cfg.model_args)
        c, h, w = data.input_shape
        try:  # one forward pass on the data's image size: a clear error now if it does not fit
            with torch.no_grad(), torch.random.fork_rng():
                model.eval()
                model(torch.zeros(1, c, h, w))
        except (RuntimeError, ValueError) as e:
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"{cfg.model} cannot run on {data.name}'s {c}x{h}x{w} images: {detail.rstrip('.')}") \
                from None
        finally:
            model.train()
        return model

    def fit(self, p, callbacks, resume, log):
        from ...detection.train import fit_detection

        cfg = p.config
        return fit_detection(p.model, p.data, cfg.train, augment=cfg.augment, normalization=p.normalization,
                             callbacks=callbacks, resume=resume, log=log)

    @staticmethod
    def _scores(model, split, normalization, classes, eval_batch_size: int):
        from ...detection.evaluate import evaluate_detector
        from ...detection.loader import EVAL_BATCH_CAP

        return evaluate_detector(model, split, normalization=normalization, classes=classes,
                                 batch_size=min(eval_batch_size, EVAL_BATCH_CAP))

    def test(self, p, log):
        scores = self._scores(p.model, p.data.test, p.normalization, p.data.classes, p.config.train.eval_batch_size)
        masks = f" - mask mAP@0.5 {scores.extra['mask_map50']:.4f}" if "mask_map50" in scores.extra else ""
        log(f"Test: mAP@0.5 {scores.map50:.4f} - COCO mAP@[.5:.95] {scores.coco_map:.4f}{masks} "
            f"({len(p.data.test):,} images)")
        return scores.to_dict("test_")

    def evaluate(self, run, model, card, cfg, data, split, results, out):
        """VOC AP@0.5 per class, its mean and COCO mAP@[.5:.95]."""
        from ...detection.evaluate import render_scores

        if getattr(data, "kind", None) != "detection":
            raise UserError(f"{card.data} is no longer a detection data set; {run} holds a detector")
        scores = self._scores(model, data.split(split), card.norm, card.classes, cfg.train.eval_batch_size)
        render_scores(scores, split, out)
        return scores.to_dict(f"{split}_")

    def predict(self, run, model, card, request, out):
        """Each image with its detections drawn (boxes, class names, scores, masks), written as a PNG,
        and the detections printed in the image's own pixel coordinates."""
        from ...detection.predict import detect_images

        if request.texts:
            raise UserError(f"{card.name} detects objects in images; give image files, not --text")
        if not request.files:
            raise UserError("nothing to predict: give image files (PNG/JPEG)")
        threshold = 0.5 if request.score_threshold is None else request.score_threshold
        for d in detect_images(model, request.files, input_shape=card.input_shape, normalization=card.norm,
                               classes=card.classes, threshold=threshold, out=request.out, invert=request.invert):
            out(f"{d.image}: {len(d.boxes)} detection{'s' * (len(d.boxes) != 1)} with score >= {threshold:g} "
                f"-> {d.drawing}")
            for (x1, y1, x2, y2), lab, sc in zip(d.boxes.tolist(), d.labels.tolist(), d.scores.tolist()):
                name = card.classes[lab] if 0 <= lab < len(card.classes) else str(lab)
                out(f"  {name:<12} {sc:.3f}  box {x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}")
