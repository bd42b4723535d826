"""Geometry of the synthetic images: object shapes, their placement, and the instance labels.

``synth`` renders what the objects look like; this module decides where they are and which pixel
belongs to which. Everything is drawn from the caller's ``numpy.random.Generator`` in a fixed
order, so the same seed gives the same layout.

Every object is a star-shaped radius table r(theta) around a centre (an ellipse times
low-frequency Fourier noise) plus optional tapered processes. A pixel goes to the object with the
smallest normalised radius rho / r(theta) below 1, so overlapping objects meet along a curved
boundary, like cells pressed together. Fragments cut off by a neighbour are removed, so every label
is one 4-connected piece.

Internal to ``inference.engine.synth``: nothing here is public API.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numba as nb
import numpy as np

__all__: list[str] = []

_NA = 64  # angles per radius table
_ANGLES = -np.pi + np.arange(_NA) * (2 * np.pi / _NA)
_HARMONICS = np.arange(2.0, 9.0)  # Fourier orders of the shape noise
_COS, _SIN = np.cos(np.outer(_HARMONICS, _ANGLES)), np.sin(np.outer(_HARMONICS, _ANGLES))


# ----------------------------------------------------------------------------------------------
# numba kernels


@nb.njit(nb.int64[:](nb.float64[::1], nb.float64[::1], nb.float64[::1], nb.float64, nb.int64),
         nogil=True, cache=True)
def _dart_throw(y, x, r, overlap, n_max):
    """Indices of the candidates kept, in order: each is kept if it lies at least
    overlap * (r_i + r_j) from every candidate kept before it (a spatial hash finds neighbours)."""
    nc = y.shape[0]
    keep = np.empty(nc, np.int64)
    if nc == 0:
        return keep
    cell = max(1e-3, 2.0 * overlap * r.max())  # the largest exclusion distance
    y0, x0 = y.min(), x.min()
    gy, gx = int((y.max() - y0) / cell) + 1, int((x.max() - x0) / cell) + 1
    head = np.full(gy * gx, -1, np.int64)
    nxt = np.full(nc, -1, np.int64)
    n = 0
    for i in range(nc):
        iy, ix = int((y[i] - y0) / cell), int((x[i] - x0) / cell)
        ok = True
        for jy in range(max(0, iy - 1), min(gy, iy + 2)):
            for jx in range(max(0, ix - 1), min(gx, ix + 2)):
                j = head[jy * gx + jx]
                while ok and j >= 0:
                    m = overlap * (r[i] + r[j])
                    ok = (y[i] - y[j]) ** 2 + (x[i] - x[j]) ** 2 >= m * m
                    j = nxt[j]
        if ok:
            keep[n] = i
            n += 1
            nxt[i] = head[iy * gx + ix]
            head[iy * gx + ix] = i
            if n >= n_max:
                break
    return keep[:n]


@nb.njit(nb.types.Tuple((nb.int32[:, ::1], nb.float32[:, ::1]))(
    nb.int64, nb.int64, nb.float64[::1], nb.float64[::1], nb.float32[:, ::1], nb.float64[:, ::1]),
    nogil=True, cache=True)
def _rasterize(ly, lx, cy, cx, rtab, segs):
    """Label map (object index + 1) and normalised radius of the winning object (1 = background).

    segs rows: (object, y0, x0, y1, x1, halfwidth0, halfwidth1), a tapered process; its pixels get
    normalised radius 0.5..1 so the core of a neighbour beats a process crossing it.
    """
    lab = np.zeros((ly, lx), np.int32)
    fmap = np.ones((ly, lx), np.float32)
    na = rtab.shape[1]
    scale = na / (2.0 * np.pi)
    for i in range(rtab.shape[0]):
        rmax = 0.0
        for j in range(na):
            rmax = max(rmax, rtab[i, j])
        y0, y1 = max(0, int(cy[i] - rmax) - 1), min(ly, int(cy[i] + rmax) + 2)
        x0, x1 = max(0, int(cx[i] - rmax) - 1), min(lx, int(cx[i] + rmax) + 2)
        for y in range(y0, y1):
            dy = y - cy[i]
            for x in range(x0, x1):
                dx = x - cx[i]
                rho2 = dy * dy + dx * dx
                if rho2 >= (rmax * fmap[y, x]) ** 2:  # cannot beat the current winner
                    continue
                t = (math.atan2(dy, dx) + np.pi) * scale
                j = int(t)
                w = t - j
                j = j % na
                r = rtab[i, j] * (1.0 - w) + rtab[i, (j + 1) % na] * w
                f = math.sqrt(rho2) / r
                if f < fmap[y, x]:
                    fmap[y, x] = f
                    lab[y, x] = i + 1
    for s in range(segs.shape[0]):
        i = int(segs[s, 0])
        ay, ax, by, bx, h0, h1 = segs[s, 1], segs[s, 2], segs[s, 3], segs[s, 4], segs[s, 5], segs[s, 6]
        hm = max(h0, h1)
        y0, y1 = max(0, int(min(ay, by) - hm) - 1), min(ly, int(max(ay, by) + hm) + 2)
        x0, x1 = max(0, int(min(ax, bx) - hm) - 1), min(lx, int(max(ax, bx) + hm) + 2)
        vy, vx = by - ay, bx - ax
        vv = max(vy * vy + vx * vx, 1e-9)
        for y in range(y0, y1):
            for x in range(x0, x1):
                t = min(1.0, max(0.0, ((y - ay) * vy + (x - ax) * vx) / vv))
                d = math.sqrt((y - ay - t * vy) ** 2 + (x - ax - t * vx) ** 2)
                f = 0.5 + 0.5 * d / (h0 + t * (h1 - h0))
                if f < fmap[y, x]:
                    fmap[y, x] = f
                    lab[y, x] = i + 1
    return lab, fmap


@nb.njit(nb.int32[:, ::1](nb.int32[:, ::1], nb.int64, nb.int64), nogil=True, cache=True)
def _keep_largest_piece(lab, nlab, min_size):
    """Each label keeps only its largest 4-connected piece, and only if it has >= min_size pixels."""
    ly, lx = lab.shape
    comp = np.full((ly, lx), -1, np.int32)
    stack = np.empty(ly * lx, np.int64)
    size = np.zeros(ly * lx, np.int64)
    best = np.full(nlab + 1, -1, np.int64)
    best_size = np.zeros(nlab + 1, np.int64)
    nc = 0
    for y0 in range(ly):
        for x0 in range(lx):
            v = lab[y0, x0]
            if v == 0 or comp[y0, x0] >= 0:
                continue
            comp[y0, x0] = nc
            stack[0] = y0 * lx + x0
            top, n = 1, 0
            while top > 0:
                top -= 1
                p = stack[top]
                y, x = p // lx, p % lx
                n += 1
                for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= yy < ly and 0 <= xx < lx and comp[yy, xx] < 0 and lab[yy, xx] == v:
                        comp[yy, xx] = nc
                        stack[top] = yy * lx + xx
                        top += 1
            size[nc] = n
            if n > best_size[v]:
                best_size[v] = n
                best[v] = nc
            nc += 1
    out = np.zeros((ly, lx), np.int32)
    for y in range(ly):
        for x in range(lx):
            v = lab[y, x]
            if v > 0 and comp[y, x] == best[v] and best_size[v] >= min_size:
                out[y, x] = v
    return out


# ----------------------------------------------------------------------------------------------
# geometry


@dataclass
class _Objects:
    """Star-shaped objects: centres (n,), radius tables (n, _NA), processes (m, 7), nominal radius."""

    cy: np.ndarray
    cx: np.ndarray
    rtab: np.ndarray
    segs: np.ndarray
    r: np.ndarray
    phi: np.ndarray

    @property
    def n(self) -> int:
        return self.cy.shape[0]


def _radius_tables(rng, r, aspect, irregularity, phi):
    """Ellipses of equal area pi r^2 and the given aspect ratio, times exp(Fourier noise)."""
    n = r.shape[0]
    a, b = r * np.sqrt(aspect), r / np.sqrt(aspect)
    t = _ANGLES[None, :] - phi[:, None]
    rad = (a * b)[:, None] / np.sqrt((b[:, None] * np.cos(t)) ** 2 + (a[:, None] * np.sin(t)) ** 2)
    amp = irregularity[:, None] * rng.standard_normal((n, _HARMONICS.size)) / _HARMONICS ** 1.3
    phase = rng.uniform(0, 2 * np.pi, (n, _HARMONICS.size))
    pert = (amp * np.cos(phase)) @ _COS - (amp * np.sin(phase)) @ _SIN  # sum_k amp cos(k theta + phase)
    return (rad * np.exp(np.clip(pert, -1.2, 1.0))).astype(np.float32)


def _processes(rng, o: _Objects, p_branch):
    """Tapered processes (1-4 per branched cell, some with a kink) as segment rows."""
    idx = np.flatnonzero(rng.random(o.n) < p_branch)
    if idx.size == 0:
        return np.zeros((0, 7))
    idx = np.repeat(idx, rng.integers(1, 5, idx.size))
    m = idx.size
    r = o.r[idx]
    ang = rng.uniform(-np.pi, np.pi, m)
    length = r * rng.uniform(1.0, 3.0, m)
    h0, h1 = r * rng.uniform(0.15, 0.35, m), rng.uniform(0.8, 2.0, m)
    ey, ex = o.cy[idx] + length * np.sin(ang), o.cx[idx] + length * np.cos(ang)
    first = np.stack([idx, o.cy[idx], o.cx[idx], ey, ex, h0, h1], 1)
    k = rng.random(m) < 0.5
    ang2 = ang[k] + rng.normal(0, 0.7, k.sum())
    l2 = r[k] * rng.uniform(0.5, 1.5, k.sum())
    second = np.stack([idx[k], ey[k], ex[k], ey[k] + l2 * np.sin(ang2), ex[k] + l2 * np.cos(ang2),
                       h1[k], np.full(k.sum(), 0.7)], 1)
    return np.concatenate([first, second])


def _place(rng, shape, diameter, *, area_frac, overlap, size_sd, aspect, irregularity, cluster,
           p_branch=0.0, align=0.0) -> _Objects:
    """Objects placed by dart throwing (optionally clustered), centres up to one radius off-frame."""
    ly, lx = shape
    r0 = diameter / 2
    m = r0
    area = (ly + 2 * m) * (lx + 2 * m)
    n_target = max(1, round(area_frac * area / (np.pi * r0 * r0)))
    nc = 8 * n_target + 200
    if cluster > 0:  # candidates thinned by a smooth density, drawn in proportion
        field = _smooth_field(rng, (ly, lx), 5)
        density = np.exp(cluster * (field - field.max()) / (field.std() + 1e-6)) + 0.03
        nc = int(min(200_000, nc / float(density.mean() / density.max())))
    y = rng.uniform(-m, ly + m, nc)
    x = rng.uniform(-m, lx + m, nc)
    r = r0 * np.exp(np.clip(size_sd * rng.standard_normal(nc), -1.0, 0.8))
    if cluster > 0:
        v = density[np.clip(y, 0, ly - 1).astype(int), np.clip(x, 0, lx - 1).astype(int)]
        keep = rng.random(nc) < v / v.max()
        y, x, r = y[keep], x[keep], r[keep]
    idx = _dart_throw(y, x, r, float(overlap), n_target)
    y, x, r = y[idx], x[idx], r[idx]
    n = idx.size
    asp = np.asarray(aspect(n) if callable(aspect) else np.full(n, aspect), dtype=np.float64)
    irr = np.asarray(irregularity(n) if callable(irregularity) else np.full(n, irregularity), dtype=np.float64)
    phi = rng.uniform(-np.pi, np.pi, n)
    if align > 0:
        phi = rng.uniform(-np.pi, np.pi) + rng.normal(0, np.pi * (1 - align), n)
    o = _Objects(y, x, _radius_tables(rng, r, asp, irr, phi), np.zeros((0, 7)), r, phi)
    if p_branch > 0:
        o.segs = _processes(rng, o, p_branch)
    return o


def _labels(shape, o: _Objects, min_size):
    """Rasterise, drop fragments; labels stay as object index + 1 (not yet consecutive)."""
    lab, fmap = _rasterize(shape[0], shape[1], o.cy, o.cx, np.ascontiguousarray(o.rtab), o.segs)
    lab = _keep_largest_piece(lab, o.n, int(min_size))
    fmap[lab == 0] = 1.0
    return lab, fmap


def _consecutive(lab, *others):
    """Renumber ``lab`` to 1..N consecutively; apply the same renumbering to ``others``, whose
    labels must be a subset of ``lab``'s."""
    present = np.bincount(lab.ravel()) > 0
    present[0] = False
    lut = np.zeros(present.size, np.int32)
    lut[present] = np.arange(1, present.sum() + 1, dtype=np.int32)
    return (lut[lab],) + tuple(lut[a] for a in others)


