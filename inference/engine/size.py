"""Object size estimation: style vector -> log diameter (Stringer et al. 2020, "Test time resizing").

Two stages, as in the paper (`estimate_diameter`):

1. `SizeModel`: ridge regression from the image's style vector to the log of its median cell
   diameter. The style it expects is `style_for_size`: the network on the normalised image at its
   original scale, without augmentation. Fit it on styles computed the same way (the trainer fits
   it on crops of at most 256-512 px).
2. Refinement: segment the image at the predicted diameter and take the median equivalent-circle
   diameter of the masks found (`diameter_of_masks`).

Both stages only need a sample of the cells, so they run on small central crops, without flip
augmentation and with tiles that do not overlap: the style from one network tile
(`STYLE_MAX_SIDE`), the refinement from 2 x 2 tiles (`REFINE_SIDE`) unless they hold fewer than
`REFINE_MIN_CELLS` cells, when a crop of up to `REFINE_MAX_SIDE` is segmented instead. For a 512²
image this is 1 + 4 network tiles instead of the 16 + 25 of the style pass and the full
segmentation that Cellpose runs (benchmarks/bench_size.py compares the two on validation images;
benchmarks/bench_size_crops.py compares crop sizes).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .augment import median_diameter
from .dynamics import compute_masks, default_niter
from .tiling import run_net

__all__ = ["REFINE_MAX_SIDE", "REFINE_MIN_CELLS", "REFINE_SIDE", "STYLE_MAX_SIDE", "SizeModel",
           "diameter_of_masks", "estimate_diameter", "style_for_size"]

SIZE_MODEL_KIND = "ridge-style-to-log-diameter"

#: The style is read from the central crop of at most this many pixels a side: one 224-px network
#: tile after the 8-px padding (a larger crop did not predict better on the validation images).
STYLE_MAX_SIDE = 208
#: The refinement segments the central crop of at most this many pixels a side on the network's
#: scale (``REFINE_SIDE * d_style / diam_mean`` pixels of the image): 2 x 2 tiles after padding.
REFINE_SIDE = 432
#: When that crop holds fewer masks than this (sparse cells, or a poor first guess), the
#: refinement segments the central crop of at most `REFINE_MAX_SIDE` pixels a side instead.
REFINE_MIN_CELLS = 10
REFINE_MAX_SIDE = 1024
#: For the central plane of a stack, the diameter is this quantile of the cells' section
#: diameters, not their median: a plane cuts each cell at a random height, and for a sphere of
#: diameter d cut at a uniformly random height the sections' median is 0.87 d while their upper
#: quartile is sqrt(1 - 0.25**2) d = 0.97 d.
STACK_SECTION_QUANTILE = 0.75


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


def estimate_diameter(
    nets,
    size_model: SizeModel,
    x,
    *,
    diam_mean: float,
    batch_size: int = 8,
    dynamics_device=None,
    progress: Callable[[str, float], None] | None = None,
    section_quantile: float = 0.5,
) -> tuple[float, str]:
    """The median cell diameter in pixels of a normalised image, and where it came from.

    1. ``d_style``: `size_model` on the `style_for_size` of the central crop of at most
       `STYLE_MAX_SIDE` px a side (tiles without overlap).
    2. The central crop of at most `REFINE_SIDE` px a side on the network's scale is segmented at
       ``d_style`` (no flips, tiles without overlap, `dynamics.compute_masks` with its default
       thresholds and ``default_niter(d_style)``); when it holds fewer than `REFINE_MIN_CELLS`
       masks and the image extends beyond it, the central crop of at most `REFINE_MAX_SIDE` px is
       segmented the same way instead. The result is the ``section_quantile`` of those masks'
       equivalent-circle diameters (0.5: `diameter_of_masks`; the central plane of a stack uses
       `STACK_SECTION_QUANTILE`), or ``d_style`` when there are none.

    Parameters
    ----------
    nets : list of CellposeNet, in eval mode
    size_model : SizeModel
    x : ndarray of float32, shape (2, Ly, Lx), normalised by `transforms.normalize99`
    diam_mean : float
        The diameter the nets work at.
    batch_size : int
        Tiles per network pass.
    dynamics_device : torch.device, optional
        Passed to `dynamics.compute_masks`.
    progress : callable(stage, fraction), optional
        Called as ``progress("size", fraction)``.

    Returns
    -------
    diameter : float
    source : str
        "size model", or "size model (style only: no cells at the predicted size)".
    """
    report = progress if progress is not None else (lambda stage, fraction: None)
    report("size", 0.0)
    style = style_for_size(nets, _central_crop(x, STYLE_MAX_SIDE), tile_overlap=0.0, batch_size=batch_size,
                           progress=lambda _stage, f: report("size", 0.3 * f))
    d_style = size_model.predict(style)
    rescale = diam_mean / d_style
    for first, side in ((True, REFINE_SIDE), (False, REFINE_MAX_SIDE)):
        crop = _central_crop(x, max(1, int(side / rescale)))
        start = 0.3 if first else 0.6
        y, _ = run_net(nets, crop, rescale=rescale, augment=False, tile_overlap=0.0, batch_size=batch_size,
                       progress=lambda _stage, f, start=start: report("size", start + 0.3 * f))
        masks = compute_masks(y[:2], y[2], niter=default_niter(d_style, diam_mean), device=dynamics_device)
        if int(masks.max()) >= REFINE_MIN_CELLS or crop.shape[-2:] == x.shape[-2:]:
            break
    d = _section_diameter(masks, section_quantile)
    report("size", 1.0)
    if d > 0:
        return d, "size model"
    return d_style, "size model (style only: no cells at the predicted size)"


def _section_diameter(masks: np.ndarray, quantile: float) -> float:
    """The ``quantile`` of the objects' equivalent-circle diameters (0.0 without objects)."""
    _, areas = np.unique(masks[masks > 0], return_counts=True)
    if areas.size == 0:
        return 0.0
    return float(np.quantile(2 * np.sqrt(areas / np.pi), quantile))


def _central_crop(x: np.ndarray, side: int) -> np.ndarray:
    """The central (2, <= side, <= side) part of a (2, Ly, Lx) image (a view)."""
    Ly, Lx = x.shape[-2:]
    y0, x0 = max(0, (Ly - side) // 2), max(0, (Lx - side) // 2)
    return x[..., y0:y0 + side, x0:x0 + side]
