"""The whole image's network lattice, so that a block of it meets the network as the whole image does.

`tiling.run_tiled` resizes an image of (Ly, Lx) pixels to (Ny, Nx) = round(L * rescale) network
pixels, pads that with zeros to (Py, Px) (`tiling._padded_length`, the image at offset
``(P - N) // 2``) and cuts the padded image into tiles whose starts `tiling.tile_starts` spreads
evenly over P; with flip augmentation a tile's flips follow its index in that grid. A block of a
large image that went through the same steps on its own would meet a different lattice: its own
resize (another ratio, other sample points), its own tile grid and its own flip pattern, so the
network's output inside the block would differ from the whole image's (block-wise masks agreed at
AP@0.5 0.986 with whole-image ones at 4096², docs/performance.md).

`NetLattice` is that geometry for the whole image; `NetLattice.window` places one region of the
image on it:

* **Resize.** OpenCV's bilinear resize (``cv2.INTER_LINEAR``, which `transforms.resize_image`
  uses) samples output pixel j of an axis of N pixels from source coordinate
  ``s = (j + 0.5) * L / N - 0.5`` (half-pixel centres): ``(1 - f) * x[i] + f * x[i + 1]`` with
  ``i = floor(s)``, ``f = s - i``, both clamped to the image at its ends. The window's network
  pixels are those of the whole image's lattice whose two source pixels lie in the region, and
  `to_net` computes them with the whole image's ``s``, so they equal the whole-image resize (to
  float32 rounding). `from_net` maps the network output back the same way (source pixel i from
  network coordinate ``(i + 0.5) * N / L - 0.5``).
* **Tiles.** The window takes the whole image's tiles that lie in it (their part inside the
  image does), keeps their global indices (the flip pattern), and lays them on a canvas from its
  first tile's start to its last tile's end; canvas pixels outside the region are zero, as the
  whole image's padding is. Near the region's edges, where those tiles leave pixels uncovered, it
  adds the tiles that reach past the region; they see zeros there instead of the image. `aligned`
  grows a region to whole tiles, so that every tile meeting a given part of the image lies in the
  grown region: over that part the window then runs exactly the whole image's tiles, and its
  output equals the whole image's (to float32 rounding of the resize).

The whole image is the window over all of it: the same tiles, canvas and offsets as
`tiling.run_tiled` has always used, and the resize is OpenCV's own, so its output is unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .transforms import resize_image

__all__ = ["NetLattice", "NetWindow", "Region"]

#: The tile size `tiling.run_tiled` uses by default (pixels at the network's scale).
BSIZE = 224


def padded_length(length: int) -> int:
    """The length an axis is padded to: 8+ px a side, up to a multiple of 16."""
    return -(-(length + 16) // 16) * 16


def tile_starts(length: int, bsize: int, tile_overlap: float, *, at_least: int = 1) -> np.ndarray:
    """The start positions along one axis of tiles of size `bsize` covering ``range(length)``.

    `length` must be >= `bsize` (pad first). Tiles are spread evenly, the first at 0 and the last at
    ``length - bsize``; neighbours overlap by at least ``tile_overlap * bsize`` pixels.
    """
    if length < bsize:
        raise ValueError(f"tile_starts needs length >= bsize, got {length} < {bsize}")
    stride = bsize * (1.0 - tile_overlap)
    n = 1 if length == bsize else math.ceil((length - bsize) / stride - 1e-9) + 1
    n = max(n, at_least)
    return np.round(np.linspace(0, length - bsize, n)).astype(np.int64)


@dataclass(frozen=True)
class Region:
    """Where an image lies in a larger one (a block in its whole image).

    image_shape : (Ly, Lx)
        The whole image's size in pixels.
    slices : (slice, slice)
        The part of it the image is, with explicit starts and stops.
    """

    image_shape: tuple[int, int]
    slices: tuple[slice, slice]

    @property
    def shape(self) -> tuple[int, int]:
        """The region's size in pixels."""
        return tuple(s.stop - s.start for s in self.slices)


