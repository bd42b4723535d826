"""Seeded synthetic microscopy images with exact instance labels.

The embedded default model is trained only on these images, so the generator aims for variety:
cell shapes (round, elliptical, elongated, irregular, branched), sizes, packing (sparse to confluent,
touching cells everywhere), textures, uneven illumination, blur, Poisson and Gaussian noise, and
several renderings (see ``STYLES``). Everything is drawn from one ``numpy.random.Generator`` seeded
by the caller, so the same seed always gives the same sample.

The geometry (object shapes, placement, labels) lives in ``synth_shapes``; this module renders
each style on top of it.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from . import synth_volume
from .augment import median_diameter  # re-exported: the one diameter formula
from .synth_shapes import (
    _cell_layout,
    _consecutive,
    _edges,
    _labels,
    _nuclei_in_cells,
    _nuclei_layout,
    _Objects,
    _place,
    _rasterize,
    _smooth_field,
)

__all__ = [
    "EXTRA_STYLES",
    "STYLES",
    "STYLE_WEIGHTS",
    "SynthSample",
    "synthesize",
    "synthesize_sample",
    "make_dataset",
    "make_samples",
    "iter_dataset",
    "median_diameter",
]

STYLES = ("nuclei", "cyto", "cyto_only", "epithelium", "inverted", "brightfield", "phase", "he")
"""Names of the renderings drawn when no style is given; ``docs/synth.md`` describes each."""

EXTRA_STYLES = ("nuclei3d",)
"""Renderings drawn only when asked for by name: ``nuclei3d`` is a slice of a nuclei volume as
3D segmentation sees it (``synth_volume``). Kept out of ``STYLES`` so that the default draw, and
the images of every seed, stay as they were."""

STYLE_WEIGHTS = {
    "nuclei3d": 1.0,
    "nuclei": 0.36, "cyto": 0.14, "cyto_only": 0.07, "epithelium": 0.08,
    "inverted": 0.10, "brightfield": 0.07, "phase": 0.06, "he": 0.12,
}
"""How often ``synthesize(style=None)`` picks each style (and, for ``iter_dataset``'s
``styles``, each of the named ones)."""

# Target mean diameter range (pixels) per style, drawn log-uniformly when diameter is None.
_DIAMETER_RANGE = {
    "nuclei": (10.0, 50.0), "cyto": (20.0, 60.0), "cyto_only": (20.0, 60.0),
    "epithelium": (15.0, 50.0), "inverted": (10.0, 50.0), "brightfield": (15.0, 60.0),
    "phase": (15.0, 60.0), "he": (10.0, 35.0),
}

SeedLike = int | Sequence[int] | np.random.SeedSequence


@dataclass(frozen=True)
class SynthSample:
    """One synthetic sample.

    image : ndarray of float32, shape (2, Ly, Lx)
        Channel 0: cytoplasm, or the only channel; channel 1: nucleus stain, or zeros.
    masks : ndarray of int32, shape (Ly, Lx)
        0 = background, 1..N = objects (cells, or nuclei in nucleus-only styles).
    nuclei : ndarray of int32, shape (Ly, Lx)
        The nucleus of cell k carries label k (a cell may have none); equals ``masks`` in
        nucleus-only styles.
    style : str
        One of ``STYLES``.
    diameter : float
        The target mean diameter in pixels (see ``median_diameter`` for the labels' own).
    rgb : ndarray of float32, shape (Ly, Lx, 3), or None
        The simulated colour image for the ``he`` style (values in 0..1), else None.
    """

    image: np.ndarray
    masks: np.ndarray
    nuclei: np.ndarray
    style: str
    diameter: float
    rgb: np.ndarray | None = None


# ----------------------------------------------------------------------------------------------
# public API


def synthesize(seed: SeedLike, *, shape: tuple[int, int] = (256, 256), style: str | None = None,
               diameter: float | None = None,
               sister_nuclei: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic image and its instance labels.

    Parameters
    ----------
    seed : int, sequence of int, or numpy.random.SeedSequence
        The same seed (and arguments) always gives the same output.
    shape : (Ly, Lx)
        Image size, each side at least 16.
    style : str or None
        One of ``STYLES``; None picks one at random with ``STYLE_WEIGHTS``.
    diameter : float or None
        Target mean object diameter in pixels; None draws one from the style's range.
    sister_nuclei : bool
        In the styles whose objects are nuclei (``nuclei``, ``he``, and ``inverted`` when it draws
        nuclei), half the images also get nuclei pressed against a similar one, as daughter
        nuclei after a division are (``docs/synth.md``). False keeps the images of earlier versions:
        the same seed gives the same sample.

    Returns
    -------
    image : ndarray of float32, shape (2, Ly, Lx)
        Channel 0 = cytoplasm or the only channel, channel 1 = nucleus or zeros. Arbitrary scale.
    masks : ndarray of int32, shape (Ly, Lx)
        0 = background, 1..N consecutive; each label is one 4-connected region.
    """
    s = synthesize_sample(seed, shape=shape, style=style, diameter=diameter,
                          sister_nuclei=sister_nuclei)
    return s.image, s.masks


def synthesize_sample(seed: SeedLike, *, shape: tuple[int, int] = (256, 256),
                      style: str | None = None, diameter: float | None = None,
                      sister_nuclei: bool = False) -> SynthSample:
    """Like ``synthesize`` but returns a ``SynthSample`` with the nuclei, style and diameter."""
    shape = _check_shape(shape)
    if style is not None and style not in STYLES + EXTRA_STYLES:
        raise ValueError(f"style must be one of {STYLES + EXTRA_STYLES} or None, got {style!r}")
    if diameter is not None and not (math.isfinite(diameter) and 4.0 <= diameter <= 4 * max(shape)):
        raise ValueError(f"diameter must be a number of pixels in [4, {4 * max(shape)}], got {diameter!r}")
    rng = np.random.default_rng(seed)
    if style is None:
        p = np.array([STYLE_WEIGHTS[s] for s in STYLES])
        style = STYLES[rng.choice(len(STYLES), p=p / p.sum())]
    if diameter is None:
        lo, hi = _DIAMETER_RANGE[style] if style in _DIAMETER_RANGE else synth_volume.DIAMETER_RANGE
        diameter = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    options = {"sisters": True} if sister_nuclei and style in _NUCLEUS_LAYOUTS else {}
    return _RENDERERS[style](rng, shape, float(diameter), **options)


def iter_dataset(seed: int, *, shape: tuple[int, int] = (256, 256),
                 styles: Sequence[str] | None = None,
                 sister_nuclei: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """An endless stream of ``(image, masks)``; sample i is
    ``synthesize((seed, i), style=..., sister_nuclei=sister_nuclei)``.

    The style of each sample is drawn with ``STYLE_WEIGHTS`` among ``styles`` (None = all).
    """
    shape = _check_shape(shape)
    styles = STYLES if styles is None else tuple(styles)
    if not styles or any(s not in STYLES + EXTRA_STYLES for s in styles):
        raise ValueError(f"styles must be a non-empty subset of {STYLES + EXTRA_STYLES}, "
                         f"got {styles!r}")
    p = np.array([STYLE_WEIGHTS[s] for s in styles])
    # arguments checked now, not at next()
    return _stream(int(seed), shape, styles, p / p.sum(), bool(sister_nuclei))


def _stream(seed, shape, styles, p, sister_nuclei, samples=False):
    i = 0
    while True:
        style = styles[int(np.random.default_rng((seed, i, 1)).choice(len(styles), p=p))]
        s = synthesize_sample((seed, i), shape=shape, style=style, sister_nuclei=sister_nuclei)
        yield s if samples else (s.image, s.masks)
        i += 1


def make_dataset(n: int, seed: int, *, shape: tuple[int, int] = (256, 256),
                 styles: Sequence[str] | None = None,
                 sister_nuclei: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``n`` samples of ``iter_dataset(seed, ...)`` with the same arguments."""
    return [(s.image, s.masks) for s in make_samples(n, seed, shape=shape, styles=styles,
                                                     sister_nuclei=sister_nuclei)]


def make_samples(n: int, seed: int, *, shape: tuple[int, int] = (256, 256),
                 styles: Sequence[str] | None = None,
                 sister_nuclei: bool = False) -> list[SynthSample]:
    """``make_dataset``'s samples as ``SynthSample`` (with their style): the same images."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    shape = _check_shape(shape)
    styles = STYLES if styles is None else tuple(styles)
    if not styles or any(s not in STYLES + EXTRA_STYLES for s in styles):
        raise ValueError(f"styles must be a non-empty subset of {STYLES + EXTRA_STYLES}, "
                         f"got {styles!r}")
    p = np.array([STYLE_WEIGHTS[s] for s in styles])
    it = _stream(int(seed), shape, styles, p / p.sum(), bool(sister_nuclei), samples=True)
    return [next(it) for _ in range(n)]


def _check_shape(shape) -> tuple[int, int]:
    try:
        ly, lx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (Ly, Lx), got {shape!r}") from None
    if ly < 16 or lx < 16:
        raise ValueError(f"shape must be (Ly, Lx) with each side >= 16, got {shape!r}")
    return ly, lx


# ----------------------------------------------------------------------------------------------
# rendering helpers


def _loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _texture(rng, shape, sigma):
    """Gaussian noise low-passed at ``sigma`` pixels, unit standard deviation."""
    if sigma > 2.5:  # draw at a lower resolution, then upsample
        f = sigma / 1.5
        small = (max(4, int(shape[0] / f) + 1), max(4, int(shape[1] / f) + 1))
        t = cv2.GaussianBlur(rng.standard_normal(small, dtype=np.float32), (0, 0), 1.5)
        t = cv2.resize(t, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    else:
        t = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), sigma)
    return t / (t.std() + 1e-6)


def _fibres(rng, shape, length, angle):
    """Oriented fibrous texture: noise stretched along ``angle``, unit standard deviation."""
    t = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), sigmaX=length, sigmaY=0.8)
    rot = cv2.getRotationMatrix2D((shape[1] / 2, shape[0] / 2), np.degrees(angle), 1.0)
    t = cv2.warpAffine(t, rot, (shape[1], shape[0]), borderMode=cv2.BORDER_REFLECT)
    return t / (t.std() + 1e-6)


