"""Whole-image evaluation during training: validation AP and the size-model fit.

Both run a network on full images rescaled so that their cells have a chosen diameter:
``validation_ap50`` at ``diam_mean`` (the known diameter), segmenting and scoring at IoU 0.5;
``fit_size_model`` at random known diameters, pairing each image's style vector with that
diameter for Cellpose's ``SizeModel`` ridge regression. Called by ``train.train``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import dynamics, metrics, size, tiling, transforms

__all__ = ["VAL_SEED", "fit_size_model", "rescale", "resize_nearest", "validation_ap50"]

VAL_SEED = 2**31 - 1  # second key of the validation generator: same val crops every time


@torch.inference_mode()
def validation_ap50(net, data, *, diam_mean: float, batch_size: int, bsize: int,
                    per_image: bool = False):
    """Mean AP at IoU 0.5 of full segmentations of ``data`` (a ``train_data.TrainingSet``), or
    the list of each image's AP with ``per_image``.

    Each image is resized so its cells have ``diam_mean`` (its known diameter), run through the
    network in tiles (no flips, overlap 0.1), turned into masks (``dynamics.compute_masks``), and
    the masks are resized back (nearest) and matched against the labels. ``net`` must be in eval
    mode.
    """
    aps = []
    for img, lab, d in zip(data.images, data.labels, data.diameters):
        y, _ = tiling.run_net([net], rescale(img, diam_mean / d), augment=False,
                              tile_overlap=0.1, batch_size=batch_size, bsize=bsize)
        masks = dynamics.compute_masks(y[:2], y[2])
        aps.append(metrics.average_precision(lab, resize_nearest(masks, lab.shape),
                                             thresholds=0.5)[0][0, 0])
    return [float(a) for a in aps] if per_image else float(np.mean(aps))


@torch.inference_mode()
def fit_size_model(net, data, config, diam_mean: float) -> size.SizeModel:
    """Cellpose's SizeModel training: styles of rescaled training images -> their diameter.

    Every image is rescaled ``config.size_n_rescales`` times so its median diameter becomes a
    random known value (log-uniform in diam_mean x ``config.size_scale_range``), a random crop of
    at most ``config.size_max_side`` pixels goes through the network as ``size.style_for_size``
    does at inference, and (style, known diameter) is one training pair of the ridge regression.
    Randomness comes from ``default_rng([config.seed, VAL_SEED, 1])``.
    """
    rng = np.random.default_rng([config.seed, VAL_SEED, 1])
    lo, hi = (math.log(diam_mean * s) for s in config.size_scale_range)
    styles, diams = [], []
    for img, d in zip(data.images, data.diameters):
        for _ in range(config.size_n_rescales):
            target = math.exp(rng.uniform(lo, hi))
            scale = target / d
            side = int(math.ceil(config.size_max_side / scale))
            y0 = int(rng.integers(0, max(1, img.shape[1] - side + 1)))
            x0 = int(rng.integers(0, max(1, img.shape[2] - side + 1)))
            crop = rescale(img[:, y0:y0 + side, x0:x0 + side], scale)
            styles.append(size.style_for_size([net], crop, batch_size=config.batch_size))
            diams.append(target)
    return size.SizeModel.fit(np.stack(styles), np.asarray(diams))


def rescale(image: np.ndarray, scale: float) -> np.ndarray:
    """Bilinear resize of float32 (C, Ly, Lx) by ``scale`` (at least 1 pixel per side)."""
    Ly, Lx = image.shape[-2:]
    return transforms.resize_image(image, max(1, round(Ly * scale)), max(1, round(Lx * scale)))


def resize_nearest(masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of int labels (Ly, Lx) to ``shape`` (sampling pixel centres)."""
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * masks.shape[0] / shape[0]).astype(int),
                      masks.shape[0] - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * masks.shape[1] / shape[1]).astype(int),
                      masks.shape[1] - 1)
    return masks[rows[:, None], cols[None, :]]
