"""Object size estimation: style vector -> log diameter (Stringer et al. 2020, "Test time resizing").

Two stages, as in the paper:

1. `SizeModel`: ridge regression from the image's style vector to the log of its median cell
   diameter. The style it expects is `style_for_size`: the network on the normalised image at its
   original scale, without augmentation. Fit it on styles computed the same way.
2. Refinement (`CellposeModel.estimate_diameter`): segment the image at the predicted diameter and
   take the median equivalent-circle diameter of the masks found (`diameter_of_masks`).
"""
from __future__ import annotations

import math

import numpy as np

from .augment import median_diameter
from .tiling import run_net

__all__ = ["SizeModel", "diameter_of_masks", "style_for_size"]

SIZE_MODEL_KIND = "ridge-style-to-log-diameter"


class SizeModel:
    """Ridge regression from style vectors to log diameter.

    ``log(diameter) = weights . (style - style_mean) + log_diameter_mean``
    """

    def __init__(self, weights, style_mean, log_diameter_mean: float, ridge: float = 1.0):
        self.weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        self.style_mean = np.asarray(style_mean, dtype=np.float64).reshape(-1)
        if self.weights.shape != self.style_mean.shape:
            raise ValueError(
                f"weights and style_mean must have the same length, got {self.weights.size} and {self.style_mean.size}"
            )
        self.log_diameter_mean = float(log_diameter_mean)
        self.ridge = float(ridge)

    @property
    def n_features(self) -> int:
        return int(self.weights.size)

    @classmethod
    def fit(cls, styles, diameters, ridge: float = 1.0) -> "SizeModel":
        """Fit the regression.

        Parameters
        ----------
        styles : ndarray of float, shape (N, D)
            One style vector per training image (see `style_for_size`).
        diameters : ndarray of float, shape (N,)
            The median cell diameter of each image in pixels (`diameter_of_masks`), > 0.
        ridge : float
            L2 penalty on the weights (>= 0), in units of the centred styles' Gram matrix.
        """
        X = np.asarray(styles, dtype=np.float64)
        d = np.asarray(diameters, dtype=np.float64).reshape(-1)
        if X.ndim != 2 or X.shape[0] != d.size or X.shape[0] < 1:
            raise ValueError(
                f"fit needs styles (N, D) and diameters (N,) with N >= 1; got {X.shape} and {d.shape}"
            )
        if not np.all(np.isfinite(d) & (d > 0)):
            raise ValueError("diameters must all be finite and > 0")
        if not np.all(np.isfinite(X)):
            raise ValueError("styles must all be finite")
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        y = np.log(d)
        style_mean = X.mean(axis=0)
        y_mean = float(y.mean())
        Xc, yc = X - style_mean, y - y_mean
        gram = Xc.T @ Xc + ridge * np.eye(X.shape[1])
        weights = np.linalg.lstsq(gram, Xc.T @ yc, rcond=None)[0]
        return cls(weights, style_mean, y_mean, ridge)

    def predict(self, style) -> float:
        """The diameter in pixels predicted for one style vector (D,)."""
        s = np.asarray(style, dtype=np.float64).reshape(-1)
        if s.size != self.n_features:
            raise ValueError(f"style must have {self.n_features} values, got shape {np.shape(style)}")
        return float(math.exp(float(self.weights @ (s - self.style_mean)) + self.log_diameter_mean))

    def to_dict(self) -> dict:
        """Plain lists and floats, loadable with ``torch.load(weights_only=True)``."""
        return {
            "kind": SIZE_MODEL_KIND,
            "weights": [float(v) for v in self.weights],
            "style_mean": [float(v) for v in self.style_mean],
            "log_diameter_mean": self.log_diameter_mean,
            "ridge": self.ridge,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SizeModel":
        if not isinstance(d, dict) or d.get("kind") != SIZE_MODEL_KIND:
            raise ValueError(f"not a size model dict (expected kind {SIZE_MODEL_KIND!r})")
        try:
            return cls(d["weights"], d["style_mean"], d["log_diameter_mean"], d.get("ridge", 1.0))
        except KeyError as e:
            raise ValueError(f"size model dict lacks {e.args[0]!r}") from None

    def __repr__(self) -> str:
        return f"SizeModel(n_features={self.n_features}, ridge={self.ridge})"


def diameter_of_masks(masks) -> float:
    """The median equivalent-circle diameter ``2 sqrt(area / pi)`` of the objects, in pixels.

    As in Cellpose: ``median(sqrt(area)) * 2 / sqrt(pi)``; `augment.median_diameter` with a 2D check.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx)
        0 = background, 1..N = cells.

    Returns
    -------
    float
        0.0 when there are no objects.
    """
    m = np.asarray(masks)
    if m.ndim != 2:
        raise ValueError(f"diameter_of_masks needs 2D masks (Ly, Lx), got shape {m.shape}")
    return median_diameter(m)


def style_for_size(nets, x, *, tile_overlap: float = 0.5, batch_size: int = 8, progress=None) -> np.ndarray:
    """The style vector `SizeModel` reads: the ensemble on `x` at its original scale, no augmentation.

    Parameters
    ----------
    nets : list of CellposeNet, in eval mode
    x : ndarray of float32, shape (2, Ly, Lx), normalised by `transforms.normalize99`

    Returns
    -------
    ndarray of float32, shape (D,)
    """
    return run_net(nets, x, augment=False, tile_overlap=tile_overlap, batch_size=batch_size, progress=progress)[1]
