"""Training throughput and peak memory of the trainer's inner step, for several network widths.

One step = augment a batch of random 224 x 224 crops from synthetic images (the trainer's own
sampling code), forward, loss, backward, SGD step. Every width runs in its own subprocess so that
the peak resident memory (``resource.getrusage(...).ru_maxrss``) is that width's alone.

    python benchmarks/bench_train.py                     # the three widths, 2 threads, batch 8
    python benchmarks/bench_train.py --threads 2 --iters 5 --nbase 2,32,64,128,256
    python benchmarks/bench_train.py --precision bf16    # bfloat16 autocast + channels-last

``--device cuda`` times the same step on a GPU (the crops are still made on one CPU core).

Prints one JSON line per width: nbase, params, threads, batch_size, bsize, s_per_step (median),
samples_per_s (from the median step), best_samples_per_s (from the fastest step),
augment_s_per_step, peak_rss_mib, precision, load_before (1-minute load average when it started: other
processes on the machine slow it down, so compare runs taken at a similar load).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WIDTHS = ("2,16,32,64,128", "2,24,48,96,192", "2,32,64,128,256")


def one(args) -> dict:
    import numpy as np
    import torch

    from inference.engine import train as tr
    from inference.engine import train_runtime
    from inference.engine.net import CellposeNet

    torch.set_num_threads(args.threads)
    nbase = tuple(int(n) for n in args.nbase[0].split(","))
    config = tr.TrainConfig(nbase=nbase, batch_size=args.batch_size, bsize=args.bsize)
    images, labels = tr.synthetic_dataset(4, seed=0, shape=(256, 256))
    data = tr.prepare_training_set(images, labels)
    torch.manual_seed(0)
    device = torch.device(args.device)
    net = CellposeNet(nbase=nbase).to(device)
    mixed = args.precision == "bf16"
    if mixed:  # what TrainConfig(precision="bf16", channels_last=True) does
        net = net.to(memory_format=torch.channels_last)
    amp = torch.bfloat16 if mixed else None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
    rng = np.random.default_rng(0)
    idx = np.arange(args.batch_size) % len(data)
    t_aug, t_step = [], []
    for it in range(args.warmup + args.iters):
        t0 = time.perf_counter()
        x, y = tr._batch(data, idx, rng, config, 30.0, config.jitter())
        x, y = x.to(device), y.to(device)
        if mixed:
            x = x.contiguous(memory_format=torch.channels_last)
        t1 = time.perf_counter()
        with train_runtime.autocast(device, amp):
            out = net(x)[0]
        loss = tr.training_loss(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        t2 = time.perf_counter()
        if it >= args.warmup:
            t_aug.append(t1 - t0)
            t_step.append(t2 - t0)
    s, best = float(np.median(t_step)), min(t_step)
    return {"nbase": list(nbase), "params": sum(p.numel() for p in net.parameters()),
            "threads": args.threads, "batch_size": args.batch_size, "bsize": args.bsize,
            "s_per_step": round(s, 3), "samples_per_s": round(args.batch_size / s, 2),
            "best_samples_per_s": round(args.batch_size / best, 2),
            "augment_s_per_step": round(float(np.median(t_aug)), 4),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_gpu_mib": (round(torch.cuda.max_memory_allocated() / 2**20, 1)
                             if device.type == "cuda" else None),
            "device": str(device), "precision": args.precision,
            "load_before": args.load}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nbase", action="append", help="widths, e.g. 2,32,64,128,256 (repeatable)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--bsize", type=int, default=224)
    p.add_argument("--iters", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--load", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one(args)), flush=True)
        return 0
    for nbase in args.nbase or WIDTHS:
        cmd = [sys.executable, __file__, "--one", "--nbase", nbase, "--threads", str(args.threads),
               "--batch-size", str(args.batch_size), "--bsize", str(args.bsize),
               "--iters", str(args.iters), "--warmup", str(args.warmup), "--device", args.device,
               "--precision", args.precision,
               "--load", str(round(os.getloadavg()[0], 2))]
        subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
