"""The numba kernels behind `dynamics` (private: use `dynamics.compute_masks` and friends).

Inner loops only, with explicit signatures, ``nogil=True, cache=True``: flow following
(`_follow_2d`, `_follow_3d`), the scaled step field (`_scale_and_interleave`), end-point binning and
seed growth (`_end_bins`, `_seeds_and_grow`), the per-mask flow error (`_mean_sq_error`) and hole
filling (`_fill_holes`). Inputs are trusted: `dynamics` checks shapes and dtypes first.
"""

import numba
import numpy as np
from numba import prange
from numba.extending import overload

__all__ = [
    "BURST",
    "CHUNK",
    "SLOTS",
    "SEED_MIN_COUNT",
    "GROW_MIN_COUNT",
    "GROW_STEPS",
    "SEED_RADIUS",
    "_follow_2d",
    "_follow_3d",
    "_scale_and_interleave",
    "_end_bins",
    "_seeds_and_grow",
    "_mean_sq_error",
    "_fill_holes",
]

SEED_MIN_COUNT = 10  # a seed bin holds more end points than this
GROW_MIN_COUNT = 3  # seeds grow over bins holding at least this many end points
GROW_STEPS = 5
SEED_RADIUS = 2  # seeds are maxima of their (2r+1)^ndim window

# Flow following. The step map is deterministic, so once a pixel's position repeats exactly,
# p_t == p_{t - BURST}, its period divides BURST: we finish it with (steps left) mod BURST more
# steps and get bit for bit the position that all `niter` steps would give. Most pixels land on a
# fixed point or a 2-cycle within a few dozen steps. Each thread streams its pixels through SLOTS
# trajectories that advance together BURST steps at a time (independent work the CPU overlaps);
# between bursts finished pixels are written out and their slots refilled.

CHUNK = 4096  # pixels per parallel task
SLOTS = 16  # trajectories in flight per task
BURST = 4  # steps between checks; periods dividing it are caught


@numba.njit(inline="always")
def _step_2d(field, pos, j):
    """One Euler step of pos[1:, j] = (y, x) through field (Ly, Lx, 2), clamped to the image."""
    Ly, Lx = field.shape[0], field.shape[1]
    one = np.float32(1.0)
    y = pos[1, j]
    x = pos[2, j]
    iy = int(y)  # positions are >= 0, so this is floor
    ix = int(x)
    wy = y - np.float32(iy)
    wx = x - np.float32(ix)
    iy1 = min(iy + 1, Ly - 1)
    ix1 = min(ix + 1, Lx - 1)
    vy0 = (one - wx) * field[iy, ix, 0] + wx * field[iy, ix1, 0]
    vy1 = (one - wx) * field[iy1, ix, 0] + wx * field[iy1, ix1, 0]
    vx0 = (one - wx) * field[iy, ix, 1] + wx * field[iy, ix1, 1]
    vx1 = (one - wx) * field[iy1, ix, 1] + wx * field[iy1, ix1, 1]
    y = y + ((one - wy) * vy0 + wy * vy1)
    x = x + ((one - wy) * vx0 + wy * vx1)
    pos[1, j] = min(max(y, np.float32(0.0)), np.float32(Ly - 1))
    pos[2, j] = min(max(x, np.float32(0.0)), np.float32(Lx - 1))


