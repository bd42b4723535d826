"""Label images that stress outline tracing, shared by the polygon, export and import tests.

Each entry is (name, masks int32 (Ly, Lx), labels 1..N): random blobs, noise (pixels touching only
at corners, holes everywhere), one-pixel-wide lines (straight and diagonal), a staircase, rings
with holes and cells inside the holes, cells on the image border and in its corners, touching
cells, one-pixel cells, a checkerboard.
"""

import cv2
import numpy as np
from scipy import ndimage


def _blobs(rng, shape, n):
    noise = ndimage.gaussian_filter(rng.random(shape), 2.0)
    m = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        cy, cx = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        r = rng.integers(2, 9)
        yy, xx = np.ogrid[:shape[0], :shape[1]]
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & (noise > np.median(noise) - 0.02)
        m[blob] = k
    return m


def shape_zoo():
    rng = np.random.default_rng(7)
    cases = []
    cases.append(("blobs", _blobs(rng, (48, 56), 12)))
    cases.append(("noise", (rng.random((24, 28)) < 0.5).astype(np.int32)))
    cases.append(("noise3", rng.integers(0, 4, (20, 22)).astype(np.int32)))
    lines = np.zeros((20, 24), np.int32)
    lines[2, 1:20] = 1           # horizontal, one pixel high
    lines[4:18, 22] = 2          # vertical, one pixel wide, touching the border
    for i in range(12):          # diagonal, pixels touching only at corners
        lines[5 + i, 2 + i] = 3
    for i in range(8):           # staircase: 4-connected diagonal
        lines[6 + i, 12 + i] = 4
        lines[6 + i, 13 + i] = 4
    cases.append(("lines", lines))
    rings = np.zeros((40, 40), np.int32)
    cv2.circle(rings, (12, 12), 9, 1, thickness=3)           # ring: one hole
    rings[10:15, 10:15] = 2                                  # a cell inside the hole
    rings[25:38, 20:38] = 3
    rings[27:30, 22:25] = 0                                  # two holes, one touching
    rings[31:35, 30:33] = 0
    rings[30, 25] = 0                                        # ... at a corner only
    rings[32:34, 24:26] = 3 + 1                              # cell 4 inside cell 3
    rings[20, 2:8] = 5
    rings[21, 8] = 5                                         # corner-touching piece
    cases.append(("holes", rings))
    border = np.zeros((16, 18), np.int32)
    border[0, :] = 1
    border[:, 0] = 2
    border[15, 17] = 3
    border[5:16, 17] = 4
    border[6:10, 6:10] = 5
    border[6:10, 10:13] = 6                                  # touching cells
    border[10:13, 6:10] = 7
    border[3, 3] = 8                                         # one-pixel cells
    border[12, 13] = 9
    cases.append(("border", border))
    checker = (np.indices((9, 11)).sum(axis=0) % 2).astype(np.int32)
    checker[4, 5] = 2
    cases.append(("checkerboard", checker))
    out = []
    for name, m in cases:
        _, inverse = np.unique(m, return_inverse=True)  # labels 1..N, 0 stays 0
        out.append((name, inverse.reshape(m.shape).astype(np.int32)))
    return out
