"""Where the time of one segmentation goes, measured with pyinstrument (a sampling profiler).

    .venv/bin/python benchmarks/profile_segment.py [--image tests/data/img2d.tif] [--precision auto]
    .venv/bin/python benchmarks/profile_segment.py --html /tmp/profile.html   # the whole call tree

Profiles ``io.imread`` + ``CellposeModel.segment(diameter=None, augment=True, tile_overlap=0.5)``
of the default model on the image (after a warm-up run: numba compiled, weights folded), then
attributes every sample to the innermost enclosing stage below and prints seconds and shares,
split into the size estimation (`size.estimate_diameter`) and the segmentation proper:

    network forward    tiling._ensemble_forward: the nets on the batches of tiles
    tiling             tiling._run_tiled apart from the forward: padding, cutting and flipping
                       tiles, un-flipping, tapering and stitching the outputs
    resizing           transforms.resize_image (to and from the network's scale)
    normalisation      transforms.convert_image and transforms.normalize99
    dynamics           dynamics.compute_masks (flow following, clustering, flow-error QC, filling)
    I/O                io.imread
    other              everything else (Python glue, the size model's regression, ...)

Needs pyinstrument (benchmarks/run_all.sh installs it into .venv).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = {
    "_ensemble_forward": "network forward",
    "_run_tiled": "tiling",
    "resize_image": "resizing",
    "convert_image": "normalisation",
    "normalize99": "normalisation",
    "compute_masks": "dynamics",
    "imread": "I/O",
}
PHASE = "estimate_diameter"  # size.estimate_diameter


def attribute(frame, stage="other", phase="segmentation", out=None) -> dict:
    """{(phase, stage): seconds} from a pyinstrument frame tree (self time of every frame to the
    innermost enclosing stage)."""
    out = {} if out is None else out
    if frame.function == PHASE and "size" in frame.file_path:
        phase = "size estimation"
    stage = STAGES.get(frame.function, stage)
    self_time = frame.time - sum(child.time for child in frame.children)
    out[(phase, stage)] = out.get((phase, stage), 0.0) + max(self_time, 0.0)
    for child in frame.children:
        attribute(child, stage, phase, out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=ROOT / "tests" / "data" / "img2d.tif")
    parser.add_argument("--precision", default="auto", help="the model's precision (auto, float32, bfloat16)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML call tree here")
    args = parser.parse_args()

    import torch
    from pyinstrument import Profiler

    from inference.engine.io import imread
    from inference.engine.model import load_model

    torch.set_num_threads(args.threads)
    model = load_model(device="cpu")
    model.precision = args.precision
    model.segment(imread(args.image), diameter=None)  # warm-up
    load = os.getloadavg()[0]
    profiler = Profiler(interval=0.002)
    profiler.start()
    result = model.segment(imread(args.image), diameter=None, augment=True, tile_overlap=0.5)
    session = profiler.stop()
    if args.html:
        args.html.write_text(profiler.output_html())
    root = session.root_frame()
    totals = attribute(root)
    total = sum(totals.values())
    print(f"{args.image.name}: default model, precision {args.precision} ({model.compute_dtype()}), "
          f"automatic diameter {result.diameter:.1f} px, {int(result.masks.max())} masks; "
          f"{torch.get_num_threads()} threads, load average {load:.2f} before")
    print(f"profiled wall time {total:.3f} s (segment's own timings: "
          + ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items()) + ")")
    for phase in ("size estimation", "segmentation"):
        part = {stage: s for (p, stage), s in totals.items() if p == phase}
        print(f"  {phase}: {sum(part.values()):.3f} s ({100 * sum(part.values()) / total:.0f} %)")
        for stage, seconds in sorted(part.items(), key=lambda kv: -kv[1]):
            if seconds >= 0.0005:
                print(f"    {stage:<16} {seconds:7.3f} s  {100 * seconds / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
