"""Object detection, the course's R-CNN line (issue 14): R-CNN, Fast R-CNN, Faster R-CNN, Mask R-CNN.

The course's story (Large ConvNets, "R-CNN" to "Mask R-CNN"), one module each, registered in the
zoo's registry with `task="detection"` (`classicnets models`, `summary`, `create`):
- `rcnn`: selective-search proposals (`proposals`: Felzenszwalb segmentation from scikit-image, the
  optional extra `classicnets[detection]`, then Uijlings' hierarchical grouping), each warped to a
  square and passed through a zoo ConvNet on its own, per-class scores (softmax or linear SVMs) and
  box regression (Girshick et al. 2014), trained jointly in one loop or, with `training="stages"`, as
  the paper trains it: fine-tuning, then SVMs with hard-negative mining, then ridge box regression
  (`rcnn_stages`);
- `fast_rcnn`: the same proposals, one pass of the backbone per image and RoI pooling on its feature
  map, classification and box regression trained jointly (`roi_heads`; Girshick 2015);
- `faster_rcnn`: a region proposal network on the shared features instead of selective search
  (`rpn`; Ren et al. 2015);
- `mask_rcnn`: RoI Align and a small fully convolutional mask head (He et al. 2017).
Backbones (`backbones`) are zoo models cut at their feature map: VGG16 as in the papers, ResNets,
MobileNet, and a CIFAR ResNet sized for the generated `digit_boxes`.

Every model is a `base.Detector` with one interface: `model(images, targets)` in training returns
its named losses ("rpn_objectness", "rpn_box", "cls", "box", "mask"), `model(images)` in eval mode
returns per image "boxes", "labels", "scores" (and "masks"); it declares what it needs (`has_masks`,
`needs_proposals`, `proposal_config`). Under it:
- `ops`: the operators in plain, vectorised torch, each matching torchvision's of the same name (box
  IoU, NMS, box coding, RoI pool / RoI Align, anchors, the RPN's matcher and sampler);
- `metrics`: PASCAL VOC mAP@0.5 (all-point, per class, "difficult" ignored; boxes or masks) and COCO
  mAP@[.5:.95], checked against pycocotools;
- `data`: `DetectionSplit` / `DetectionDataset` and the generated `digit_boxes` (boxes, labels, masks);
- `annotations`: PASCAL VOC 2007 (registered as `voc2007`, checksummed download, XML parsed safely)
  and COCO-style JSON for your own images;
- `loader`: detection batches on the device, augmented with their boxes, and cached proposals;
- `train`: the training engine's `Trainer` with detection hooks (the loader, summed loss parts, each
  logged in metrics.csv, and validation mAP), so `classicnets train` / `--resume` / checkpoints /
  signals work as for classifiers; `evaluate` (mAP tables), `predict` and `draw` (pictures with
  boxes, labels, scores and masks).
bench/detection.py trains and scores the models on `digit_boxes` and times them (R-CNN : Fast : Faster).
"""
