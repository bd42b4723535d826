"""Deterministic label images of touching cells for the flows/dynamics benchmark.

Cells are random ellipses (radii 14-22 px, so about 35 px across) centred on a jittered grid with
one cell per `spacing` x `spacing` pixels; where ellipses overlap, each pixel goes to the nearest
centre, so neighbouring cells touch along straight Voronoi edges. 2048 x 2048 at the default
spacing holds 2025 cells.

    python benchmarks/make_bench_labels.py 2048 out.npy
"""

import sys

import numpy as np
from scipy import ndimage


def make_labels(size=2048, *, spacing=2048 / 45, seed=0):
    """Return int32 labels (size, size), 0 = background, 1..N = cells in random order."""
    rng = np.random.default_rng(seed)
    n_side = max(1, int(round(size / spacing)))
    grid = (np.arange(n_side) + 0.5) * size / n_side
    cy, cx = np.meshgrid(grid, grid, indexing="ij")
    cy = cy.ravel() + rng.uniform(-8, 8, cy.size)
    cx = cx.ravel() + rng.uniform(-8, 8, cx.size)
    n = cy.size
    ra = rng.uniform(14, 22, n)
    rb = rng.uniform(14, 22, n)
    theta = rng.uniform(0, np.pi, n)

    # nearest centre for every pixel (Voronoi), via the distance transform's indices
    seeds = np.ones((size, size), bool)
    iy = np.clip(np.round(cy).astype(int), 0, size - 1)
    ix = np.clip(np.round(cx).astype(int), 0, size - 1)
    seeds[iy, ix] = False
    owner = np.zeros((size, size), np.int32)
    owner[iy, ix] = np.arange(1, n + 1)
    _, (ny, nx) = ndimage.distance_transform_edt(seeds, return_indices=True)
    owner = owner[ny, nx]

    # keep a pixel if it lies inside its owner's ellipse
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    k = owner - 1
    dy = yy - cy[k]
    dx = xx - cx[k]
    c, s = np.cos(theta[k]), np.sin(theta[k])
    u = (c * dx + s * dy) / ra[k]
    v = (-s * dx + c * dy) / rb[k]
    labels = np.where(u * u + v * v <= 1.0, owner, 0).astype(np.int32)

    # random label order, so labels are not sorted by position
    perm = np.concatenate([[0], rng.permutation(n) + 1]).astype(np.int32)
    return perm[labels]


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    out = sys.argv[2] if len(sys.argv) > 2 else f"labels_{size}.npy"
    lab = make_labels(size)
    np.save(out, lab)
    print(out, lab.shape, len(np.unique(lab)) - 1, "cells")
