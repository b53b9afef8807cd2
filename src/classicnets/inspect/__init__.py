"""Inspecting models: the summary table, sizing numbers, geometry checks, FC->conv conversion."""
from .fcn import FullyConvolutional, to_fully_convolutional
from .geometry import check_layer
from .summary import LayerRow, Summary, count_params, layer_macs, parse_input, summarize, summary

__all__ = ["FullyConvolutional", "LayerRow", "Summary", "check_layer", "count_params", "layer_macs",
           "parse_input", "summarize", "summary", "to_fully_convolutional"]