def _blur(img, sigma):
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0.3 else img


def _distances(lab):
    """(distance inside objects to the background, distance to the nearest cell-cell contact)."""
    _, contact = _edges(lab)
    d_bg = cv2.distanceTransform((lab > 0).astype(np.uint8), cv2.DIST_L2, 3)
    d_ct = cv2.distanceTransform((~contact).astype(np.uint8), cv2.DIST_L2, 3)
    return d_bg, d_ct


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _per_object(values, lab):
    """Gather per-object values (n,) at each pixel of ``lab``; 0 on the background."""
    return np.concatenate([[0.0], values]).astype(np.float32)[lab]


def _illumination(rng, shape, strength):
    """Multiplicative uneven illumination: smooth field plus vignetting, mean ~1, positive."""
    ly, lx = shape
    field = 1 + strength * rng.uniform(0, 1) * _smooth_field(rng, shape, rng.uniform(0.6, 2.0))
    yy, xx = np.ogrid[:ly, :lx]
    cy, cx = rng.uniform(0, ly), rng.uniform(0, lx)
    v = ((yy - cy) ** 2 + (xx - cx) ** 2) / (ly * ly + lx * lx)
    field = field * (1 - strength * rng.uniform(0, 1) * v)
    return np.maximum(field, 0.2).astype(np.float32)


