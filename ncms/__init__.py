"""The provincial supervision platform's core (docs/architecture.md)."""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__version__ = "0.1.0"


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A package's ``__getattr__`` (PEP 562) for its re-exports, ``name: ".module"`` or
    ``name: ".module:attribute"``: each module is imported on first use of one of its names.

    Why: importing any submodule runs its package's ``__init__`` first, so an eager re-export
    made every ``ncms`` command pay for polars and scikit-learn (``ncms.ingest.status`` pulled
    in the whole pipeline, ``ncms.monitor.catalogue`` the anomaly model)."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = exports[name].partition(":")
        value = getattr(importlib.import_module(module, package), attribute or name)
        setattr(sys.modules[package], name, value)  # the next use is a plain attribute
        return value

    return __getattr__
