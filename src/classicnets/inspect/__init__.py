"""Inspecting models: the summary table and sizing numbers."""
from .summary import LayerRow, Summary, count_params, layer_macs, parse_input, summarize, summary

__all__ = ["LayerRow", "Summary", "count_params", "layer_macs", "parse_input", "summarize", "summary"]