def _acquire(rng, img, *, peak_range=(10.0, 4000.0)):
    """Camera: Poisson photon noise at a random exposure, Gaussian read noise and an offset."""
    peak = _loguniform(rng, *peak_range)
    lam = np.maximum(img, 0) * np.float32(peak)
    counts = lam + np.sqrt(lam) * rng.standard_normal(lam.shape, dtype=np.float32)
    low = lam < 15  # exact Poisson where the normal approximation is poor
    counts[low] = rng.poisson(lam[low])
    counts += rng.uniform(0, 2) * np.sqrt(peak) * 0.3 * rng.standard_normal(img.shape, dtype=np.float32)
    return counts + np.float32(rng.uniform(0, 100))


def _soft_footprint(rng, lab, d_bg, r_mean):
    """Where each object's stain lies: a soft rim of random width that reaches 0.6-1.2 widths
    beyond the label outline, so the outline falls at 65-100 % of the object's own brightness
    before blurring (the visible edge, where people draw it; ~0.6 of the bright level after the
    PSF) rather than at the dark foot of the rim.

    ``d_bg`` is the distance inside objects to the background (`_distances`). Returns (owner,
    edge): ``owner`` (int32, lab's shape) the label of the nearest object for pixels the rim
    reaches (0 elsewhere); ``edge`` (float32) the rim profile, 0..1."""
    width = rng.uniform(0.8, max(1.0, 0.25 * r_mean))
    reach = rng.uniform(0.6, 1.2) * width  # how far the rim extends beyond the outline
    inside = lab > 0
    if not inside.any():
        return lab, np.zeros(lab.shape, np.float32)
    d_out, (iy, ix) = ndimage.distance_transform_edt(~inside, return_indices=True)
    signed = np.where(inside, d_bg - 0.5, 0.5 - d_out)  # px from the outline, > 0 inside
    edge = _smoothstep((signed + reach) / width).astype(np.float32)
    owner = np.where(edge > 0, lab[iy, ix], 0).astype(np.int32)
    return owner, edge