@dataclass(frozen=True)
class NetWindow:
    """A region placed on the whole image's network lattice, per axis (Y, X).

    net : (slice, slice)
        The region's network pixels, in the whole image's network coordinates (0..N).
    tiles : (ndarray of int64, ndarray of int64)
        The whole image's tile starts that meet ``net``, on the canvas (start - canvas start).
    tile_index : (ndarray of int64, ndarray of int64)
        Those tiles' indices in the whole image's grid (for the flip pattern).
    canvas : (int, int)
        The canvas's length: from the first tile's start to the last tile's end.
    offset : (int, int)
        Where the region's network pixels start on the canvas.
    tile_size : (int, int)
        The tiles' size (the whole image's, shorter than `BSIZE` for a small image).
    region : Region
        The region, in the whole image's pixels.
    lattice : NetLattice
        The whole image's lattice.
    """

    net: tuple[slice, slice]
    tiles: tuple[np.ndarray, np.ndarray]
    tile_index: tuple[np.ndarray, np.ndarray]
    canvas: tuple[int, int]
    offset: tuple[int, int]
    tile_size: tuple[int, int]
    region: Region
    lattice: "NetLattice"

    @property
    def is_whole(self) -> bool:
        """The region is the whole image (resized by OpenCV itself, as `tiling.run_tiled` always has)."""
        return self.region.shape == tuple(self.region.image_shape)

    def to_net(self, imgs: np.ndarray) -> np.ndarray:
        """The region's pixels resampled onto its network pixels, as the whole image's resize gives them.

        imgs : ndarray of a real dtype, shape (..., ly, lx) = the region's shape
        Returns ndarray of float32, shape (..., ny, nx) (the lengths of ``net``); the input itself
        when the lattice is the image's own pixels.
        """
        lat, ny, nx = self.lattice, *(s.stop - s.start for s in self.net)
        if self.is_whole:
            return imgs if (ny, nx) == tuple(lat.shape) else resize_image(imgs, ny, nx)
        out = np.asarray(imgs, np.float32)
        for axis in (-1, -2):
            a = axis + 2
            out = _resample(out, axis, lat.shape[a], lat.net_shape[a], self.region.slices[a].start, self.net[a])
        return out

    def from_net(self, y: np.ndarray) -> np.ndarray:
        """Network output over ``net`` resampled back to the region's pixels, as the whole image's is.

        y : ndarray of float32, shape (..., ny, nx)
        Returns ndarray of float32, shape (..., ly, lx).
        """
        lat = self.lattice
        if self.is_whole:
            ly, lx = lat.shape
            return y if y.shape[-2:] == (ly, lx) else resize_image(y, ly, lx)
        out = y
        for axis in (-1, -2):
            a = axis + 2
            out = _resample(out, axis, lat.net_shape[a], lat.shape[a], self.net[a].start, self.region.slices[a])
        return out