@numba.njit(inline="always")
def _step_3d(field, pos, j):
    """One Euler step of pos[:, j] = (z, y, x) through field (Lz, Ly, Lx, 3), clamped."""
    Lz, Ly, Lx = field.shape[0], field.shape[1], field.shape[2]
    one = np.float32(1.0)
    z = pos[0, j]
    y = pos[1, j]
    x = pos[2, j]
    iz = int(z)
    iy = int(y)
    ix = int(x)
    wz = z - np.float32(iz)
    wy = y - np.float32(iy)
    wx = x - np.float32(ix)
    iz1 = min(iz + 1, Lz - 1)
    iy1 = min(iy + 1, Ly - 1)
    ix1 = min(ix + 1, Lx - 1)
    for c in range(3):
        a00 = (one - wx) * field[iz, iy, ix, c] + wx * field[iz, iy, ix1, c]
        a01 = (one - wx) * field[iz, iy1, ix, c] + wx * field[iz, iy1, ix1, c]
        a10 = (one - wx) * field[iz1, iy, ix, c] + wx * field[iz1, iy, ix1, c]
        a11 = (one - wx) * field[iz1, iy1, ix, c] + wx * field[iz1, iy1, ix1, c]
        b0 = (one - wy) * a00 + wy * a01
        b1 = (one - wy) * a10 + wy * a11
        high = np.float32(field.shape[c] - 1)
        pos[c, j] = min(max(pos[c, j] + ((one - wz) * b0 + wz * b1), np.float32(0.0)), high)


def _step(field, pos, j):
    """Euler step for a 2D or 3D field (numba picks the version by the field's rank)."""


@overload(_step, jit_options={"inline": "always"})
def _step_overload(field, pos, j):
    return (lambda field, pos, j: _step_2d(field, pos, j)) if field.ndim == 3 else \
        (lambda field, pos, j: _step_3d(field, pos, j))


@numba.njit(nogil=True, cache=True)
def _follow_chunk(field, p, start, stop, niter):
    """Move the points p[start:stop] (n, ndim) through `field` for niter steps, in place."""
    ndim = p.shape[1]
    off = 3 - ndim  # positions are kept as (z, y, x); z stays 0 in 2D
    pos = np.zeros((3, SLOTS), np.float32)
    saved = np.zeros((3, SLOTS), np.float32)  # position one burst ago
    which = np.empty(SLOTS, np.int64)  # point index held by each slot
    left = np.empty(SLOTS, np.int64)  # steps still to take
    active = 0
    nxt = start
    while active < SLOTS and nxt < stop:
        which[active] = nxt
        for a in range(ndim):
            pos[a + off, active] = p[nxt, a]
        left[active] = niter
        active += 1
        nxt += 1
    while active > 0:
        # points with fewer than BURST steps left finish here; the rest may burst
        j = 0
        while j < active:
            if left[j] >= BURST:
                for a in range(3):
                    saved[a, j] = pos[a, j]
                j += 1
                continue
            for _ in range(left[j]):
                _step(field, pos, j)
            for a in range(ndim):
                p[which[j], a] = pos[a + off, j]
            if nxt < stop:  # refill the slot, look at it again
                which[j] = nxt
                for a in range(ndim):
                    pos[a + off, j] = p[nxt, a]
                left[j] = niter
                nxt += 1
            else:  # move the last slot here, look at it again
                active -= 1
                which[j] = which[active]
                left[j] = left[active]
                for a in range(3):
                    pos[a, j] = pos[a, active]
        for _ in range(BURST):
            for j in range(active):
                _step(field, pos, j)
        for j in range(active):
            left[j] -= BURST
            if pos[0, j] == saved[0, j] and pos[1, j] == saved[1, j] and pos[2, j] == saved[2, j]:
                left[j] = left[j] % BURST  # periodic: only the phase matters


@numba.njit("void(float32[:, :, ::1], float32[:, ::1], int64)", nogil=True, cache=True,
            parallel=True)
def _follow_2d(field, p, niter):
    """Move every point p (n, 2) through field (Ly, Lx, 2) for niter steps, in place."""
    n = p.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        _follow_chunk(field, p, c * CHUNK, min(n, (c + 1) * CHUNK), niter)


@numba.njit("void(float32[:, :, :, ::1], float32[:, ::1], int64)", nogil=True, cache=True,
            parallel=True)
def _follow_3d(field, p, niter):
    """Move every point p (n, 3) through field (Lz, Ly, Lx, 3) for niter steps, in place."""
    n = p.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        _follow_chunk(field, p, c * CHUNK, min(n, (c + 1) * CHUNK), niter)


