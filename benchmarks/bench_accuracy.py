"""Accuracy of one or more model files per image kind, measured the same way for each.

    python benchmarks/bench_accuracy.py                                  # the shipped default
    python benchmarks/bench_accuracy.py --model old.pt --model inference/engine/weights/default.pt
    python benchmarks/bench_accuracy.py --dsb ../shared/data/dsb2018-train --json out.json

Rows (``inference.engine.accuracy.standard_items``): the validation split of DSB 2018 per image
kind (fluorescent, brightfield, stained; ~10 % of the 604 images by image, seed 0, the split that
``make model`` never trains on), ``img2d.tif``, ``mask3d.tif`` segmented in 3D, and synthetic
styles; every image segmented with the automatic diameter and flip augmentation, as a user runs
it. Then the nuclei counted on ``histo.jpg`` (no labels). Prints one Markdown table per model.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DSB = ROOT.parent / "shared" / "data" / "dsb2018-train"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", help="model name or file (repeatable; default: default)")
    p.add_argument("--dsb", type=Path, default=Path(os.environ.get("CELLPOSEWEB_DSB2018", DEFAULT_DSB)),
                   help=f"labelled DSB 2018 folder (default {DEFAULT_DSB}); 'none' to skip")
    p.add_argument("--test-data", type=Path, default=ROOT / "tests" / "data")
    p.add_argument("--diameter", choices=("auto", "true"), default="auto")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--cellprob-threshold", type=float, default=0.0, help="segment's cellprob_threshold (0)")
    p.add_argument("--flow-threshold", type=float, default=0.4, help="segment's flow_threshold (0.4)")
    p.add_argument("--no-synthetic", action="store_true")
    p.add_argument("--no-3d", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="write the tables as JSON here")
    args = p.parse_args()

    import numpy as np
    import torch

    from inference.engine import accuracy
    from inference.engine.io import imread
    from inference.engine.model import load_model

    torch.set_num_threads(args.threads)
    folder = None if str(args.dsb) == "none" else args.dsb
    if folder is not None and not folder.is_dir():
        print(f"error: no DSB 2018 folder at {folder} (give --dsb PATH or --dsb none)", file=sys.stderr)
        return 2
    items = accuracy.standard_items(folder=folder, test_data=args.test_data,
                                    synthetic=not args.no_synthetic, volume=not args.no_3d)
    results = {}
    for name in args.model or ["default"]:
        model = load_model(name, device="cpu")
        t0 = time.perf_counter()
        options = {"cellprob_threshold": args.cellprob_threshold, "flow_threshold": args.flow_threshold}
        table = accuracy.evaluate(model, items, diameter=args.diameter, augment=not args.no_augment,
                                  segment_options=options)
        histo = model.segment(imread(args.test_data / "histo.jpg"), channels=(0, 0), diameter=None)
        areas = np.bincount(histo.masks.ravel())[1:]
        extra = {"histo_nuclei": int(histo.masks.max()),
                 "histo_median_area": float(np.median(areas[areas > 0])) if areas.any() else 0.0,
                 "histo_diameter": round(float(histo.diameter), 2),
                 "seconds": round(time.perf_counter() - t0, 1)}
        results[name] = {"table": table, **extra}
        print(accuracy.format_table(table, title=f"{name} ({args.diameter} diameter, augment "
                                                 f"{'off' if args.no_augment else 'on'}, cellprob_threshold "
                                                 f"{args.cellprob_threshold}, flow_threshold {args.flow_threshold})"))
        print(f"\nhisto.jpg: {extra['histo_nuclei']} nuclei, median area {extra['histo_median_area']:.0f} px, "
              f"diameter {extra['histo_diameter']} px; {extra['seconds']} s in all\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