@dataclass(frozen=True)
class NetLattice:
    """The network geometry of a whole image (module docstring).

    shape : (Ly, Lx)
        The whole image's size in pixels.
    rescale : float
        Network pixels per image pixel (``diam_mean / diameter``).
    bsize : int
        Tile size; tiles are ``min(bsize, P)`` long on an axis padded to P.
    tile_overlap : float in [0, 1)
    augment : bool
        With flips every axis has at least two tiles.
    """

    shape: tuple[int, int]
    rescale: float
    bsize: int = BSIZE
    tile_overlap: float = 0.5
    augment: bool = False

    @classmethod
    def for_diameter(cls, shape, diameter: float, *, diam_mean: float, augment: bool = True,
                     tile_overlap: float = 0.5, bsize: int = BSIZE) -> "NetLattice":
        """The lattice `segment` puts a 2D image of `shape` (Ly, Lx) on when its cells are `diameter`
        pixels across and the model's are `diam_mean` (rescale ``diam_mean / diameter``)."""
        if not diameter or float(diameter) <= 0:
            raise ValueError(f"NetLattice.for_diameter needs a diameter > 0, got {diameter!r}")
        return cls(tuple(int(n) for n in shape[-2:]), float(diam_mean) / float(diameter), int(bsize),
                   float(tile_overlap), bool(augment))

    def spec(self) -> dict:
        """What decides the lattice besides the image's shape, as JSON-able values (`from_spec`)."""
        return {"rescale": self.rescale, "bsize": self.bsize, "tile_overlap": self.tile_overlap,
                "augment": self.augment}

    @classmethod
    def from_spec(cls, shape, spec: dict) -> "NetLattice":
        """The lattice of an image of `shape` (its last two axes are Y, X) from `spec` (`spec`; a
        spec without ``"bsize"`` means the default tile size)."""
        return cls(tuple(int(n) for n in shape[-2:]), float(spec["rescale"]), int(spec.get("bsize", BSIZE)),
                   float(spec["tile_overlap"]), bool(spec["augment"]))

    @property
    def net_shape(self) -> tuple[int, int]:
        """(Ny, Nx): the whole image's size at the network's scale, ``max(1, round(L * rescale))``."""
        return tuple(max(1, round(n * self.rescale)) for n in self.shape)

    def _axis(self, a: int) -> tuple[int, int, int, np.ndarray]:
        """(N, offset of the image in the padded axis, tile size, tile starts) of axis a."""
        n = self.net_shape[a]
        p = padded_length(n)
        b = min(self.bsize, p)
        return n, (p - n) // 2, b, tile_starts(p, b, self.tile_overlap, at_least=2 if self.augment else 1)

    def window(self, slices) -> NetWindow:
        """The region `slices` ((slice, slice) of this image) placed on the lattice."""
        slices = _check_slices(slices, self.shape)
        net, tiles, index, canvas, offset, size = [], [], [], [], [], []
        for a, s in enumerate(slices):
            n, pad, b, starts = self._axis(a)
            j0, j1 = _inner_net_range(self.shape[a], n, s.start, s.stop)
            meets = _window_tiles(starts - pad, b, n, j0, j1)
            c0 = int(starts[meets[0]])
            net.append(slice(j0, j1))
            tiles.append(starts[meets] - c0)
            index.append(meets.astype(np.int64))
            canvas.append(int(starts[meets[-1]]) + b - c0)
            offset.append(pad + j0 - c0)
            size.append(b)
        return NetWindow(net=tuple(net), tiles=tuple(tiles), tile_index=tuple(index), canvas=tuple(canvas),
                         offset=tuple(offset), tile_size=tuple(size), region=Region(tuple(self.shape), slices),
                         lattice=self)

    def aligned(self, slices) -> tuple[slice, slice]:
        """`slices` grown to the image pixels that whole tiles need: a window over the result has
        every tile of the lattice that meets the network pixels `slices` reads, whole, so its
        output over `slices` is the whole image's (clipped to the image)."""
        slices = _check_slices(slices, self.shape)
        out = []
        for a, s in enumerate(slices):
            length = self.shape[a]
            n, pad, b, starts = self._axis(a)
            k0, k1 = _stencil(n, length, np.array([s.start, s.stop - 1]))  # the net pixels read back
            lo, hi = int(k0[0]), int(k1[1]) + 1
            meets = np.flatnonzero((starts < pad + hi) & (starts + b > pad + lo))
            j0 = max(0, int(starts[meets[0]]) - pad)
            j1 = min(n, int(starts[meets[-1]]) + b - pad)
            i0, i1 = _stencil(length, n, np.array([j0, j1 - 1]))  # the image pixels those are made of
            out.append(slice(int(i0[0]), int(i1[1]) + 1))
        return tuple(out)


