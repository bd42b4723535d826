"""How large the size estimation's crops must be: diameter, AP and time for several crop sizes.

    .venv/bin/python benchmarks/bench_size_crops.py [--n 30] [--sides 512,1024 448,448]

`size.estimate_diameter` reads the style from the central crop of at most ``STYLE_MAX_SIDE`` image
pixels and refines the diameter by segmenting the central crop of at most ``REFINE_MAX_SIDE``
pixels on the network's scale. Each ``--sides STYLE,REFINE`` pair sets both for one pass over the
sample (tests/data/img2d.tif and ``--n`` DSB 2018 training images chosen as in bench_size.py, read
as grayscale with the default model); every image is segmented with ``diameter=None`` and the
model's defaults (flips on). Prints one JSON line per image and pair, then per pair: the median
relative diameter error against the labels' median diameter, the mean AP@0.5 / AP@0.75, and the
total seconds of size estimation and of the whole segmentation, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_size import _images  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dsb2018-train")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sides", nargs="+", default=["512,1024", "448,448"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from inference.engine import size
    from inference.engine.metrics import average_precision
    from inference.engine.model import load_model

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    model.segment(np.zeros((64, 64), np.float32), diameter=30.0)  # warm-up: kernels, numba
    pairs = [tuple(int(v) for v in s.split(",")) for s in args.sides]
    images = list(_images(args.data, args.n, args.seed))
    rows = {pair: [] for pair in pairs}
    print(f"# load average before: {os.getloadavg()[0]:.2f}")
    for name, image, labels in images:
        _, areas = np.unique(labels[labels > 0], return_counts=True)
        d_true = float(np.median(2 * np.sqrt(areas / np.pi)))
        for pair in pairs:  # in turns, so that load hits every pair alike
            size.STYLE_MAX_SIDE, size.REFINE_MAX_SIDE = pair
            result = model.segment(image, channels=(0, 0), diameter=None)
            ap = average_precision(labels, result.masks, thresholds=(0.5, 0.75))[0][0]
            row = {"image": name, "sides": list(pair), "d_true": round(d_true, 2), "d": round(result.diameter, 2),
                   "ap50": round(float(ap[0]), 3), "ap75": round(float(ap[1]), 3),
                   "size_s": round(result.timings["size"], 3), "total_s": round(result.timings["total"], 3)}
            rows[pair].append(row)
            print(json.dumps(row), flush=True)
    for pair, rs in rows.items():
        print(json.dumps({
            "sides": list(pair), "n_images": len(rs),
            "median_rel_diameter_error": round(statistics.median(abs(r["d"] - r["d_true"]) / r["d_true"] for r in rs), 4),
            "mean_ap50": round(statistics.mean(r["ap50"] for r in rs), 4),
            "mean_ap75": round(statistics.mean(r["ap75"] for r in rs), 4),
            "size_s": round(sum(r["size_s"] for r in rs), 2), "total_s": round(sum(r["total_s"] for r in rs), 2),
        }))
    print(f"# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
