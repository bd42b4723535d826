"""The Cellpose algorithm as a plain Python/PyTorch library (no Django).

See docs/engine.md for the modules and their contracts. The names in `__all__` are the public API::

    from inference.engine import load_model, imread
    model = load_model()                      # the embedded default model
    result = model.segment(imread("cells.tif"), channels=(2, 1), diameter=None)
    result.masks                              # int32 (Ly, Lx), 0 = background

Training::

    from inference.engine import TrainConfig, train
    result = train.train(images, labels, config=TrainConfig(n_epochs=100), out="my_model.pt")

`train` is the training module, not its function `train.train`: Python binds a package attribute
to a submodule of the same name whenever that submodule is imported, so re-exporting the function
under the module's name would make ``from inference.engine import train`` depend on import order.

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
    "train",
    "TrainConfig",
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
    "TrainConfig": "train",
}
_SUBMODULES = {"train"}  # exported as the module (see above)

if TYPE_CHECKING:
    from . import train
    from .dynamics import compute_masks
    from .export import save_masks
    from .flows import masks_to_flows
    from .io import ImageReadError, imread
    from .metrics import average_precision
    from .model import CellposeModel, SegmentationResult, load_model
    from .net import CellposeNet
    from .size import SizeModel
    from .synth import synthesize
    from .train import TrainConfig


def __getattr__(name: str):
    if name in _SOURCES:
        value = getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # also bound as an attribute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
