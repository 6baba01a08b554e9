"""The algorithms: every module here that declares ``ALGORITHM`` (algorithm.Algorithm), by name,
found when the package is imported; adding an algorithm is adding a module."""
from __future__ import annotations

import importlib
import pkgutil

from .algorithm import Algorithm


def _declared() -> dict[str, tuple[Algorithm, str]]:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        declaration = getattr(importlib.import_module(f"{__name__}.{info.name}"), "ALGORITHM", None)
        if isinstance(declaration, Algorithm):
            found[declaration.name] = declaration, info.name
    return found


_FOUND = _declared()
ALGORITHMS: dict[str, Algorithm] = {name: declaration for name, (declaration, _) in _FOUND.items()}
MODULES: dict[str, str] = {name: module for name, (_, module) in _FOUND.items()}  # the module that declares it
