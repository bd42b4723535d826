"""Automatic diameter: the engine's size estimation against Cellpose's, on validation images.

    .venv/bin/python benchmarks/bench_size.py [--n 30] [--seed 0] [--precision float32 bfloat16]

Images: tests/data/img2d.tif (with mask2d.tif) and a fixed sample of ``--n`` images of the DSB 2018
training set (``--data``, default ../shared/data/dsb2018-train: the names sorted, then
``numpy.random.default_rng(seed).choice(len, n, replace=False)``; the sample is printed), all read as
grayscale (channels 0, 0) with the default model.

For each image and precision:

- **cellpose's way** (what the engine did before): the style of the whole image (no flips, tiles
  overlapping by half) gives d_style; the image is segmented at d_style with the full settings
  (flips, 50 % overlap) and the median diameter of those masks is the estimate; the image is then
  segmented at it. Size estimation = the style pass + that segmentation.
- **ours**: ``CellposeModel.segment(image, diameter=None)`` (`size.estimate_diameter`: style and
  refinement on bounded central crops, no flips, tiles without overlap), its "size" timing.

Prints one JSON line per image (true median diameter from the labels, both estimates, AP@0.5 and
AP@0.75 of both final segmentations, seconds of size estimation), then a summary per
precision: median relative diameter error, mean AP, total size-estimation time, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _images(data: Path, n: int, seed: int):
    from inference.engine.io import imread, read_labels

    yield "img2d.tif", imread(ROOT / "tests/data/img2d.tif"), read_labels(ROOT / "tests/data/mask2d.tif")
    if n == 0:
        return
    if not (data / "images").is_dir():
        print(f"# no DSB 2018 images at {data}: only img2d.tif", file=sys.stderr)
        return
    names = sorted(p.stem for p in (data / "images").glob("*.png"))
    for i in sorted(np.random.default_rng(seed).choice(len(names), n, replace=False)):
        name = names[i]
        yield name, imread(data / "images" / f"{name}.png"), read_labels(data / "masks" / f"{name}.tif")


def _timed(f):
    start = time.perf_counter()
    value = f()
    return value, time.perf_counter() - start


def _cellpose_way(model, image):
    """(diameter, seconds of size estimation, final masks) the way Cellpose 3 estimates it."""
    from inference.engine.size import diameter_of_masks, style_for_size
    from inference.engine.transforms import convert_image, normalize99

    def size():
        x = normalize99(convert_image(image, (0, 0)))
        model._prepare_nets()
        d_style = model.size_model.predict(style_for_size(model.nets, x, tile_overlap=0.5))
        d = diameter_of_masks(model.segment(image, diameter=d_style).masks)
        return d if d > 0 else d_style

    d, seconds = _timed(size)
    return d, seconds, model.segment(image, diameter=d).masks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file or packaged name (default: the default model)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dsb2018-train")
    parser.add_argument("--n", type=int, default=30, help="DSB images in the sample (0: img2d.tif only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", nargs="+", default=["float32"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from inference.engine.metrics import average_precision
    from inference.engine.model import load_model
    from inference.engine.size import diameter_of_masks

    torch.set_num_threads(args.threads)
    model = load_model(args.model, device="cpu")
    load = os.getloadavg()[0]
    rows = {p: [] for p in args.precision}
    names = []
    for name, image, truth in _images(args.data, args.n, args.seed):
        names.append(name)
        d_true = diameter_of_masks(truth)
        for precision in args.precision:
            model.precision = precision
            model.segment(image[:64, :64], diameter=30.0)  # warm-up: numba, the folded weights
            d_old, seconds_old, masks_old = _cellpose_way(model, image)
            result = model.segment(image, diameter=None)
            ap_old = average_precision(truth, masks_old, thresholds=[0.5, 0.75])[0][0]
            ap_new = average_precision(truth, result.masks, thresholds=[0.5, 0.75])[0][0]
            row = {
                "image": name, "shape": list(image.shape), "precision": precision, "d_true": round(d_true, 2),
                "d_cellpose_way": round(d_old, 2), "d_ours": round(result.diameter, 2),
                "ap50_cellpose_way": round(float(ap_old[0]), 3), "ap50_ours": round(float(ap_new[0]), 3),
                "ap75_cellpose_way": round(float(ap_old[1]), 3), "ap75_ours": round(float(ap_new[1]), 3),
                "size_s_cellpose_way": round(seconds_old, 3), "size_s_ours": round(result.timings["size"], 3),
            }
            rows[precision].append(row)
            print(json.dumps(row), flush=True)
    print(f"# images: {', '.join(names)}")
    for precision, rs in rows.items():
        def err(key):
            return statistics.median(abs(r[key] - r["d_true"]) / r["d_true"] for r in rs)

        def mean(key):
            return statistics.mean(r[key] for r in rs)

        print(json.dumps({
            "summary": precision, "images": len(rs),
            "median_rel_diameter_error_cellpose_way": round(err("d_cellpose_way"), 4),
            "median_rel_diameter_error_ours": round(err("d_ours"), 4),
            "mean_ap50_cellpose_way": round(mean("ap50_cellpose_way"), 4), "mean_ap50_ours": round(mean("ap50_ours"), 4),
            "mean_ap75_cellpose_way": round(mean("ap75_cellpose_way"), 4), "mean_ap75_ours": round(mean("ap75_ours"), 4),
            "size_s_cellpose_way": round(sum(r["size_s_cellpose_way"] for r in rs), 2),
            "size_s_ours": round(sum(r["size_s_ours"] for r in rs), 2),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
