"""Benchmark: masks -> flows and flows -> masks, ours against cellpose 4.2.1.1.

    .venv/bin/python benchmarks/bench_flows_dynamics.py [--size 2048] [--repeats 2]

Our engine runs in this interpreter; the reference runs in a subprocess in `.venv-ref4`
(``python3 -m venv .venv-ref4 && .venv-ref4/bin/pip install torch==2.13.0 cellpose==4.2.1.1``),
with arrays passed as .npy files. Both get the same label image (~2000 touching cells of ~35 px,
`make_bench_labels.py`) and the same dP / cellprob (5 x our flows, +-5), and we print the best of
`--repeats` wall-clock times, the speed-ups, and how well the two sets of masks agree.

What is timed:
- masks -> flows: ours `flows.masks_to_flows`; cellpose 4.2.1.1 has no `dynamics.masks_to_flows`,
  its training path (`labels_to_flows`) calls `dynamics.masks_to_flows_gpu(masks, device=cpu)`.
- flows -> masks: ours `dynamics.compute_masks(niter=200, flow_threshold=0.4, min_size=15)`;
  cellpose's `dynamics.resize_and_compute_masks` with the same settings (its `compute_masks` plus
  the hole filling / min-size step that ours includes).
The numba kernels are compiled (or loaded from cache) before timing. The reference's torchvision
import is stubbed out: the PyPI torchvision wheel is a CUDA build that does not load next to the
CPU torch, and `cellpose.dynamics` needs nothing from it.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from make_bench_labels import make_labels  # noqa: E402

from inference.engine.dynamics import compute_masks  # noqa: E402
from inference.engine.flows import masks_to_flows  # noqa: E402

REFERENCE = r'''
import json, sys, time, types
import numpy as np

# cellpose.transforms imports torchvision for augmentations that dynamics never uses
tv = types.ModuleType("torchvision")
tv.transforms = types.ModuleType("torchvision.transforms")
tv.transforms.functional = types.ModuleType("torchvision.transforms.functional")
tv.transforms._functional_tensor = types.ModuleType("torchvision.transforms._functional_tensor")
sys.modules.update({"torchvision": tv, "torchvision.transforms": tv.transforms,
                    "torchvision.transforms.functional": tv.transforms.functional,
                    "torchvision.transforms._functional_tensor": tv.transforms._functional_tensor})
import torch
from cellpose import dynamics

folder, repeats, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if threads > 0:
    torch.set_num_threads(threads)
masks = np.load(folder + "/labels.npy")
dP = np.load(folder + "/dP.npy")
cellprob = np.load(folder + "/cellprob.npy")
cpu = torch.device("cpu")

def best(fn):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out

t_flows, (flows, _) = best(lambda: dynamics.masks_to_flows_gpu(masks, device=cpu))
t_masks, pred = best(lambda: dynamics.resize_and_compute_masks(
    dP, cellprob, niter=200, cellprob_threshold=0.0, flow_threshold=0.4, min_size=15,
    device=cpu))
np.save(folder + "/ref_flows.npy", flows.astype(np.float32))
np.save(folder + "/ref_masks.npy", pred.astype(np.int32))
print(json.dumps({"flows": t_flows, "masks": t_masks}))
'''


def best_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def average_precision(true, pred, iou):
    """AP = TP / (TP + FP + FN) with one-to-one matches of IoU >= iou (unique once iou > 0.5)."""
    both = (true > 0) | (pred > 0)
    pairs, inter = np.unique(np.stack([true[both], pred[both]]), axis=1, return_counts=True)
    area_t = np.bincount(true.ravel())
    area_p = np.bincount(pred.ravel())
    a, b = pairs
    ok = (a > 0) & (b > 0)
    tp = int((inter[ok] / (area_t[a[ok]] + area_p[b[ok]] - inter[ok]) > iou - 1e-12).sum())
    n_true = int((area_t[1:] > 0).sum())
    n_pred = int((area_p[1:] > 0).sum())
    return tp / (n_true + n_pred - tp)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--small", type=int, default=512, help="size for the linearity check")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ref-python", default=str(ROOT / ".venv-ref4" / "bin" / "python"))
    parser.add_argument("--ref-threads", type=int, default=0,
                        help="torch threads for the reference (0: torch's default)")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()

    labels = make_labels(args.size)
    small = make_labels(args.small)
    n_cells = len(np.unique(labels)) - 1
    print(f"labels: {args.size}x{args.size}, {n_cells} cells, "
          f"{(labels > 0).mean():.0%} foreground; linearity check at {args.small}x{args.small}")

    # warm up: compile or load the numba kernels
    warm_dP = 5 * masks_to_flows(small)
    compute_masks(warm_dP, np.where(small > 0, 5.0, -5.0))

    t_small, _ = best_time(lambda: masks_to_flows(small), max(args.repeats, 3))
    t_flows, flows = best_time(lambda: masks_to_flows(labels), args.repeats)
    dP = 5 * flows
    cellprob = np.where(labels > 0, 5.0, -5.0).astype(np.float32)
    t_masks, pred = best_time(lambda: compute_masks(dP, cellprob, niter=200, flow_threshold=0.4,
                                                     min_size=15), args.repeats)
    scale = (args.size / args.small) ** 2
    print(f"ours  masks_to_flows  {args.size}^2: {t_flows:7.3f} s   {args.small}^2: "
          f"{t_small:7.4f} s   ratio {t_flows / t_small:5.1f} for {scale:.0f}x the pixels")
    print(f"ours  compute_masks   {args.size}^2: {t_masks:7.3f} s   "
          f"(vs truth: AP@0.9 {average_precision(labels, pred, 0.9):.4f})")

    result = {"size": args.size, "cells": n_cells, "ours_flows_s": t_flows,
              "ours_flows_small_s": t_small, "ours_masks_s": t_masks}
    try:
        import torch

        if torch.cuda.is_available():
            compute_masks(warm_dP, np.where(small > 0, 5.0, -5.0), device="cuda")
            t_gpu, pred_gpu = best_time(
                lambda: compute_masks(dP, cellprob, niter=200, flow_threshold=0.4, device="cuda"),
                args.repeats)
            print(f"ours  compute_masks (flow following on CUDA): {t_gpu:7.3f} s, "
                  f"same masks as numba: {np.array_equal(pred_gpu, pred)}")
            result["ours_masks_cuda_s"] = t_gpu
    except ImportError:
        pass

    ref = Path(args.ref_python)
    if args.no_reference or not ref.exists():
        print(f"reference skipped ({ref} not found)" if not args.no_reference else "")
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as folder:
        consecutive = np.searchsorted(np.unique(labels), labels).astype(np.int32)
        np.save(f"{folder}/labels.npy", consecutive)
        np.save(f"{folder}/dP.npy", dP)
        np.save(f"{folder}/cellprob.npy", cellprob)
        run = subprocess.run([str(ref), "-c", REFERENCE, folder, str(args.repeats),
                              str(args.ref_threads)],
                             capture_output=True, text=True, check=False)
        if run.returncode != 0:
            sys.exit(f"reference failed:\n{run.stderr}")
        times = json.loads(run.stdout.strip().splitlines()[-1])
        ref_flows = np.load(f"{folder}/ref_flows.npy")
        ref_masks = np.load(f"{folder}/ref_masks.npy")

    inside = labels > 0
    cosine = (ref_flows[:, inside] * flows[:, inside]).sum(axis=0)
    ap_ref = average_precision(ref_masks, pred, 0.9)
    ap_ref5 = average_precision(ref_masks, pred, 0.51)
    print(f"cellpose 4.2.1.1 masks_to_flows_gpu(cpu): {times['flows']:7.3f} s   "
          f"speed-up {times['flows'] / t_flows:6.1f}x")
    print(f"cellpose 4.2.1.1 resize_and_compute_masks: {times['masks']:7.3f} s   "
          f"speed-up {times['masks'] / t_masks:6.1f}x")
    print(f"agreement: ours vs cellpose masks AP@0.51 {ap_ref5:.4f}, AP@0.9 {ap_ref:.4f} "
          f"; cellpose vs truth AP@0.9 "
          f"{average_precision(labels, ref_masks, 0.9):.4f}; flow directions: mean cosine "
          f"{cosine.mean():.3f} (cellpose centres on the mean and runs one global N)")
    result.update(ref_flows_s=times["flows"], ref_masks_s=times["masks"],
                  speedup_flows=times["flows"] / t_flows, speedup_masks=times["masks"] / t_masks,
                  ap09_vs_reference=ap_ref)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