@numba.njit("void(float32[:, ::1], boolean[::1], float32[:, ::1])", nogil=True, cache=True,
            parallel=True)
def _scale_and_interleave(dP, foreground, field):
    """field[i, c] = dP[c, i] / 5 on the foreground, else 0 (same arithmetic as the torch path)."""
    ndim = dP.shape[0]
    for i in prange(dP.shape[1]):
        for c in range(ndim):
            field[i, c] = dP[c, i] / np.float32(5.0) if foreground[i] else np.float32(0.0)


@numba.njit("int64[:](float32[:, ::1], int64[:])", nogil=True, cache=True)
def _end_bins(p, shape):
    """Flat index of the pixel nearest to each end point (ndim, n), clamped to the image."""
    ndim, n = p.shape
    bins = np.empty(n, np.int64)
    for k in range(n):
        flat = 0
        for a in range(ndim):
            c = int(np.floor(p[a, k] + 0.5))
            c = min(max(c, 0), shape[a] - 1)
            flat = flat * shape[a] + c
        bins[k] = flat
    return bins


@numba.njit("Tuple((int32[:], int64))(int64[:], int64[:])", nogil=True, cache=True)
def _seeds_and_grow(bins, shape3):
    """Label each end bin by the seed it grows from; returns (label per point, n labels).

    shape3 is (Lz, Ly, Lx) with Lz = 1 in 2D. Seeds are bins that hold more than SEED_MIN_COUNT
    points and are the maximum of their window (ties go to the lower flat index); seeds grow
    together, breadth first, GROW_STEPS times into neighbouring bins with >= GROW_MIN_COUNT points,
    a contested bin going to the seed with more points.
    """
    Lz, Ly, Lx = shape3[0], shape3[1], shape3[2]
    size = Lz * Ly * Lx
    is3d = Lz > 1
    hist = np.zeros(size, np.int32)
    for k in range(bins.shape[0]):
        hist[bins[k]] += 1

    # seeds: check each heavily hit bin once
    checked = np.zeros(size, np.bool_)
    seeds = []
    r = SEED_RADIUS
    rz = r if is3d else 0
    for k in range(bins.shape[0]):
        b = bins[k]
        if hist[b] <= SEED_MIN_COUNT or checked[b]:
            continue
        checked[b] = True
        z, rem = divmod(b, Ly * Lx)
        y, x = divmod(rem, Lx)
        h = hist[b]
        is_max = True
        for dz in range(max(z - rz, 0), min(z + rz + 1, Lz)):
            for dy in range(max(y - r, 0), min(y + r + 1, Ly)):
                for dx in range(max(x - r, 0), min(x + r + 1, Lx)):
                    o = (dz * Ly + dy) * Lx + dx
                    if hist[o] > h or (hist[o] == h and o < b):
                        is_max = False
        if is_max:
            seeds.append(b)

    n = len(seeds)
    point_labels = np.zeros(bins.shape[0], np.int32)
    if n == 0:
        return point_labels, 0
    seed_arr = np.array(seeds, np.int64)
    counts = np.empty(n, np.int64)
    for i in range(n):
        counts[i] = hist[seed_arr[i]]
    order = np.argsort(-counts, kind="mergesort")  # most points first, stable

    # seeds labelled 1..n in order of flat index (deterministic, independent of growth order)
    by_index = np.argsort(seed_arr, kind="mergesort")
    seed_label = np.empty(n, np.int32)
    for i in range(n):
        seed_label[by_index[i]] = i + 1
    owner = np.zeros(size, np.int32)
    frontier = np.empty(n, np.int64)
    for i in range(n):
        s = seed_arr[order[i]]
        owner[s] = seed_label[order[i]]
        frontier[i] = s
    for _ in range(GROW_STEPS):
        grown = []
        for f in frontier:
            z, rem = divmod(f, Ly * Lx)
            y, x = divmod(rem, Lx)
            lab = owner[f]
            for dz in range(max(z - 1, 0), min(z + 2, Lz)):
                for dy in range(max(y - 1, 0), min(y + 2, Ly)):
                    for dx in range(max(x - 1, 0), min(x + 2, Lx)):
                        o = (dz * Ly + dy) * Lx + dx
                        if owner[o] == 0 and hist[o] >= GROW_MIN_COUNT:
                            owner[o] = lab
                            grown.append(o)
        if len(grown) == 0:
            break
        frontier = np.array(grown, np.int64)

    for k in range(bins.shape[0]):
        point_labels[k] = owner[bins[k]]
    return point_labels, n