def _fluor_objects(rng, lab, fmap, bright, r_mean, p_overlap=0.0):
    """Fluorescent objects: per-object brightness, a dome profile, soft outer edges, chromatin-like
    speckle, and cell-cell contacts that are dimmed (a gap between neighbours) or, with
    probability ``p_overlap``, brightened (neighbours overlapping in projection: where two stained
    objects lie on top of each other their signals add, in a band along the shared boundary).
    0 on the background."""
    d_bg, d_ct = _distances(lab)
    owner, edge = _soft_footprint(rng, lab, d_bg, r_mean)
    dome = 1 - rng.uniform(0, 0.6) * np.minimum(fmap, 1) ** 2
    if rng.random() < p_overlap:
        gap = rng.uniform(1.25, 2.0)  # the overlap: up to twice as bright
        width = rng.uniform(1.5, max(2.0, 0.3 * r_mean))
    else:
        gap = rng.uniform(0.15, 1.0)  # 1 = contacts invisible
        width = rng.uniform(1.0, 3.0)
    contact = gap + (1 - gap) * _smoothstep(d_ct / width)
    img = _per_object(bright, owner) * dome * edge * contact
    tex = _texture(rng, lab.shape, rng.uniform(0.6, max(0.7, min(3.0, 0.12 * r_mean))))
    img *= np.maximum(1 + rng.uniform(0, 0.35) * tex, 0.1)
    if rng.random() < 0.5:  # bright chromocentres
        spots = (rng.random(lab.shape) < rng.uniform(0.002, 0.02)).astype(np.float32)
        img += rng.uniform(0.5, 3.0) * _blur(spots, 1.0) * 6 * img
    return img.astype(np.float32)


def _finish(image0, image1, lab, nuclei, style, diameter, rgb=None):
    masks, nuclei = _consecutive(lab, nuclei)
    ch1 = np.zeros_like(image0) if image1 is None else image1
    image = np.stack([image0, ch1]).astype(np.float32)
    return SynthSample(image, masks.astype(np.int32), nuclei.astype(np.int32), style, diameter, rgb)


# ----------------------------------------------------------------------------------------------
# styles


