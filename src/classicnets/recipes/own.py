"""This project's own recipes: the best it does on a data set within a stated budget.

Unlike the course's recipes, nothing here comes from a text: every setting was chosen on a
validation split held out of the training images (`TrainConfig(val_split=1/12)`: 5,000 of
Fashion-MNIST's 60,000, stratified, seed 0), the test split was evaluated only once the settings
were fixed, and the figure set beside a run is a published result with its source.

    classicnets train --recipe fashion_mnist_fast
"""
from __future__ import annotations

from . import CourseFigure, Recipe, register_recipe

FASHION_README = ("Fashion-MNIST's README, section Benchmark (Xiao, Rasul & Vollgraf 2017; "
                  "github.com/zalandoresearch/fashion-mnist; Debian: /usr/share/doc/dataset-fashion-mnist/README.md.gz)")

register_recipe(Recipe(
    name="fashion_mnist_fast",
    title="Fashion-MNIST above 94% test in under 10 minutes on a 2-core CPU (this project's)",
    source="classicnets issue 19; settings chosen on a 5,000-image validation split (docs/guide.md, Real data)",
    model="airbench28", data="fashion-mnist",
    train=dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="onecycle",
               label_smoothing=0.1, batch_size=128, epochs=16, normalize="standardize", precision="bf16",
               eval_batch_size=256, tta="flip"),
    augment=dict(horizontal_flip=True, translate=2, fill_mode="constant"),
    figure=CourseFigure("test_acc", 0.949, None,
                        "ResNet18 | Normalization, random horizontal flip, random vertical flip, random "
                        "translation, random rotation. | 0.949", FASHION_README, by="published ResNet18"),
    notes="The network is airbench's layout (Jordan 2024) at 28x28, 807k parameters, 20M multiply-adds "
          "per image, run in channels_last and bf16 on the CPU. SGD with Nesterov momentum 0.9 and weight "
          "decay 5e-4, one-cycle to 0.1, label smoothing 0.1, random mirror images and shifts of up to 2 "
          "pixels (zeros brought in); trains on all 60,000 images (the settings are fixed, so the 5,000 "
          "held out to choose them are put back) and evaluates the test split once, at batch 256 (faster "
          "than 1,024 on a CPU), each image's logits averaged with its mirror image's (--tta flip: 94.54% "
          "validation accuracy, against 94.22% without and 94.52% with flip_translate, one run with "
          "--val-split 0.0833333 scored by evaluate --split val --tta MODE). For scale, the README's table: 2 Conv+pooling+BN 0.934, VGG16 0.935, "
          "Google AutoML (24 compute hours) 0.939, ResNet18 0.949, MobileNet 0.950, WRN-28-10 + random "
          "erasing 0.963."))