def _window_tiles(starts: np.ndarray, b: int, n: int, j0: int, j1: int) -> np.ndarray:
    """Indices of the tiles (`starts` relative to the image's first network pixel, length `b`, on
    an axis of `n` network pixels) a window over network pixels [j0, j1) runs: every tile whose
    part inside the image lies in the window (it sees what the whole image's tile sees), and a
    tile reaching past the window only where none of those covers a pixel. So a pixel that every
    tile meeting it lies in the window for takes exactly the whole image's tiles."""
    meets = np.flatnonzero((starts < j1) & (starts + b > j0))
    lo, hi = np.maximum(starts[meets], 0), np.minimum(starts[meets] + b, n)
    exact = (lo >= j0) & (hi <= j1)
    covered = np.zeros(j1 - j0, bool)
    for s in starts[meets[exact]]:
        covered[max(0, s - j0):max(0, s + b - j0)] = True
    keep = exact.copy()
    for k in np.flatnonzero(~exact):
        span = slice(max(0, starts[meets[k]] - j0), max(0, starts[meets[k]] + b - j0))
        if not covered[span].all():
            keep[k] = True
            covered[span] = True
    return meets[keep]


def _check_slices(slices, shape) -> tuple[slice, slice]:
    slices = tuple(slices)
    if len(slices) != 2 or not all(isinstance(s, slice) for s in slices):
        raise ValueError(f"a region is two slices (Y, X), got {slices!r}")
    out = tuple(slice(*s.indices(n)[:2]) for s, n in zip(slices, shape))
    if any(s.stop <= s.start for s in out):
        raise ValueError(f"a region must be non-empty and inside the image {tuple(shape)}, got {slices!r}")
    return out


def _stencil(src_len: int, dst_len: int, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two source pixels (i0, i1) OpenCV's bilinear resize from `src_len` to `dst_len` reads
    for output pixels `j` (i1 = i0 when the second weight is 0)."""
    i0, f = _coordinates(src_len, dst_len, j)
    return i0, np.where(f > 0, i0 + 1, i0)


def _coordinates(src_len: int, dst_len: int, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i0 int64, f float32): output pixel j = (1 - f) * x[i0] + f * x[i0 + 1], as OpenCV computes
    them (the coordinate in double precision, clamped to the image at both ends)."""
    s = (np.asarray(j, np.float64) + 0.5) * (1.0 / (dst_len / src_len)) - 0.5
    i0 = np.floor(s).astype(np.int64)
    f = (s - i0).astype(np.float32)
    f[(i0 < 0) | (i0 >= src_len - 1)] = 0.0
    return np.clip(i0, 0, src_len - 1), f


def _inner_net_range(length: int, n: int, start: int, stop: int) -> tuple[int, int]:
    """The network pixels [j0, j1) of an axis of `length` image pixels resized to `n` whose source
    pixels lie in [start, stop) (at least one pixel)."""
    j = np.arange(n)
    i0, i1 = _stencil(length, n, j)
    inside = np.flatnonzero((i0 >= start) & (i1 < stop))
    if inside.size == 0:  # a region thinner than a network pixel: the nearest one
        centre = min(n - 1, int((start + stop) / 2 * n / length))
        return centre, centre + 1
    return int(inside[0]), int(inside[-1]) + 1


def _resample(x: np.ndarray, axis: int, src_len: int, dst_len: int, src_start: int, dst: slice) -> np.ndarray:
    """Bilinear resampling along `axis` of the part of a `src_len` axis that starts at `src_start`,
    to output pixels `dst` of the axis resized to `dst_len`, with OpenCV's coordinates (float32).
    Source pixels past the part's ends are read as its end pixels."""
    i0, f = _coordinates(src_len, dst_len, np.arange(dst.start, dst.stop))
    last = x.shape[axis] - 1
    k0 = np.clip(i0 - src_start, 0, last)
    k1 = np.clip(i0 + 1 - src_start, 0, last)
    shape = [1] * x.ndim
    shape[axis] = f.size
    w1 = f.reshape(shape)
    w0 = (np.float32(1.0) - f).reshape(shape)
    out = np.take(x, k0, axis=axis) * w0
    out += np.take(x, k1, axis=axis) * w1
    return out.astype(np.float32, copy=False)
