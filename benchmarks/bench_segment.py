"""The whole segmentation, ours against Cellpose 3.1.1.2's ``CellposeModel.eval``, same weights.

    .venv/bin/python benchmarks/bench_segment.py [--cases paper img2d auto 4096 img3d] [--repeats 3]

Cases (every one: flip augmentation on, tiles overlapping by half, 224-px tiles, 8 tiles per batch,
flow threshold 0.4, cellprob threshold 0, min size 15, the same ``niter`` on both sides, masks
computed on both sides (dynamics included), 2 torch threads):

- ``paper``: tests/data/img2d.tif (512 x 512 nuclei) at diameter 24 px, at the paper's width
  (nbase 2,32,64,128,256): a net of that width holding the default model's weights in its first
  channels and zeros in the others (zero BatchNorm scales), so both sides do the paper width's
  work and find the same, real cells. Exported with ``CellposeNet.to_cellpose_state_dict`` into
  Cellpose's ``CPnet`` inside its ``CellposeModel``; ours reads the same file.
- ``img2d``: the same image with the default model's own width (nbase 2,16,32,64,128), ours only:
  Cellpose 3.1.1.2's ``run_net`` allocates 256 style entries, so its ``eval`` runs no net whose
  last width is not 256.
- ``auto``: ours only, the default model file as shipped, automatic diameter: the time from the
  file on disk (``io.imread``) to masks, with the breakdown (I/O, normalize, size, network,
  dynamics).
- ``4096``: a 4096 x 4096 image (img2d.tif tiled 8 x 8) at diameter 24 px, paper width: time and
  peak memory.
- ``img3d``: tests/data/img3d.tif (31 x 61 x 57) in 3D at diameter 15 px, paper width: time and
  peak memory.

Ours runs at float32 (``precision="float32"``, as the reference) and at the model's default
``precision="auto"`` (bfloat16 where the CPU has it natively); the report says which. Each side
runs in its own worker process (the reference in ``--ref-python``, a venv with cellpose==3.1.1.2
and numpy<2: see benchmarks/run_all.sh), warmed up on a crop, then the parent asks the workers
for one timed run at a time, in turns, so that load from other processes hits all of them alike.
Peak memory is the worker's peak resident set (``ru_maxrss``) and its increase over the resident
set after the warm-up. Prints the medians, the ratio of the medians (reference / ours) and the
agreement of the masks (AP at IoU 0.5 of ours against the reference's, and of both against the
ground truth where there is one), and the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DEFAULT_NBASE = (2, 16, 32, 64, 128)
PAPER_NBASE = (2, 32, 64, 128, 256)
SETTINGS = {"augment": True, "tile_overlap": 0.5, "batch_size": 8, "flow_threshold": 0.4,
            "cellprob_threshold": 0.0, "min_size": 15}
CASES = {
    # name: (image file in the work dir, weights, diameter, 3D, ground truth, sides)
    "paper": ("img2d.npy", "paper.pth", 24.0, False, "mask2d.npy", ("ref", "fp32", "auto")),
    "img2d": ("img2d.npy", "default.pth", 24.0, False, "mask2d.npy", ("fp32", "auto")),
    "auto": (None, None, None, False, "mask2d.npy", ("auto",)),
    "4096": ("big.npy", "paper.pth", 24.0, False, None, ("ref", "fp32", "auto")),
    "img3d": ("img3d.npy", "paper.pth", 15.0, True, "mask3d.npy", ("ref", "fp32", "auto")),
}


def _niter(diameter: float) -> int:
    return max(1, int(round(200 * diameter / 30.0)))


def _rss_mib() -> float:
    """This process's current resident set (MiB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- workers -------------------------------------------------------------------------------------