def _fluor_nuclei_image(rng, shape, diameter, sisters=False):
    o, lab, fmap, bright = _nuclei_layout(rng, shape, diameter, sisters)
    bg_level = rng.uniform(0.0, 0.25)
    bright = np.maximum(bright, max(0.25, bg_level))  # labelled nuclei stay visible
    img = _fluor_objects(rng, lab, fmap, bright, diameter / 2, p_overlap=0.45)
    oof = np.concatenate([[False], rng.random(o.n) < rng.choice([0.0, rng.uniform(0, 0.25)])])[lab]
    oof = cv2.dilate(oof.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # with the rim outside the label
    psf = rng.uniform(0.4, 1.8)
    img = _blur(np.where(oof, 0, img), psf) + _blur(np.where(oof, img, 0), psf + rng.uniform(1.0, 3.0))
    bg = bg_level * (1 + 0.5 * rng.uniform(0, 1) * _smooth_field(rng, shape, 2))
    return o, lab, fmap, (img + np.maximum(bg, 0)) * _illumination(rng, shape, 0.5)


def _style_nuclei(rng, shape, diameter, sisters=False):
    _, lab, _, img = _fluor_nuclei_image(rng, shape, diameter, sisters)
    img = _acquire(rng, img, peak_range=(20.0, 4000.0))
    if rng.random() < 0.3:  # a saturated camera or 8-bit export: the brightest pixels clip
        img = np.minimum(img, np.percentile(img, 100 - rng.uniform(0.2, 3.0))).astype(np.float32)
    return _finish(img, None, lab, lab, "nuclei", diameter)


def _style_cyto(rng, shape, diameter, style="cyto"):
    o, lab, fmap = _cell_layout(rng, shape, diameter)
    nlab, nf = _nuclei_in_cells(rng, shape, o, lab)
    bright = np.exp(rng.uniform(0.15, 0.6) * rng.standard_normal(o.n))
    cyt = _fluor_objects(rng, lab, fmap, bright, diameter / 2, p_overlap=0.2)
    # cytoplasm is thicker around the nucleus; the nucleus itself may be dimmer or brighter
    cyt *= 1 + rng.uniform(0.0, 1.5) * (1 - np.minimum(fmap, 1)) ** 2
    cyt *= np.where(nlab > 0, rng.uniform(0.3, 1.6), 1.0).astype(np.float32)
    if rng.random() < 0.3:  # brighter cell cortex
        d_bg, _ = _distances(lab)
        cyt += rng.uniform(0.2, 1.0) * np.exp(-(d_bg / 1.5) ** 2) * (lab > 0) * _per_object(bright, lab)
    psf = rng.uniform(0.5, 2.0)
    illum = _illumination(rng, shape, 0.5)
    img0 = (_blur(cyt.astype(np.float32), psf) + rng.uniform(0, 0.2)) * illum
    img1 = None
    if style == "cyto":
        nuc = _fluor_objects(rng, nlab, nf, np.exp(rng.uniform(0.1, 0.5) * rng.standard_normal(o.n)), diameter / 5)
        img1 = _acquire(rng, (_blur(nuc, psf) + rng.uniform(0, 0.15)) * illum)
    return _finish(_acquire(rng, img0), img1, lab, nlab, style, diameter)


def _style_cyto_only(rng, shape, diameter):
    return _style_cyto(rng, shape, diameter, "cyto_only")


def _style_epithelium(rng, shape, diameter):
    """Confluent sheet with a membrane stain: bright cell outlines, dim interiors, nuclei in ch 1."""
    o = _place(rng, shape, diameter, area_frac=1.2, overlap=rng.uniform(0.42, 0.5),
               size_sd=rng.uniform(0.05, 0.25), aspect=lambda n: rng.uniform(1.0, 1.5, n),
               irregularity=lambda n: rng.uniform(0.0, 0.3, n), cluster=0.0)
    o.rtab *= np.float32(rng.uniform(1.6, 2.2))
    lab, fmap = _labels(shape, o, max(10, int(0.05 * diameter ** 2)))
    holes = np.concatenate([[False], rng.random(o.n) < rng.uniform(0, 0.06)])  # a few gaps
    lab = np.where(holes[lab], 0, lab).astype(np.int32)
    edge, _ = _edges(lab)
    d_edge = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)
    width = rng.uniform(0.6, 2.0)
    bright = np.exp(rng.uniform(0.1, 0.5) * rng.standard_normal(o.n))
    memb = np.exp(-(d_edge / width) ** 2) * (1 + 0.4 * _texture(rng, shape, 2.0)).clip(0.2)
    memb *= np.maximum(_per_object(bright, lab), (lab == 0) * 0.6)
    inner = rng.uniform(0.0, 0.35) * _per_object(bright, lab) * (1 + 0.3 * _texture(rng, shape, 1.5))
    illum = _illumination(rng, shape, 0.5)
    psf = rng.uniform(0.5, 1.8)
    img0 = (_blur((memb + inner).astype(np.float32), psf) + rng.uniform(0, 0.2)) * illum
    nlab, nf = _nuclei_in_cells(rng, shape, o, lab, p_missing=0.1)
    img1 = None
    if rng.random() < 0.75:
        nuc = _fluor_objects(rng, nlab, nf, np.exp(0.3 * rng.standard_normal(o.n)), diameter / 5)
        img1 = _acquire(rng, (_blur(nuc, psf) + rng.uniform(0, 0.15)) * illum)
    return _finish(_acquire(rng, img0), img1, lab, nlab, "epithelium", diameter)


