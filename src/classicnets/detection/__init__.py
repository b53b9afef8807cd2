"""Object detection, the course's R-CNN line (issue 14): the foundations, before the models.

What exists:
- `ops`: box operators in plain, vectorised torch, each matching torchvision's operator of the same
  name: `box_area`, `box_iou`, `nms`, `batched_nms`, R-CNN's box parametrisation (`encode_boxes`,
  `decode_boxes`), Fast R-CNN's `roi_pool`, Mask R-CNN's `roi_align`, Faster R-CNN's anchors
  (`make_anchors`) and the RPN's target assignment and sampling (`match_boxes`, `sample_labels`).
- `metrics`: PASCAL VOC mAP@0.5 (`voc_map`, all-point, "difficult" ignored) and COCO mAP@[.5:.95]
  (`coco_map`, as pycocotools' COCOeval for bbox), tested against pycocotools.
- `data`: `DetectionSplit` / `DetectionDataset`, the detection counterparts of `data.core.Split` and
  `Dataset` (images as the same uint8 tensor, objects in flat tensors), and the generated
  `digit_boxes` data set (registered: `load_dataset("digit_boxes")`), with boxes, labels and masks.
- `annotations`: PASCAL VOC XML (`parse_voc_xml`) and the VOC 2007 archives with their published
  checksums (`load_voc2007`), and COCO-style JSON for your own images (`read_coco`).
- bench/nms_speed.py: `nms` on 10,000 boxes against Python loops.

What is next:
- the models, one file per family as the zoo does (STYLE 1-4): R-CNN (warped proposals into a CNN,
  per-class box regression), Fast R-CNN (RoI pooling on one feature map), Faster R-CNN (an RPN on
  `make_anchors`, `match_boxes`, `sample_labels`) and Mask R-CNN (`roi_align`, a mask head on
  `digit_boxes`' masks), registered and tested by the registry on tiny inputs;
- training and evaluation through `fit` / `train`, `evaluate` and `predict`: a batch loader for
  `DetectionSplit` (images gathered on the device, targets as views), losses from the models, the
  metrics here as the evaluation numbers, and a CLI that refuses detection data for classifiers;
- VOC images decoded and resized for training (the annotations are read here, the images are not);
- benchmarks: proposals per second, and mAP on `digit_boxes` and VOC 2007 test against the papers.
"""
