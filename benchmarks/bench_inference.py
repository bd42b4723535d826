"""Segmentation time for one 512 x 512 image, with and without flip augmentation, on CPU and CUDA.

The image is a seeded synthetic one (`synth.synthesize`) segmented at its known diameter, so the
size model does not run; the timings are `CellposeModel.segment`'s own per-stage timings.

    python benchmarks/bench_inference.py                         # default model, every device here
    python benchmarks/bench_inference.py --model path/to/model.pt --device cpu --threads 2
    python benchmarks/bench_inference.py --random-weights        # no model file: default-width net

Prints one JSON line per (device, augment): model, device, threads, size, augment, tiles, repeats,
and the median seconds of total / network / dynamics, plus load_before (the 1-minute load average
when it started: other processes on the machine slow it down).
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _model(args):
    import torch

    from inference.engine.model import CellposeModel, load_model
    from inference.engine.net import CellposeNet

    if args.random_weights:
        torch.manual_seed(0)
        return CellposeModel([CellposeNet()], name="random-weights"), "random weights, nbase (2,32,64,128,256)"
    model = load_model(args.model)
    return model, str(args.model or "default")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file or packaged name (default: the default model)")
    parser.add_argument("--random-weights", action="store_true", help="use an untrained default-width net")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)

    import torch

    from inference.engine.synth import synthesize
    from inference.engine.tiling import tile_starts

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    if not devices:
        print("no CUDA device here", file=sys.stderr)
        return 1

    model, label = _model(args)
    image, _ = synthesize(0, shape=(args.size, args.size), style=None, diameter=model.diam_mean)
    for device in devices:
        model.to(device)
        for augment in (False, True):
            runs = []
            model.segment(image, channels=(1, 2), diameter=model.diam_mean, augment=augment,
                          batch_size=args.batch_size)  # warm-up (numba compilation, cuDNN autotuning)
            load = os.getloadavg()[0]
            for _ in range(args.repeats):
                if device == "cuda":
                    torch.cuda.synchronize()
                result = model.segment(image, channels=(1, 2), diameter=model.diam_mean, augment=augment,
                                       batch_size=args.batch_size)
                runs.append(result.timings)
            n = len(tile_starts(max(args.size, 224), 224, 0.5, at_least=2 if augment else 1))
            print(json.dumps({
                "model": label,
                "nets": len(model.nets),
                "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                "threads": torch.get_num_threads(),
                "size": args.size,
                "augment": augment,
                "tiles": n * n,
                "repeats": args.repeats,
                "s_total": round(statistics.median(r["total"] for r in runs), 4),
                "s_network": round(statistics.median(r["network"] for r in runs), 4),
                "s_dynamics": round(statistics.median(r["dynamics"] for r in runs), 4),
                "n_masks": int(result.masks.max()),
                "load_before": round(load, 2),
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
