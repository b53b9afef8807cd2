"""Confusion matrices with many classes, read as lists: the largest confusions, the worst classes."""
import numpy as np
import pytest
import torch

from classicnets.runs.confusion import ClassAccuracy, Confusion, render_confusions, top_confusions, worst_classes

CLASSES = ["cat", "dog", "fox", "owl"]
M = torch.tensor([[8, 2, 0, 0],     # cat: 10, 2 taken for dogs
                  [5, 15, 0, 0],    # dog: 20, 5 taken for cats
                  [0, 2, 0, 2],     # fox: 4, never right
                  [0, 0, 0, 0]])    # owl: no example in this split


def test_top_confusions_count_off_diagonal_cells_largest_first():
    assert top_confusions(M, CLASSES) == [
        Confusion("dog", "cat", 5, 0.25),
        Confusion("fox", "dog", 2, 0.5),   # ties: the larger share of its class first, then class order
        Confusion("fox", "owl", 2, 0.5),
        Confusion("cat", "dog", 2, 0.2),
    ]
    assert top_confusions(M.numpy(), CLASSES, n=1) == [Confusion("dog", "cat", 5, 0.25)]
    assert top_confusions(np.eye(3, dtype=int), ["a", "b", "c"]) == []


def test_worst_classes_lowest_accuracy_first_without_empty_classes():
    worst = worst_classes(M.tolist(), CLASSES)
    assert worst == [ClassAccuracy("fox", 0, 4), ClassAccuracy("dog", 15, 20), ClassAccuracy("cat", 8, 10)]
    assert [r.acc for r in worst] == [0.0, 0.75, 0.8]
    assert worst_classes(M, CLASSES, n=2)[-1].name == "dog"


def test_rendered_as_aligned_lines():
    lines = []
    render_confusions(M, CLASSES, lines.append, n=2)
    assert lines == [
        "Most frequent confusions (true -> predicted):",
        "    dog -> cat  5  (25.0% of dog)",
        "    fox -> dog  2  (50.0% of fox)",
        "Lowest accuracy per class:",
        "    fox    0.0%  (0/4)",
        "    dog   75.0%  (15/20)",
    ]


def test_a_matrix_that_does_not_match_the_classes_is_refused():
    with pytest.raises(ValueError, match="shape"):
        top_confusions(M, CLASSES[:3])
