"""How large the size estimation's crops must be: diameter, AP and time per image kind.

    .venv/bin/python benchmarks/bench_size_crops.py [--sides 512,1024,1024 208,432,1024]

`size.estimate_diameter` reads the style from the central crop of at most ``STYLE_MAX_SIDE`` image
pixels, refines the diameter by segmenting the central crop of at most ``REFINE_SIDE`` pixels on
the network's scale, and a crop of at most ``REFINE_MAX_SIDE`` when that one holds fewer than
``REFINE_MIN_CELLS`` masks. Each ``--sides STYLE,REFINE,REFINE_MAX`` triple sets the three for one
pass over the images; the default compares the engine's crops before issue 16's change
(512,1024,1024: 9 + 9 tiles for a 512² image) with today's (208,432,1024: 1 + 4 tiles).

Images: ``accuracy.standard_items`` without the 3D stack: the validation split of DSB 2018 per
kind (the split ``make model`` never trains on), tests/data/img2d.tif and the synthetic styles;
every image segmented with ``diameter=None``, flips on and the channels the accuracy table uses.
Each image is segmented once per triple, in turns, so load hits every triple alike. Prints one
JSON line per image, then per image kind and triple: mean AP@0.5 / AP@0.75, the median relative
diameter error against the labels, and the mean seconds of size estimation.
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
DEFAULT_DSB = ROOT.parent / "shared" / "data" / "dsb2018-train"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--dsb", type=Path, default=Path(os.environ.get("CELLPOSEWEB_DSB2018", DEFAULT_DSB)))
    parser.add_argument("--sides", nargs="+", default=["512,1024,1024", "208,432,1024"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from inference.engine import size
    from inference.engine.accuracy import standard_items, true_diameter
    from inference.engine.metrics import average_precision
    from inference.engine.model import load_model

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    model.segment(np.zeros((64, 64), np.float32), diameter=30.0)  # warm-up: kernels, numba
    triples = [tuple(int(v) for v in s.split(",")) for s in args.sides]
    if any(len(t) != 3 for t in triples):
        parser.error("each --sides value is STYLE,REFINE,REFINE_MAX")
    folder = args.dsb if (args.dsb / "images").is_dir() else None
    if folder is None:
        print(f"# no DSB 2018 images at {args.dsb}: img2d.tif and synthetic images only", file=sys.stderr)
    items = standard_items(folder=folder, test_data=ROOT / "tests" / "data", volume=False)
    saved = size.STYLE_MAX_SIDE, size.REFINE_SIDE, size.REFINE_MAX_SIDE
    rows: dict[tuple, dict[str, list]] = {t: {} for t in triples}
    print(f"# load average before: {os.getloadavg()[0]:.2f}")
    try:
        for item in items:
            d_true = true_diameter(item.labels)
            for triple in triples:
                size.STYLE_MAX_SIDE, size.REFINE_SIDE, size.REFINE_MAX_SIDE = triple
                result = model.segment(item.image, diameter=None, **{"channels": (0, 0), **item.options})
                ap = average_precision(item.labels, result.masks, thresholds=(0.5, 0.75))[0][0]
                row = {"image": item.name, "kind": item.group, "sides": list(triple), "d_true": round(d_true, 2),
                       "d": round(result.diameter, 2), "ap50": round(float(ap[0]), 3), "ap75": round(float(ap[1]), 3),
                       "size_s": round(result.timings["size"], 3)}
                groups = {item.group, item.group.split("/")[0] + "/all"} if "/" in item.group else {item.group}
                for group in groups:
                    rows[triple].setdefault(group, []).append(row)
                print(json.dumps(row), flush=True)
    finally:
        size.STYLE_MAX_SIDE, size.REFINE_SIDE, size.REFINE_MAX_SIDE = saved
    print("\n| images | n | " + " | ".join(f"crops {','.join(map(str, t))}: AP@0.5 / AP@0.75, diameter error, size s"
                                           for t in triples) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in triples) + " |")
    for group in sorted(rows[triples[0]]):
        cells = []
        for triple in triples:
            rs = rows[triple][group]
            cells.append(f"{statistics.mean(r['ap50'] for r in rs):.3f} / {statistics.mean(r['ap75'] for r in rs):.3f}, "
                         f"{statistics.median(abs(r['d'] / r['d_true'] - 1) for r in rs if r['d_true'] > 0):.3f}, "
                         f"{statistics.mean(r['size_s'] for r in rs):.2f}")
        print(f"| {group} | {len(rows[triples[0]][group])} | " + " | ".join(cells) + " |")
    print(f"\n# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
