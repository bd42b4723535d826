"""Training-time augmentations (Stringer et al. 2020, Methods, "Image augmentations").

Every training sample is one affine warp of an image and its precomputed training targets
(cellprob target, flow Y, flow X; see ``flows.labels_to_training_targets``):

1. rescale so that the cells have the common diameter ``diam_mean`` (the sample's median label
   diameter is known), times a random factor drawn uniformly from ``scale_range``;
2. rotate by a random angle in [0, 360) degrees;
3. translate randomly (the crop stays inside the rescaled image where it fits);
4. crop ``bsize`` x ``bsize`` (the warp fills what lies outside the image with zeros);
5. flip horizontally and / or vertically, each with probability 1/2.

All five are composed into one 2x3 matrix and applied in a single ``cv2.warpAffine`` per channel,
bilinear for the image, the flows and the cellprob target. The flows are vectors, so they are also
transformed: a flow at a destination pixel is the source flow rotated (and reflected) by the linear
part of the warp, without the scale, so unit vectors stay unit vectors. The cellprob target is
re-thresholded at 0.5 after the warp.

After the warp, the nucleus channel is sometimes dropped (set to 0, as for images without one), and
the intensities are sometimes jittered (gain, gamma, offset, per channel, after normalisation; the
zero padding outside the image stays 0, as the padding of tiles at inference does).

Randomness comes only from the ``numpy.random.Generator`` passed in, so the same seed gives the same
sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "IntensityJitter",
    "augment_sample",
    "jitter_intensity",
    "median_diameter",
    "random_warp",
    "warp_matrix",
    "warp_sample",
]


@dataclass(frozen=True)
class IntensityJitter:
    """Random per-channel intensity changes applied to a normalised image.

    With probability ``prob`` per channel: ``x -> gain * sign(x) * |x| ** gamma + offset``, with
    ``gain`` and ``gamma`` log-uniform in their ranges and ``offset`` uniform. A channel that is all
    zeros (no nucleus channel, or dropped) is left at zero: that is what the network sees at
    inference for a missing channel.
    """

    prob: float = 0.5
    gain: tuple[float, float] = (0.75, 1.33)
    gamma: tuple[float, float] = (0.75, 1.33)
    offset: tuple[float, float] = (-0.1, 0.1)


def median_diameter(masks: np.ndarray) -> float:
    """Median cell diameter of a label image, as in Cellpose.

    masks : ndarray of int, shape (Ly, Lx)
        0 = background, 1..N = cells.

    Returns the diameter of the disk whose area is the median cell area (Cellpose's
    ``median(sqrt(area)) / (sqrt(pi) / 2)``), or 0.0 when there is no cell.
    """
    _, counts = np.unique(masks[masks > 0], return_counts=True)
    if counts.size == 0:
        return 0.0
    return float(np.median(np.sqrt(counts)) / (math.sqrt(math.pi) / 2))


def warp_matrix(
    shape: tuple[int, int],
    *,
    bsize: int,
    scale: float = 1.0,
    theta: float = 0.0,
    flip_y: bool = False,
    flip_x: bool = False,
    shift: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """The affine warp that maps a source image of ``shape`` to a ``bsize`` crop.

    The source point ``centre + shift`` (in (y, x) pixels, centre = ((Ly-1)/2, (Lx-1)/2)) goes to
    the centre of the crop; around it the image is flipped, then rotated by ``theta`` radians, then
    scaled by ``scale``.

    Returns
    -------
    M : ndarray of float64, shape (2, 3)
        The matrix for ``cv2.warpAffine`` (source (x, y) -> destination (x, y)).
    V : ndarray of float64, shape (2, 2)
        How a (flow Y, flow X) vector is transformed: ``v_dst = V @ v_src``. It is the linear part
        of ``M`` without the scale, in (y, x) order.
    """
    Ly, Lx = shape
    c, s = math.cos(theta), math.sin(theta)
    R = np.array([[c, -s], [s, c]])  # (x, y) order
    F = np.diag([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0])
    W = R @ F
    L = scale * W
    src = np.array([(Lx - 1) / 2 + shift[1], (Ly - 1) / 2 + shift[0]])
    dst = np.array([(bsize - 1) / 2, (bsize - 1) / 2])
    M = np.concatenate([L, (dst - L @ src)[:, None]], axis=1)
    V = W[::-1, ::-1].copy()  # swap to (y, x) order
    return M, V


def warp_sample(
    image: np.ndarray,
    targets: np.ndarray | None,
    M: np.ndarray,
    V: np.ndarray,
    bsize: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply one warp to an image and its training targets.

    image : ndarray of float32, shape (C, Ly, Lx)
    targets : ndarray of float32, shape (3, Ly, Lx), or None
        (cellprob target 0/1, flow Y, flow X), flows as unit vectors.
    M, V : the matrices from ``warp_matrix``.

    Returns the image, shape (C, bsize, bsize), and the targets, shape (3, bsize, bsize), with the
    flows rotated by ``V`` and the cellprob target re-thresholded at 0.5 (0/1 float32).
    """
    dsize = (bsize, bsize)

    def warp(channel: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(
            np.ascontiguousarray(channel, dtype=np.float32), M, dsize,
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
        )

    img = np.stack([warp(ch) for ch in image])
    if targets is None:
        return img, None
    prob = (warp(targets[0]) > 0.5).astype(np.float32)
    fy, fx = warp(targets[1]), warp(targets[2])
    flows = np.stack([V[0, 0] * fy + V[0, 1] * fx, V[1, 0] * fy + V[1, 1] * fx])
    return img, np.concatenate([prob[None], flows.astype(np.float32)])


def random_warp(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    bsize: int = 224,
    scale: float = 1.0,
    scale_range: tuple[float, float] = (0.75, 1.25),
    rotate: bool = True,
    flip: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a random warp (see the module docstring); returns ``warp_matrix``'s (M, V).

    ``scale`` is the deterministic part (``diam_mean / diameter``); the random factor from
    ``scale_range`` multiplies it. The same number of values is drawn whatever the options, so
    the options do not shift the random stream of later samples.
    """
    u = rng.random(6)
    s = scale * (scale_range[0] + (scale_range[1] - scale_range[0]) * u[0])
    theta = 2 * math.pi * u[1] if rotate else 0.0
    # translation: the crop centre moves so that the crop stays inside the rescaled image
    # where it can (Cellpose's random_rotate_and_resize); in source pixels
    Ly, Lx = shape
    span_y = max(0.0, Ly * s - bsize) / s
    span_x = max(0.0, Lx * s - bsize) / s
    shift = ((u[2] - 0.5) * span_y, (u[3] - 0.5) * span_x)
    flip_y = bool(flip and u[4] < 0.5)
    flip_x = bool(flip and u[5] < 0.5)
    return warp_matrix(shape, bsize=bsize, scale=s, theta=theta,
                       flip_y=flip_y, flip_x=flip_x, shift=shift)


def jitter_intensity(
    image: np.ndarray,
    rng: np.random.Generator,
    jitter: IntensityJitter,
    coverage: np.ndarray | None = None,
) -> np.ndarray:
    """Random gain / gamma / offset per channel (see ``IntensityJitter``); a new array.

    image : ndarray of float32, shape (C, Ly, Lx), normalised (1st/99th percentiles at 0/1).
    coverage : ndarray of float32, shape (Ly, Lx), optional
        1 where the pixel lies inside the source image, 0 in the zero padding of a warp (bilinear
        in between); the jittered values are multiplied by it so the padding stays 0.
    """
    out = image.copy()
    for c in range(image.shape[0]):
        u = rng.random(4)  # always four draws per channel
        if u[0] >= jitter.prob or not np.any(image[c]):
            continue
        gain = _log_uniform(jitter.gain, u[1])
        gamma = _log_uniform(jitter.gamma, u[2])
        offset = jitter.offset[0] + (jitter.offset[1] - jitter.offset[0]) * u[3]
        x = image[c]
        out[c] = gain * np.sign(x) * np.abs(x) ** gamma + offset
        if coverage is not None:
            out[c] *= coverage
    return out


def augment_sample(
    image: np.ndarray,
    targets: np.ndarray,
    rng: np.random.Generator,
    *,
    diameter: float,
    diam_mean: float = 30.0,
    bsize: int = 224,
    scale_range: tuple[float, float] = (0.75, 1.25),
    rotate: bool = True,
    flip: bool = True,
    nucleus_dropout: float = 0.0,
    jitter: IntensityJitter | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One random training sample.

    image : ndarray of float32, shape (2, Ly, Lx)
        Network input (cytoplasm, nucleus-or-zeros), normalised.
    targets : ndarray of float32, shape (3, Ly, Lx)
        (cellprob target 0/1, flow Y, flow X) from ``flows.labels_to_training_targets``.
    diameter : float
        The median cell diameter of this image in pixels (``median_diameter(masks)``), > 0.

    Returns (image float32 (2, bsize, bsize), targets float32 (3, bsize, bsize)).
    """
    M, V = random_warp(image.shape[-2:], rng, bsize=bsize, scale=diam_mean / diameter,
                       scale_range=scale_range, rotate=rotate, flip=flip)
    img, tgt = warp_sample(image, targets, M, V, bsize)
    if rng.random() < nucleus_dropout and img.shape[0] > 1:
        img[1] = 0.0
    if jitter is not None:
        coverage = cv2.warpAffine(np.ones(image.shape[-2:], np.float32), M, (bsize, bsize),
                                  flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        img = jitter_intensity(img, rng, jitter, coverage)
    return img.astype(np.float32, copy=False), tgt


def _log_uniform(bounds: tuple[float, float], u: float) -> float:
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    return math.exp(lo + (hi - lo) * u)
