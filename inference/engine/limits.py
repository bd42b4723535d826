"""Cost limits of one segmentation, checked before the network input is allocated.

The cost of segmenting grows with the size of the *network input*: the image resized by
``rescale = diam_mean / diameter`` (for stacks in 3D, Z also stretched by ``anisotropy``). A tiny
diameter upsamples a small image into a huge one (diameter 0.01 turns a 1x1 image into a 3000x3000
input). `check_cost` refuses such a run with a ValueError that names the limit and the smallest
diameter that fits, before anything large is allocated. The web application passes its own
`CostLimits` (settings SEGMENT_MAX_*); the defaults here are the same.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CostLimits", "DEFAULT_LIMITS", "check_cost", "smallest_diameter"]


@dataclass(frozen=True)
class CostLimits:
    """Largest network input one segmentation may build.

    max_upscale : float
        Largest ``diam_mean / diameter`` (cells drawn this many times larger than they are).
    max_side : int
        Largest size of any one axis of the network input, in pixels.
    max_pixels : int
        Largest Ly x Lx of one plane of the network input.
    max_voxels : int
        Largest planes x Ly x Lx of a stack's network input (3D, or plane by plane).
    """

    max_upscale: float = 8.0
    max_side: int = 32768
    max_pixels: int = 2**28
    max_voxels: int = 2**28


DEFAULT_LIMITS = CostLimits()


def _network_shape(shape, rescale: float, anisotropy: float | None, do_3d: bool) -> tuple[int, ...]:
    *planes, ly, lx = (int(s) for s in shape)
    yx = (max(1, round(ly * rescale)), max(1, round(lx * rescale)))
    if not planes:
        return yx
    lz = planes[0]
    if do_3d:
        lz = max(1, round(lz * (1.0 if anisotropy is None else anisotropy) * rescale))
    return (lz, *yx)


def _largest_rescale(shape, anisotropy: float | None, do_3d: bool, limits: CostLimits) -> float:
    *planes, ly, lx = (int(s) for s in shape)
    aniso = 1.0 if anisotropy is None else float(anisotropy)
    bounds = [limits.max_upscale, limits.max_side / max(ly, lx), math.sqrt(limits.max_pixels / (ly * lx))]
    if planes:
        lz = planes[0]
        if do_3d:
            bounds += [limits.max_side / (lz * aniso), (limits.max_voxels / (lz * aniso * ly * lx)) ** (1 / 3)]
        else:
            bounds.append(math.sqrt(limits.max_voxels / (lz * ly * lx)))
    return min(bounds)


def smallest_diameter(shape, *, diam_mean: float, anisotropy: float | None = None, do_3d: bool = False,
                      limits: CostLimits = DEFAULT_LIMITS) -> float:
    """The smallest diameter (pixels, a multiple of 0.01) whose network input fits `limits`.

    shape : (Ly, Lx) of an image or (Lz, Ly, Lx) of a stack (channels excluded).
    """
    cents = math.ceil(diam_mean / _largest_rescale(shape, anisotropy, do_3d, limits) * 100 - 1e-6)
    while _problems(shape, cents / 100, diam_mean, anisotropy, do_3d, limits):  # sizes are rounded
        cents += 1
    return cents / 100


def _problems(shape, diameter, diam_mean, anisotropy, do_3d, limits) -> list[str]:
    rescale = diam_mean / diameter
    net = _network_shape(shape, rescale, anisotropy, do_3d)
    ly, lx = net[-2:]
    problems = []
    if rescale > limits.max_upscale:
        problems.append(f"it upsamples the image {rescale:.4g} times (limit {limits.max_upscale:g})")
    if max(net) > limits.max_side:
        problems.append(f"the network input would be {' x '.join(map(str, net))} pixels "
                        f"(limit {limits.max_side} per axis)")
    if ly * lx > limits.max_pixels:
        problems.append(f"one plane of the network input would have {ly * lx} pixels (limit {limits.max_pixels})")
    if len(net) == 3 and math.prod(net) > limits.max_voxels:
        problems.append(f"the stack's network input would have {math.prod(net)} voxels (limit {limits.max_voxels})")
    return problems


def check_cost(shape, *, diameter: float, diam_mean: float, anisotropy: float | None = None,
               do_3d: bool = False, limits: CostLimits = DEFAULT_LIMITS) -> None:
    """Raise ValueError when segmenting an image of `shape` at `diameter` exceeds `limits`.

    shape : (Ly, Lx) of an image or (Lz, Ly, Lx) of a stack (channels excluded).
    The message names the limit that is exceeded, the size the input would have, and the smallest
    diameter that fits.
    """
    problems = _problems(shape, diameter, diam_mean, anisotropy, do_3d, limits)
    if problems:
        fits = smallest_diameter(shape, diam_mean=diam_mean, anisotropy=anisotropy, do_3d=do_3d, limits=limits)
        raise ValueError(
            f"diameter {diameter:g} is too small for an image of {' x '.join(str(int(s)) for s in shape)} "
            f"pixels: {'; '.join(problems)}. Use a diameter of at least {fits:g} pixels."
        )