def _nuclei_in_cells(rng, shape, o: _Objects, lab, p_missing=0.05):
    """One ellipse nucleus per cell, kept where it lies inside its own cell (1.5 px from the edge)."""
    r = o.r * rng.uniform(0.3, 0.5, o.n)
    phi = o.phi + rng.normal(0, 0.4, o.n)
    nuc = _Objects(o.cy + rng.normal(0, 0.12, o.n) * o.r, o.cx + rng.normal(0, 0.12, o.n) * o.r,
                   _radius_tables(rng, r, rng.uniform(1.0, 1.7, o.n), np.full(o.n, 0.15), phi),
                   np.zeros((0, 7)), r, phi)
    nlab, nf = _rasterize(shape[0], shape[1], nuc.cy, nuc.cx, nuc.rtab, nuc.segs)
    dist = cv2.distanceTransform((~_edges(lab)[0]).astype(np.uint8), cv2.DIST_L2, 3)
    keep = (nlab == lab) & (dist >= 1.5)
    missing = np.concatenate([[True], rng.random(o.n) < p_missing])
    keep &= ~missing[nlab]
    nlab = np.where(keep, nlab, 0).astype(np.int32)
    return nlab, np.where(keep, nf, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# label and field helpers (also used by the rendering)


def _smooth_field(rng, shape, cycles, waves=8):
    """A smooth random field, about unit standard deviation: a sum of plane waves with up to
    ``cycles`` periods across the image (no interpolation seams)."""
    ly, lx = shape
    k = rng.uniform(0.3, cycles, waves) * 2 * np.pi / max(ly, lx)
    ang = rng.uniform(0, 2 * np.pi, waves)
    ph = rng.uniform(0, 2 * np.pi, waves)
    ay = np.outer(k * np.sin(ang), np.arange(ly)) + ph[:, None]  # (waves, ly)
    ax = np.outer(k * np.cos(ang), np.arange(lx))  # (waves, lx)
    f = np.cos(ay).T @ np.cos(ax) - np.sin(ay).T @ np.sin(ax)  # sum of cos(ay + ax)
    return (f * np.sqrt(2.0 / waves)).astype(np.float32)


def _edges(lab):
    """Boolean maps of pixels next to a label change (edge) and between two cells (contact)."""
    edge = np.zeros(lab.shape, bool)
    contact = np.zeros(lab.shape, bool)
    for a, b, sa, sb in ((lab[1:], lab[:-1], np.s_[1:], np.s_[:-1]),
                         (lab[:, 1:], lab[:, :-1], np.s_[:, 1:], np.s_[:, :-1])):
        d = a != b
        c = d & (a > 0) & (b > 0)
        edge[sa] |= d
        edge[sb] |= d
        contact[sa] |= c
        contact[sb] |= c
    return edge, contact


# ----------------------------------------------------------------------------------------------
# layouts: placement and labels of nuclei and of cells


def _nuclei_layout(rng, shape, diameter, sisters=False):
    """Nuclei: mostly ellipses, some irregular, a few small bright elongated (mitotic) ones, often
    in pairs; sparse to crowded, sometimes clustered; with ``sisters``, half the layouts also have
    nuclei pressed against a similar one. Returns objects, labels, fmap, brightness."""
    def aspect(n):
        return np.exp(np.abs(rng.normal(0, rng.uniform(0.15, 0.5), n))) * 1.05

    def irregularity(n):
        return rng.uniform(0, 0.35, n) * (rng.random(n) < rng.uniform(0.3, 1.0))

    o = _place(rng, shape, diameter, area_frac=rng.uniform(0.08, 0.75), overlap=rng.uniform(0.6, 1.15),
               size_sd=rng.uniform(0.05, 0.3), aspect=aspect, irregularity=irregularity,
               cluster=rng.choice([0.0, rng.uniform(0.5, 2.0)]), align=rng.choice([0.0, rng.uniform(0, 0.7)]))
    bright = np.exp(rng.uniform(0.1, 0.6) * rng.standard_normal(o.n))
    dim = rng.random(o.n) < rng.uniform(0, 0.15)
    bright[dim] *= rng.uniform(0.2, 0.5, dim.sum())
    hot = rng.random(o.n) < rng.choice([0.0, rng.uniform(0.02, 0.12)])  # bright outliers (S/G2 phase)
    bright[hot] *= rng.uniform(2.0, 5.0, hot.sum())
    mit = np.flatnonzero(rng.random(o.n) < rng.choice([0.0, rng.uniform(0.01, 0.1)]))
    if mit.size:  # shrink, elongate, brighten; half of them get a daughter alongside
        o.r[mit] *= rng.uniform(0.45, 0.75, mit.size)
        o.rtab[mit] = _radius_tables(rng, o.r[mit], rng.uniform(1.2, 2.2, mit.size),
                                     np.full(mit.size, 0.1), o.phi[mit])
        bright[mit] = rng.uniform(2.0, 6.0, mit.size)
        pair = mit[rng.random(mit.size) < 0.5]
        if pair.size:
            d = o.r[pair] * rng.uniform(1.6, 2.6, pair.size)
            py = o.cy[pair] + d * np.cos(o.phi[pair])  # across the long axis
            px = o.cx[pair] - d * np.sin(o.phi[pair])
            rtab = o.rtab[pair] * rng.uniform(0.85, 1.15, (pair.size, 1)).astype(np.float32)
            o, bright = _with_copies(o, bright, pair, py, px, rtab, o.r[pair],
                                     bright[pair] * rng.uniform(0.7, 1.3, pair.size))
    if sisters and rng.random() < 0.5:
        o, bright = _add_sisters(rng, o, bright)
    lab, fmap = _labels(shape, o, max(6, int(0.06 * diameter ** 2)))
    return o, lab, fmap, bright


def _add_sisters(rng, o, bright):
    """Give 5-30 % of the nuclei a similar nucleus pressed against them (daughters after division,
    nuclei squeezed together): shape x0.85-1.15, brightness x0.7-1.3, centred in a random direction
    at 0.8-1.05 x the distance at which the two outlines just touch."""
    k = np.flatnonzero(rng.random(o.n) < rng.uniform(0.05, 0.3))
    if not k.size:
        return o, bright
    ang = rng.uniform(-np.pi, np.pi, k.size)
    s = rng.uniform(0.85, 1.15, k.size)
    j = np.rint((ang + np.pi) / (2 * np.pi) * _NA).astype(int) % _NA
    touch = o.rtab[k, j] + s * o.rtab[k, (j + _NA // 2) % _NA]
    d = touch * rng.uniform(0.8, 1.05, k.size)
    rtab = (o.rtab[k] * s[:, None]).astype(np.float32)
    return _with_copies(o, bright, k, o.cy[k] + d * np.sin(ang), o.cx[k] + d * np.cos(ang), rtab,
                        o.r[k] * s, bright[k] * rng.uniform(0.7, 1.3, k.size))


def _with_copies(o, bright, k, cy, cx, rtab, r, bright_k):
    """Objects and brightness with new nuclei appended: copies of nuclei ``k`` (same orientation)
    at centres (cy, cx) with radius tables ``rtab``, nominal radii ``r`` and brightness ``bright_k``."""
    o = _Objects(np.concatenate([o.cy, cy]), np.concatenate([o.cx, cx]), np.concatenate([o.rtab, rtab]),
                 o.segs, np.concatenate([o.r, r]), np.concatenate([o.phi, o.phi[k]]))
    return o, np.concatenate([bright, bright_k])


def _cell_layout(rng, shape, diameter, *, confluent=None):
    """Cells: round to elongated, irregular, some branched; sparse to confluent (grown into each
    other so neighbours meet along shared boundaries)."""
    if confluent is None:
        confluent = rng.random() < 0.4

    def aspect(n):
        return np.exp(np.abs(rng.normal(0, rng.uniform(0.1, 0.7), n)))

    def irregularity(n):
        return rng.uniform(0.1, 0.9, n)

    o = _place(rng, shape, diameter, area_frac=rng.uniform(0.5, 1.0) if confluent else rng.uniform(0.1, 0.6),
               overlap=rng.uniform(0.45, 0.85) if confluent else rng.uniform(0.6, 1.2),
               size_sd=rng.uniform(0.1, 0.35), aspect=aspect, irregularity=irregularity,
               cluster=rng.choice([0.0, rng.uniform(0.3, 2.0)]),
               p_branch=0.0 if confluent else rng.choice([0.0, rng.uniform(0.1, 0.6)]),
               align=rng.choice([0.0, rng.uniform(0, 0.8)]))
    if confluent:
        o.rtab *= np.float32(rng.uniform(1.1, 1.8))
    lab, fmap = _labels(shape, o, max(10, int(0.05 * diameter ** 2)))
    return o, lab, fmap
