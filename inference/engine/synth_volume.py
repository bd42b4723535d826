"""Synthetic 3D nuclei volumes, and the 2D slices of them that 3D segmentation shows the network.

``synth.synthesize(style="nuclei3d")`` renders one volume of crowded nuclei and returns one of
its slices: an XY plane, or a ZY / ZX plane of the volume stretched back to isotropic voxels, which
is what ``volume.run_3d`` feeds the 2D network. What makes such slices differ from 2D images of
nuclei is the microscope: the point-spread function is 2-4x longer along Z than across, and the Z
step is 1-3x the pixel size. So a plane shows, besides the nuclei it cuts, the blurred light of
nuclei just above and below it, and in ZY / ZX planes every nucleus is smeared along Z. The labels
are the nuclei themselves, never their blur: the network learns to put the boundary where the
object is, and to leave out-of-focus light as background.

The volume is drawn at half the output resolution (fast), with ellipsoidal nuclei packed at a
random density, a per-nucleus brightness and texture, the anisotropic PSF, out-of-focus haze and a
background level; planes are then taken every ``anisotropy`` voxels in Z, the camera adds noise,
and the chosen slice is stretched back and upsampled to the output size (labels by nearest
neighbour). Internal to ``synth``; see ``docs/synth.md``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

__all__ = ["render_nuclei3d"]

DIAMETER_RANGE = (12.0, 40.0)  # output pixels, drawn log-uniformly when not given
_ORIENTATIONS = ("xy", "zy", "zx")


def render_nuclei3d(rng: np.random.Generator, shape: tuple[int, int], diameter: float):
    """One slice of a synthetic nuclei volume: (image float32 (Ly, Lx), labels int32 (Ly, Lx),
    orientation, anisotropy). Labels are renumbered 1..N; a slice may hold no nucleus only when
    the volume is very sparse (the renderer picks planes through nuclei)."""
    ly, lx = shape
    side = max(ly, lx)
    d = diameter / 2  # nucleus diameter at the rendering resolution (half the output's)
    n_vox = max(8, int(math.ceil(side / 2)))
    vol_shape = (n_vox, n_vox, n_vox)
    labels = _pack_ellipsoids(rng, vol_shape, d)
    signal = _stain(rng, labels, d)
    sigma_xy = rng.uniform(0.4, 1.2)
    sigma_z = sigma_xy * rng.uniform(2.0, 4.0)
    blurred = ndimage.gaussian_filter(signal, (sigma_z, sigma_xy, sigma_xy), mode="constant")
    haze = ndimage.gaussian_filter(signal, (3 * sigma_z + d, d, d), mode="constant")
    img = blurred + rng.uniform(0.0, 0.6) * haze + rng.uniform(0.0, 0.15)
    # acquisition: one plane every `step` voxels in Z, then the camera
    step = float(np.exp(rng.uniform(0.0, math.log(3.0))))
    planes = np.round(np.arange(0, n_vox - 0.5, step)).astype(int)
    img, labels = img[planes], labels[planes]
    img = _camera(rng, img)
    orientation = _ORIENTATIONS[int(rng.integers(3))]
    image2d, labels2d = _slice(rng, img, labels, orientation, step)
    image2d = cv2.resize(image2d, (lx, ly), interpolation=cv2.INTER_LINEAR)
    labels2d = cv2.resize(labels2d, (lx, ly), interpolation=cv2.INTER_NEAREST)
    return image2d.astype(np.float32), _renumber(labels2d), orientation, step


def _pack_ellipsoids(rng, shape, d) -> np.ndarray:
    """Labels (int32, shape) of ellipsoidal nuclei of mean diameter ``d`` voxels, packed at a
    random density (10-45 % of the volume); a voxel claimed by two belongs to the nucleus whose
    surface it lies deeper inside."""
    lz, ly, lx = shape
    fill = rng.uniform(0.10, 0.45)
    n_target = int(fill * lz * ly * lx / (math.pi / 6 * d**3)) + 1
    labels = np.zeros(shape, np.int32)
    depth = np.full(shape, np.inf, np.float32)  # normalised radius of the owner at each voxel
    centres: list[np.ndarray] = []
    min_dist = 0.75 * d
    for _ in range(4 * n_target):
        if len(centres) >= n_target:
            break
        c = rng.uniform(-0.3 * d, np.array(shape) + 0.3 * d)
        if centres and np.min(np.linalg.norm(np.array(centres) - c, axis=1)) < min_dist:
            continue
        centres.append(c)
        radii = d / 2 * np.exp(rng.normal(0.0, 0.12, 3))
        radii[0] *= rng.uniform(0.8, 1.1)  # nuclei a little flatter in Z than across
        theta = rng.uniform(0, math.pi)
        _paint(labels, depth, len(centres), c, radii, theta)
    return labels


def _paint(labels, depth, k, c, radii, theta) -> None:
    """Write ellipsoid ``k`` (centre c (z, y, x), radii (rz, ry, rx), rotated by ``theta`` about
    Z) into ``labels`` where it lies deeper than the current owner."""
    r = float(radii.max()) + 1
    lo = np.maximum(np.floor(c - r).astype(int), 0)
    hi = np.minimum(np.ceil(c + r).astype(int) + 1, labels.shape)
    if np.any(hi <= lo):
        return
    zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    dz, dy, dx = zz - c[0], yy - c[1], xx - c[2]
    cos, sin = math.cos(theta), math.sin(theta)
    u, v = cos * dy + sin * dx, -sin * dy + cos * dx
    q = np.sqrt((dz / radii[0]) ** 2 + (u / radii[1]) ** 2 + (v / radii[2]) ** 2).astype(np.float32)
    box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    take = (q <= 1.0) & (q < depth[box])
    labels[box][take] = k
    depth[box][take] = q[take]


def _stain(rng, labels, d) -> np.ndarray:
    """Fluorescence of each nucleus: its own brightness, a smooth texture, a dimmer edge."""
    n = int(labels.max())
    bright = np.concatenate([[0.0], rng.uniform(0.35, 1.0, n)]).astype(np.float32)
    texture = ndimage.gaussian_filter(rng.standard_normal(labels.shape).astype(np.float32), d / 6)
    texture /= texture.std() + 1e-6
    inside = labels > 0
    edge = ndimage.distance_transform_edt(inside)
    rim = np.clip(edge / max(1.0, 0.2 * d), 0.0, 1.0)
    return np.where(inside, bright[labels] * (0.75 + 0.25 * rim) * (1 + 0.12 * texture),
                    0.0).astype(np.float32)


def _camera(rng, img) -> np.ndarray:
    """Poisson photon noise at a random exposure, Gaussian read noise, an offset."""
    peak = float(np.exp(rng.uniform(math.log(15.0), math.log(2000.0))))
    lam = np.maximum(img, 0) * peak
    counts = rng.poisson(lam).astype(np.float32)
    counts += rng.uniform(0.5, 3.0) * rng.standard_normal(img.shape).astype(np.float32)
    return counts + np.float32(rng.uniform(0, 100))


def _slice(rng, img, labels, orientation, step):
    """One plane through nuclei: XY as acquired, or ZY / ZX with Z stretched by ``step``."""
    if orientation == "xy":
        stack, lab = img, labels
    else:
        axis = 2 if orientation == "zy" else 1
        stack, lab = np.moveaxis(img, axis, 0), np.moveaxis(labels, axis, 0)  # (A, Z, B)
    occupied = np.flatnonzero((lab > 0).reshape(len(lab), -1).mean(axis=1) > 0.02)
    k = int(rng.choice(occupied)) if occupied.size else int(rng.integers(len(lab)))
    image2d, lab2d = stack[k], lab[k]
    if orientation != "xy":  # Z back to the pixel size, as run_3d resamples it
        h = max(1, int(round(image2d.shape[0] * step)))
        image2d = cv2.resize(image2d, (image2d.shape[1], h), interpolation=cv2.INTER_LINEAR)
        lab2d = cv2.resize(lab2d, (lab2d.shape[1], h), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(image2d, np.float32), np.ascontiguousarray(lab2d, np.int32)


def _renumber(labels) -> np.ndarray:
    """Labels 1..N in order of first appearance of each 4-connected piece (a nucleus cut twice by
    a plane gives two objects)."""
    out = np.zeros(labels.shape, np.int32)
    n = 0
    for value in np.unique(labels[labels > 0]):
        pieces, k = ndimage.label(labels == value)
        out[pieces > 0] = pieces[pieces > 0] + n
        n += k
    return out
