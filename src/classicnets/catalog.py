"""What `classicnets models` and `classicnets datasets` list, kept as a JSON file beside this module
so that listing answers at once instead of importing torch and building 53 models.

Regenerate it after registering a model or a data set (`tests/test_docs.py` checks it is current):

    python -m classicnets.catalog
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("catalog.json")


def build() -> dict[str, list[dict[str, Any]]]:
    """The catalogue from the registries themselves (imports torch; counts on the meta device)."""
    from .data import list_datasets
    from .zoo import list_models, model_info, parameter_count

    models = [{"name": n, "family": (i := model_info(n)).family, "input": list(i.input_shape),
               "params": parameter_count(n), "description": i.description} for n in list_models()]
    datasets = [{"name": d.name, "classes": d.classes, "input": list(d.input_shape), "splits": d.splits,
                 "description": d.description, "license": d.license, "citation": d.citation}
                for d in list_datasets()]
    return {"models": models, "datasets": datasets}


def text(catalog: dict) -> str:
    return json.dumps(catalog, indent=1, ensure_ascii=False) + "\n"


def load() -> dict[str, list[dict[str, Any]]]:
    """The stored catalogue (no torch); rebuilt from the registries if the file is missing or damaged."""
    try:
        return json.loads(PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return build()


if __name__ == "__main__":
    from .fileio import write_text
    write_text(PATH, text(build()))
    print(f"wrote {PATH}")