def _reference_runner(case: str, workdir: Path):
    """A function running Cellpose 3.1.1.2's eval once on the case's image (in the ref venv)."""
    import torch
    from cellpose import models
    from cellpose.resnet_torch import CPnet

    image_file, weights, diameter, do_3d, _, _ = CASES[case]
    state = torch.load(workdir / weights, map_location="cpu", weights_only=True)
    nbase = [2] + [int(state[f"downsample.down.res_down_{n}.conv.conv_0.2.weight"].shape[0]) for n in range(4)]
    model = models.CellposeModel(gpu=False, pretrained_model=None, model_type=None, diam_mean=30.0)  # no weights read
    model.net = CPnet(nbase, 3, 3, mkldnn=model.mkldnn, diam_mean=30.0)
    model.net.load_state_dict(state)
    model.net.eval()
    model.net_ortho = None  # eval's 3D path reads it; the constructor sets it only when it loads a file
    model.diam_labels = 30.0
    image = np.load(workdir / image_file)

    def run(img):
        masks = model.eval(img, channels=[0, 0], diameter=diameter, do_3D=do_3d, niter=_niter(diameter),
                           bsize=224, resample=True, **SETTINGS)[0]
        return np.asarray(masks)

    return image, run


def _our_runner(case: str, workdir: Path, precision: str):
    sys.path.insert(0, str(ROOT))
    from inference.engine.io import imread
    from inference.engine.model import load_model

    image_file, weights, diameter, do_3d, _, _ = CASES[case]
    if case == "auto":  # the shipped model file, from the image file on disk
        model = load_model(device="cpu")
        model.precision = precision

        def run_auto(path):
            t0 = time.perf_counter()
            image = imread(path)
            io = time.perf_counter() - t0
            result = model.segment(image, diameter=None, augment=True, tile_overlap=0.5)
            return result.masks, {"io": io, **result.timings, "total": time.perf_counter() - t0,
                                  "diameter": result.diameter}

        return DATA / "img2d.tif", run_auto
    model = load_model(workdir / weights, device="cpu")
    model.precision = precision
    image = np.load(workdir / image_file)

    def run(img):
        result = model.segment(img, diameter=diameter, do_3d=do_3d, niter=_niter(diameter), **SETTINGS)
        return result.masks, {k: v for k, v in result.timings.items()}

    return image, run


def _worker(role: str, case: str, workdir: Path) -> None:
    """Warm up, then answer 'run' (one timed run: a JSON line), 'peak', 'save', 'quit'."""
    import torch

    torch.set_num_threads(2)
    if role == "ref":
        image, run = _reference_runner(case, workdir)
    else:
        image, run = _our_runner(case, workdir, "float32" if role == "fp32" else "auto")
    if isinstance(image, Path):
        run(image)  # the auto case: warm up on the file itself (it is small)
    else:
        run(image[:4, :96, :96] if image.ndim == 3 else image[:256, :256])  # numba, folded weights
    baseline = _rss_mib()
    print("ready", flush=True)
    masks = None
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            start = time.perf_counter()
            out = run(image)
            seconds = time.perf_counter() - start
            masks, extra = (out, {}) if role == "ref" else out
            print(json.dumps({"s": seconds, **extra}), flush=True)
        elif command == "peak":
            print(json.dumps({"peak_mib": _peak_mib(), "after_warmup_mib": baseline}), flush=True)
        elif command == "save":
            np.save(workdir / f"masks-{case}-{role}.npy", np.asarray(masks, dtype=np.int32))
            print("{}", flush=True)
        else:
            return


