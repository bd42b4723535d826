"""The Cellpose algorithm as a plain Python/PyTorch library (no Django).

See docs/engine.md for the modules and their contracts. The names in `__all__` are the public API::

    from inference.engine import load_model, imread
    model = load_model()                      # the embedded default model
    result = model.segment(imread("cells.tif"), channels=(2, 1), diameter=None)
    result.masks                              # int32 (Ly, Lx), 0 = background

The re-exports are resolved lazily (PEP 562, as scikit-image does): importing the package, or a
light module such as `inference.engine.io`, does not import torch or numba.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = [
    "masks_to_flows",
    "compute_masks",
    "average_precision",
    "CellposeNet",
    "CellposeModel",
    "SegmentationResult",
    "load_model",
    "SizeModel",
    "imread",
    "ImageReadError",
    "save_masks",
    "synthesize",
]

_SOURCES = {
    "masks_to_flows": "flows",
    "compute_masks": "dynamics",
    "average_precision": "metrics",
    "CellposeNet": "net",
    "CellposeModel": "model",
    "SegmentationResult": "model",
    "load_model": "model",
    "SizeModel": "size",
    "imread": "io",
    "ImageReadError": "io",
    "save_masks": "export",
    "synthesize": "synth",
}

if TYPE_CHECKING:
    from .dynamics import compute_masks
    from .export import save_masks
    from .flows import masks_to_flows
    from .io import ImageReadError, imread
    from .metrics import average_precision
    from .model import CellposeModel, SegmentationResult, load_model
    from .net import CellposeNet
    from .size import SizeModel
    from .synth import synthesize


def __getattr__(name: str):
    if name in _SOURCES:
        value = getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
