"""Lazy package attributes (PEP 562), so `classicnets --help` and listings do not wait for torch.

A package lists which of its submodules defines each public name; the submodule (and torch with
it) is imported the first time the name is used.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """(`__getattr__`, `__dir__`) for `package`, whose public names live in the modules `where` names."""
    def __getattr__(name: str) -> object:
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(where)
    return __getattr__, __dir__