class _Worker:
    def __init__(self, python: str, role: str, case: str, workdir: Path):
        self.role = role
        self.proc = subprocess.Popen(
            [python, __file__, "--worker", role, "--case", case, "--workdir", str(workdir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        ready = self.proc.stdout.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"the {role} worker for {case} did not start (see its stderr above)")

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.role} worker died (see its stderr above)")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


# ---- the parent ----------------------------------------------------------------------------------

def _prepare(workdir: Path) -> None:
    """Images, labels and both Cellpose-format weight files, written with this venv's engine."""
    sys.path.insert(0, str(ROOT))
    import torch

    from inference.engine.io import imread, read_labels
    from inference.engine.model import load_model
    from inference.engine.net import CellposeNet

    img2d = imread(DATA / "img2d.tif")
    np.save(workdir / "img2d.npy", img2d)
    np.save(workdir / "big.npy", np.tile(img2d, (8, 8)))
    np.save(workdir / "img3d.npy", imread(DATA / "img3d.tif"))
    np.save(workdir / "mask2d.npy", read_labels(DATA / "mask2d.tif"))
    np.save(workdir / "mask3d.npy", read_labels(DATA / "mask3d.tif"))
    net = load_model(device="cpu").nets[0]
    torch.save(net.to_cellpose_state_dict(), workdir / "default.pth")
    torch.save(_widened(net, PAPER_NBASE, CellposeNet).to_cellpose_state_dict(), workdir / "paper.pth")


def _widened(net, nbase, net_class):
    """A net of width `nbase` computing what `net` computes: its weights in the first channels of
    every tensor, zeros elsewhere (a zero BatchNorm scale and shift, so extra channels stay 0)."""
    import torch

    wide = net_class(nbase, net.nout, net.sz)
    small = net.state_dict()
    state = {}
    for key, value in wide.state_dict().items():
        target = torch.zeros_like(value)
        if key.endswith("running_var"):
            target.fill_(1.0)
        source = small[key]
        target[tuple(slice(0, n) for n in source.shape)] = source
        state[key] = target
    wide.load_state_dict(state)
    return wide.eval()


def _agreement(masks, truth_file: Path | None, workdir: Path, case: str, roles) -> dict:
    sys.path.insert(0, str(ROOT))
    from inference.engine.metrics import average_precision

    out = {}
    ref = masks.get("ref")
    for role in roles:
        if role != "ref" and ref is not None:
            out[f"ap50_{role}_vs_ref"] = round(float(average_precision(ref, masks[role], thresholds=0.5)[0][0, 0]), 3)
        if truth_file is not None:
            truth = np.load(truth_file)
            out[f"ap50_{role}_vs_truth"] = round(float(average_precision(truth, masks[role], thresholds=0.5)[0][0, 0]), 3)
    return out


def run_case(case: str, workdir: Path, repeats: int, ref_python: str) -> dict:
    _, _, diameter, do_3d, truth, roles = CASES[case]
    pythons = {"ref": ref_python, "fp32": sys.executable, "auto": sys.executable}
    workers = [_Worker(pythons[role], role, case, workdir) for role in roles]
    times = {w.role: [] for w in workers}
    extras = {w.role: [] for w in workers}
    try:
        for _ in range(repeats):
            for w in workers:
                answer = w.ask("run")
                times[w.role].append(answer.pop("s"))
                extras[w.role].append(answer)
        peaks = {w.role: w.ask("peak") for w in workers}
        for w in workers:
            w.ask("save")
    finally:
        for w in workers:
            w.close()
    masks = {role: np.load(workdir / f"masks-{case}-{role}.npy") for role in roles}
    median = {role: statistics.median(t) for role, t in times.items()}
    report = {"case": case, "repeats": repeats, "diameter": diameter, "do_3d": do_3d,
              "shape": list(masks[roles[0]].shape)}
    for role in roles:
        report[f"s_{role}"] = round(median[role], 3)
        report[f"s_{role}_all"] = [round(t, 3) for t in times[role]]
        report[f"peak_mib_{role}"] = round(peaks[role]["peak_mib"])
        report[f"added_mib_{role}"] = round(peaks[role]["peak_mib"] - peaks[role]["after_warmup_mib"])
        report[f"n_masks_{role}"] = int(masks[role].max())
        if extras[role] and extras[role][0]:
            keys = extras[role][0].keys()
            report[f"breakdown_{role}"] = {k: round(statistics.median(e[k] for e in extras[role]), 3) for k in keys}
        if role != "ref" and "ref" in median:
            report[f"ratio_ref_over_{role}"] = round(median["ref"] / median[role], 2)
    report.update(_agreement(masks, workdir / truth if truth else None, workdir, case, roles))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (the 4096 case: 1)")
    parser.add_argument("--ref-python", default=str(ROOT / ".venv-ref3" / "bin" / "python"))
    parser.add_argument("--worker", choices=["ref", "fp32", "auto"], help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.case, args.workdir)
        return 0
    if any("ref" in CASES[c][5] for c in args.cases) and not Path(args.ref_python).exists():
        print(f"no reference interpreter at {args.ref_python}: make it as benchmarks/run_all.sh does", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        _prepare(workdir)
        for case in args.cases:
            load = os.getloadavg()[0]
            report = run_case(case, workdir, 1 if case == "4096" else args.repeats, args.ref_python)
            report["load_before"], report["load_after"] = round(load, 2), round(os.getloadavg()[0], 2)
            print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
