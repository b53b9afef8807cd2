"""What `classicnets models` lists, kept as a JSON file beside this module so that listing answers at
once instead of importing torch and counting every model's parameters. (Data sets need no such file:
their registry is torch-free metadata.)

Regenerate it after registering a model (`tests/test_docs.py` checks it is current):

    python -m classicnets.catalog
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("catalog.json")


def build() -> dict[str, list[dict[str, Any]]]:
    """The catalogue from the model registry itself (imports torch; counts on the meta device)."""
    from .zoo import list_models, model_info, parameter_count

    models = [{"name": n, "family": (i := model_info(n)).family, "input": list(i.input_shape),
               "params": parameter_count(n), "description": i.description} for n in list_models()]
    return {"models": models}


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