def _style_inverted(rng, shape, diameter, sisters=False):
    """Absorbing stain: dark nuclei or cells on a bright background (Beer-Lambert)."""
    if rng.random() < 0.6:
        _, lab, _, dens = _fluor_nuclei_image(rng, shape, diameter, sisters)
        nlab = lab
    else:
        o, lab, fmap = _cell_layout(rng, shape, diameter)
        nlab, _ = _nuclei_in_cells(rng, shape, o, lab)
        dens = _blur(_fluor_objects(rng, lab, fmap, np.exp(0.4 * rng.standard_normal(o.n)), diameter / 2),
                     rng.uniform(0.5, 1.8)) * _illumination(rng, shape, 0.3)
    dens = dens / (np.percentile(dens[lab > 0], 50) + 1e-6) if (lab > 0).any() else dens
    img = _illumination(rng, shape, 0.4) * np.exp(-rng.uniform(0.2, 1.5) * dens)
    return _finish(_acquire(rng, img, peak_range=(30.0, 4000.0)), None, lab, nlab, "inverted", diameter)


def _transmitted(rng, shape, diameter, style):
    """Brightfield or phase contrast of cells (optionally with a fluorescent nucleus channel)."""
    o, lab, fmap = _cell_layout(rng, shape, diameter)
    nlab, nf = _nuclei_in_cells(rng, shape, o, lab)
    inside = (lab > 0).astype(np.float32)
    edge, contact = _edges(lab)
    d_edge = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)
    thick = inside * (1 - 0.7 * np.minimum(fmap, 1) ** 2) * (1 + 0.2 * _texture(rng, shape, 1.5))
    grains = _texture(rng, shape, rng.uniform(0.7, 1.5)) * inside * rng.uniform(0.0, 0.05)
    if style == "brightfield":
        sign = rng.choice([-1.0, 1.0])
        halo = _blur(inside, rng.uniform(2.0, 4.0)) - _blur(inside, 1.0)
        img = (1 + sign * rng.uniform(0.0, 0.12) * _per_object(rng.uniform(0.5, 1.5, o.n), lab) * thick
               - rng.uniform(0.1, 0.35) * np.exp(-(d_edge / rng.uniform(0.6, 1.5)) ** 2)
               + sign * rng.uniform(0.0, 0.3) * halo
               - rng.uniform(0.0, 0.15) * (nlab > 0) + grains)
    else:
        halo = np.maximum(_blur(inside, rng.uniform(2.0, 5.0)) - inside, 0)
        img = (1 - rng.uniform(0.15, 0.5) * _per_object(rng.uniform(0.6, 1.4, o.n), lab) * thick
               + rng.uniform(0.3, 1.0) * halo - rng.uniform(0.0, 0.2) * contact + grains)
    img = _blur(np.maximum(img, 0.02).astype(np.float32), rng.uniform(0.5, 1.5)) * _illumination(rng, shape, 0.3)
    img1 = None
    if rng.random() < 0.3:
        nuc = _fluor_objects(rng, nlab, nf, np.exp(0.3 * rng.standard_normal(o.n)), diameter / 5)
        img1 = _acquire(rng, _blur(nuc, 1.0) + rng.uniform(0, 0.15))
    return _finish(_acquire(rng, img, peak_range=(150.0, 5000.0)), img1, lab, nlab, style, diameter)


def _style_brightfield(rng, shape, diameter):
    return _transmitted(rng, shape, diameter, "brightfield")


def _style_phase(rng, shape, diameter):
    return _transmitted(rng, shape, diameter, "phase")


_HEMATOXYLIN = np.array([0.65, 0.70, 0.29])
_EOSIN = np.array([0.07, 0.99, 0.11])