@numba.njit("float32[:](int32[:], int64, float32[:, :], float32[:, :])", nogil=True, cache=True)
def _mean_sq_error(labels, n, flows, dP):
    """Per label 1..n: mean over its pixels of sum_c (flows[c] - dP[c] / 5)^2."""
    total = np.zeros(n + 1, np.float64)
    count = np.zeros(n + 1, np.int64)
    ndim = flows.shape[0]
    for i in range(labels.shape[0]):
        lab = labels[i]
        if lab > 0:
            e = 0.0
            for c in range(ndim):
                d = np.float64(flows[c, i]) - np.float64(dP[c, i]) / 5.0
                e += d * d
            total[lab] += e
            count[lab] += 1
    out = np.zeros(n, np.float32)
    for k in range(1, n + 1):
        if count[k]:
            out[k - 1] = total[k] / count[k]
    return out


@numba.njit("void(int32[:, :, :], int32[:, :], int32[:], boolean)", nogil=True, cache=True)
def _fill_holes(labels, boxes, order, pad_z):
    """Give each mask the background it encloses (6-connected in 3D, 4-connected in 2D).

    labels is (Lz, Ly, Lx), with Lz = 1 and pad_z False for 2D images; boxes rows are
    (z0, y0, x0, z1, y1, x1); masks go in `order`, so a pixel enclosed by two goes to the first.
    """
    pz = 1 if pad_z else 0
    for k in order:
        z0, y0, x0, z1, y1, x1 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3], \
            boxes[k, 4], boxes[k, 5]
        if z1 < z0:
            continue
        lab = k + 1
        # the box plus a frame that is never part of the mask (no frame along z in 2D)
        D, H, W = z1 - z0 + 1 + 2 * pz, y1 - y0 + 3, x1 - x0 + 3
        wall = np.zeros((D, H, W), np.bool_)
        for a in range(pz, D - pz):
            for i in range(1, H - 1):
                for j in range(1, W - 1):
                    wall[a, i, j] = labels[z0 + a - pz, y0 + i - 1, x0 + j - 1] == lab
        outside = np.zeros((D, H, W), np.bool_)
        stack = np.empty(D * H * W, np.int64)
        top = 0
        for a in range(D):
            for i in range(H):
                for j in range(W):
                    if (pz and (a == 0 or a == D - 1)) or i == 0 or i == H - 1 or j == 0 \
                            or j == W - 1:
                        outside[a, i, j] = True
                        stack[top] = (a * H + i) * W + j
                        top += 1
        while top > 0:
            top -= 1
            a, rem = divmod(stack[top], H * W)
            i, j = divmod(rem, W)
            for na, ni, nj in ((a - 1, i, j), (a + 1, i, j), (a, i - 1, j), (a, i + 1, j),
                               (a, i, j - 1), (a, i, j + 1)):
                if 0 <= na < D and 0 <= ni < H and 0 <= nj < W and not outside[na, ni, nj] \
                        and not wall[na, ni, nj]:
                    outside[na, ni, nj] = True
                    stack[top] = (na * H + ni) * W + nj
                    top += 1
        for a in range(pz, D - pz):
            for i in range(1, H - 1):
                for j in range(1, W - 1):
                    z, y, x = z0 + a - pz, y0 + i - 1, x0 + j - 1
                    if not outside[a, i, j] and labels[z, y, x] == 0:
                        labels[z, y, x] = lab
