"""Build a large RGB H&E-like image from real H&E tiles, without holding it in memory.

    .venv/bin/python benchmarks/make_slide.py OUT [--size 20000] [--format zarr|tiff] [--seed 0]

Each 256 x 256 tile of the output is a crop of tests/data/histo.jpg (the StarDist H&E sample,
500 x 300) at a random offset, turned by one of the 8 rotations / mirror images of the square, so
the slide is not a plain repeat of one tile. The image is written a band of tiles at a time:

- ``zarr`` (default): an (L, L, 3) uint8 zarr array (v2 format) with 1024 x 1024 x 3 chunks, one
  band of 1024 rows in memory (60 MB for a 20,000-pixel width);
- ``tiff``: a tiled BigTIFF (256 x 256 tiles, zlib), fed to ``tifffile`` as a stream of tiles,
  one tile in memory at a time.

Prints the path, the shape and the seconds taken. ``--size`` may be small (tests use 600).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HISTO = ROOT / "tests" / "data" / "histo.jpg"
TILE = 256
CHUNK = 1024


def he_tiles(size: int, seed: int):
    """The tiles of a ``size`` x ``size`` slide in row-major order: uint8 (TILE, TILE, 3) each."""
    sys.path.insert(0, str(ROOT))
    from inference.engine.io import imread

    source = imread(HISTO)[..., :3]
    if min(source.shape[:2]) < TILE:
        raise SystemExit(f"{HISTO} is smaller than a {TILE}-pixel tile")
    rng = np.random.default_rng(seed)
    n = -(-size // TILE)
    for _ in range(n * n):
        y = rng.integers(0, source.shape[0] - TILE + 1)
        x = rng.integers(0, source.shape[1] - TILE + 1)
        tile = np.rot90(source[y:y + TILE, x:x + TILE], k=int(rng.integers(4)))
        yield np.ascontiguousarray(tile[:, ::-1] if rng.integers(2) else tile)


def write_zarr(path: Path, size: int, seed: int):
    import zarr

    out = zarr.open(str(path), mode="w", shape=(size, size, 3), chunks=(CHUNK, CHUNK, 3), dtype=np.uint8)
    per_row = -(-size // TILE)
    tiles = he_tiles(size, seed)
    band = np.empty((CHUNK, per_row * TILE, 3), np.uint8)
    for y0 in range(0, size, CHUNK):
        rows = min(CHUNK, size - y0)
        for r in range(-(-rows // TILE)):
            for c in range(per_row):
                band[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = next(tiles)
        out[y0:y0 + rows] = band[:rows, :size]
    return out


def write_tiff(path: Path, size: int, seed: int):
    import tifffile

    tifffile.imwrite(path, he_tiles(size, seed), shape=(size, size, 3), dtype=np.uint8, tile=(TILE, TILE),
                     photometric="rgb", compression="zlib", bigtiff=True)
    return tifffile.TiffFile(path).series[0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--format", choices=["zarr", "tiff"], default="zarr")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.size < 1:
        raise SystemExit("--size must be >= 1")
    t = time.perf_counter()
    made = (write_zarr if args.format == "zarr" else write_tiff)(args.out, args.size, args.seed)
    print(f"{args.out}: {tuple(made.shape)} uint8 RGB in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