def _style_he(rng, shape, diameter, sisters=False):
    """H&E: Beer-Lambert mix of hematoxylin (nuclei, dark purple) and eosin (cytoplasm and stroma,
    pink) with colour jitter; channel 0 is the luminance. Labels are the nuclei."""
    o, lab, fmap, _ = _nuclei_layout(rng, shape, diameter, sisters)
    n = o.n
    d_bg, d_ct = _distances(lab)
    # hematoxylin in nuclei: solid or vesicular (pale centre, dark rim, nucleolus)
    vesicular = rng.uniform(0.0, 0.7)
    rim = np.exp(-((d_bg - 1.0) / rng.uniform(1.0, 2.0)) ** 2)
    h_nuc = _per_object(np.exp(0.25 * rng.standard_normal(n)) * rng.uniform(0.8, 1.6), lab)
    h_nuc *= (1 - vesicular) + vesicular * (rim + 0.3) + 0.3 * rng.uniform(0, 1) * _texture(rng, shape, 1.0)
    h_nuc += vesicular * rng.uniform(0.5, 1.5) * (fmap < rng.uniform(0.08, 0.2))  # nucleolus
    h_nuc *= _smoothstep(d_bg / rng.uniform(0.8, 2.0)) * (0.6 + 0.4 * _smoothstep(d_ct / 1.5))
    # cytoplasm around each nucleus, stroma fibres elsewhere, a few white clefts
    cells = _Objects(o.cy, o.cx, o.rtab * np.float32(rng.uniform(1.6, 3.0)), o.segs, o.r, o.phi)
    clab, _ = _rasterize(shape[0], shape[1], cells.cy, cells.cx, cells.rtab, cells.segs)
    cedge, _ = _edges(clab)
    in_cell = (clab > 0).astype(np.float32)
    fib = _fibres(rng, shape, rng.uniform(2.0, 6.0), rng.uniform(0, np.pi))
    fib *= 0.6 + 0.4 * _smooth_field(rng, shape, 4)  # fibres come and go
    e = (in_cell * _per_object(rng.uniform(0.4, 1.0, n), clab) * (1 + 0.25 * _texture(rng, shape, 1.5))
         + (1 - in_cell) * rng.uniform(0.2, 0.8) * np.maximum(0.5 + 0.5 * fib, 0)
         + rng.uniform(0.0, 0.4) * cedge)
    h = np.maximum(h_nuc * (lab > 0), 0) + (rng.uniform(0.05, 0.4) * (1 + 0.3 * _texture(rng, shape, 2.0))
                                             * (0.5 + 0.5 * in_cell) * (lab == 0))
    cleft = _smooth_field(rng, shape, int(rng.integers(3, 8))) + 0.5 * _texture(rng, shape, 3.0)
    white = _smoothstep((cleft - rng.uniform(1.2, 2.5)) * 2) * (lab == 0)
    e, h = e * (1 - white), h * (1 - white)
    hv = (rng.uniform(0.8, 1.6) * (_HEMATOXYLIN + rng.normal(0, 0.06, 3))).astype(np.float32)
    ev = (rng.uniform(0.2, 0.6) * (_EOSIN + rng.normal(0, 0.06, 3))).astype(np.float32)
    od = h.astype(np.float32)[..., None] * hv + e.astype(np.float32)[..., None] * ev
    rgb = np.exp(-np.maximum(od, 0)) * np.float32(rng.uniform(0.85, 1.0))
    rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.4, 1.2))
    rgb = np.clip(rgb + rng.uniform(0.005, 0.03) * rng.standard_normal(rgb.shape, dtype=np.float32), 0, 1)
    gray = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)
    return _finish(gray, None, lab, lab, "he", diameter, rgb)


_NUCLEUS_LAYOUTS = ("nuclei", "inverted", "he")  # the styles that take sister_nuclei

def _style_nuclei3d(rng, shape, diameter):
    img, lab, _, _ = synth_volume.render_nuclei3d(rng, shape, diameter)
    return _finish(img, None, lab, lab, "nuclei3d", diameter)


_RENDERERS = {
    "nuclei3d": _style_nuclei3d,
    "nuclei": _style_nuclei, "cyto": _style_cyto, "cyto_only": _style_cyto_only,
    "epithelium": _style_epithelium, "inverted": _style_inverted, "brightfield": _style_brightfield,
    "phase": _style_phase, "he": _style_he,
}
