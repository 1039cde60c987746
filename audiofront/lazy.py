"""Package attributes that import their module on first use (PEP 562).

``export``, ``runtime`` and ``models`` name their public objects in a dict ``name -> module`` and
load nothing until a name is asked for, so ``import audiofront.runtime`` stays free of torch,
onnx and the backends.
"""

from __future__ import annotations

import importlib
from typing import Callable, MutableMapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str], namespace: MutableMapping[str, object]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps a name to the module holding it
    (relative to ``package``, or a dotted absolute name); a loaded value is cached in ``namespace``."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where = exports[name]
        value = getattr(importlib.import_module(where if "." in where else f"{package}.{where}"), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
