"""The Cellpose algorithm as a plain Python/PyTorch library (no Django).

See docs/engine.md for the modules and their contracts. The public API is written once, in
``__init__.pyi`` (the names of ``__all__``; type checkers read the same stub)::

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
import ast
import importlib
from pathlib import Path


def _read_stub() -> dict[str, tuple[str, str | None]]:
    """{public name: (submodule, attribute or None for the submodule itself)} from __init__.pyi."""
    tree = ast.parse((Path(__file__).with_suffix(".pyi")).read_text(encoding="utf-8"))
    public = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                name = alias.asname or alias.name
                public[name] = (node.module, alias.name) if node.module else (alias.name, None)
    return public


_PUBLIC = _read_stub()
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        module, attribute = _PUBLIC[name]
        value = importlib.import_module(f".{module}", __name__)  # a submodule is also bound as an attribute
        if attribute is not None:
            value = getattr(value, attribute)
            globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
