"""A whole H&E slide end to end in the engine: build it, segment it block-wise, export GeoJSON.

    .venv/bin/python benchmarks/bench_slide.py [--size 20000] [--diameter 0] [--block-size 2048]
        [--overlap 128] [--precision float32] [--augment] [--threads 2] [--workdir DIR] [--one-block]

Steps, each in its own worker process so that each peak resident memory (``ru_maxrss``) is its
own (the issue's target: segmenting a 20,000² slide with a peak RSS <= 4 GiB per worker):

1. ``make_slide.py``'s ``--size``² RGB H&E image (tiles of tests/data/histo.jpg) as a zarr
   array of 1024² chunks (skipped when the work folder already has it);
2. ``segment_blocks`` from that zarr to a zarr of uint32 labels (1024² chunks), the default
   model on the CPU, RGB read as grey (``channels=(0, 0)``), flips off unless ``--augment``,
   diameter estimated by ``estimate_block_diameter`` unless ``--diameter`` is given;
3. the per-cell table (`CellTable`, one chunk at a time) and the streaming GeoJSON export
   (`geojson_chunks`) to a file;
4. a check that ``shapely`` reads every feature as a valid polygon and that the features are as
   many as the cells.

``--one-block`` replaces steps 2-4 by what one block worker of the site does (the distributed
path, `inference/tiled_jobs.py`): the global normalisation and the diameter estimate as
`segment_blocks` makes them, then `segment_block` on the block whose context (what the network
reads) is largest, in a fresh worker process: its time and peak RSS, and the time the whole plan
would take at that rate per block. Stitching is not part of it.

Prints one JSON line per step (seconds, peak RSS in MiB, cells, bytes) and a summary. The slide,
labels and GeoJSON stay in ``--workdir`` (a temporary folder, removed, by default); a 20,000²
slide takes 1.1 GB, its labels about 0.3 GB and its GeoJSON about 0.5 GB.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHUNK = 1024


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- workers (each in its own process) ----------------------------------------------------------------


def make(task: dict) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_slide import write_zarr

    t = time.perf_counter()
    write_zarr(Path(task["slide"]), task["size"], seed=0)
    return {"seconds": time.perf_counter() - t}


def _model_and_slide(task: dict):
    """The default model on the CPU with the task's threads and precision, and the slide's zarr."""
    import torch
    import zarr

    from inference.engine import load_model

    torch.set_num_threads(task["threads"])
    model = load_model(device="cpu")
    model.precision = task["precision"]
    return model, zarr.open(task["slide"], mode="r")


def segment(task: dict) -> dict:
    import zarr

    from inference.engine import segment_blocks

    model, source = _model_and_slide(task)
    sink = zarr.open(task["labels"], mode="w", shape=source.shape[:2], chunks=(CHUNK, CHUNK), dtype=np.uint32)
    model_mib = peak_mib()
    t = time.perf_counter()
    done = []

    def progress(k: int, total: int) -> None:
        done.append(k)
        print(f"block {k}/{total} at {time.perf_counter() - t:.0f} s, peak {peak_mib():.0f} MiB",
              file=sys.stderr, flush=True)

    n = segment_blocks(model, source, sink, block_size=task["block_size"], overlap=task["overlap"],
                       diameter=task["diameter"] or None, channels=(0, 0), augment=task["augment"],
                       on_block=progress)
    return {"seconds": time.perf_counter() - t, "cells": n, "blocks": len(done), "peak_mib": peak_mib(),
            "model_mib": model_mib}


def plan(task: dict) -> dict:
    from inference.engine import estimate_block_diameter, global_normalisation, plan_blocks

    model, source = _model_and_slide(task)
    t = time.perf_counter()
    lo, hi = global_normalisation(source, channel_axis=2)
    diameter = task["diameter"] or estimate_block_diameter(model, source, spatial_ndim=2, normalisation=(lo, hi))
    lattice = model.net_lattice(source.shape[:2], diameter, augment=task["augment"])
    blocks = plan_blocks(source.shape[:2], block_size=task["block_size"], overlap=task["overlap"], lattice=lattice)
    largest = max(range(len(blocks)), key=lambda k: np.prod([s.stop - s.start for s in blocks[k].context]))
    return {"seconds": time.perf_counter() - t, "diameter": float(diameter), "blocks": len(blocks),
            "largest": largest, "lo": lo.tolist(), "hi": hi.tolist(), "peak_mib": peak_mib()}


def block(task: dict) -> dict:
    from inference.engine import plan_blocks, segment_block

    model, source = _model_and_slide(task)
    lattice = model.net_lattice(source.shape[:2], task["block_diameter"], augment=task["augment"])
    chosen = plan_blocks(source.shape[:2], block_size=task["block_size"], overlap=task["overlap"],
                         lattice=lattice)[task["block_index"]]
    model_mib = peak_mib()
    t = time.perf_counter()
    labels = segment_block(model, source[chosen.context], chosen, diameter=task["block_diameter"],
                           normalisation=(np.asarray(task["lo"], np.float32), np.asarray(task["hi"], np.float32)),
                           channels=(0, 0), augment=task["augment"])
    return {"seconds": time.perf_counter() - t, "cells": int(labels.max()),
            "context": [s.stop - s.start for s in chosen.context], "peak_mib": peak_mib(), "model_mib": model_mib}


def export(task: dict) -> dict:
    import zarr

    from inference.engine import CellTable, geojson_chunks

    labels = zarr.open(task["labels"], mode="r")
    t = time.perf_counter()
    table = CellTable(ndim=2)
    for y in range(0, labels.shape[0], CHUNK):
        for x in range(0, labels.shape[1], CHUNK):
            table.add(np.asarray(labels[y:y + CHUNK, x:x + CHUNK]), offset=(y, x))
    cells = table.result()
    table_s = time.perf_counter() - t
    size = 0
    with open(task["geojson"], "wb") as fh:
        for part in geojson_chunks(labels, label=cells["label"], bbox=cells["bbox"]):
            fh.write(part)
            size += len(part)
    return {"seconds": time.perf_counter() - t, "table_seconds": table_s, "cells": int(cells["label"].size),
            "bytes": size, "peak_mib": peak_mib()}


def check(task: dict) -> dict:
    import shapely
    from shapely.geometry import shape

    t = time.perf_counter()
    with open(task["geojson"], "rb") as fh:
        doc = json.load(fh)
    features = doc["features"]
    geometries = [shape(f["geometry"]) for f in features]
    valid = shapely.is_valid(np.array(geometries, dtype=object))
    labels = {f["properties"]["label"] for f in features}
    return {"seconds": time.perf_counter() - t, "features": len(features), "labels": len(labels),
            "valid": int(valid.sum()), "invalid": int((~valid).sum()), "peak_mib": peak_mib()}


WORKERS = {"make": make, "segment": segment, "plan": plan, "block": block, "export": export, "check": check}


def run(step: str, task: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", step, json.dumps(task)], stdout=subprocess.PIPE,
                          text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"step {step} failed (rc {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps({"step": step, **{k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}}),
          flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--diameter", type=float, default=0.0, help="cell diameter in pixels; 0 = estimate it")
    parser.add_argument("--block-size", type=int, default=2048)
    parser.add_argument("--overlap", type=int, default=128)
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"))
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--one-block", action="store_true", help="segment only the largest block (a block worker)")
    parser.add_argument("--worker", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        step, task = args.worker
        print(json.dumps(WORKERS[step](json.loads(task))))
        return
    if args.size < 256:
        raise SystemExit("--size must be >= 256")
    own = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench-slide-")) if own else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    task = {"size": args.size, "slide": str(work / f"slide{args.size}.zarr"), "labels": str(work / "labels.zarr"),
            "geojson": str(work / "cells.geojson"), "threads": args.threads, "precision": args.precision,
            "diameter": args.diameter, "block_size": args.block_size, "overlap": args.overlap,
            "augment": args.augment}
    try:
        if not (Path(task["slide"]) / ".zarray").exists():
            run("make", task)
        if args.one_block:
            planned = run("plan", task)
            one = run("block", {**task, "block_diameter": planned["diameter"], "block_index": planned["largest"],
                                "lo": planned["lo"], "hi": planned["hi"]})
            print(f"{args.size}² H&E, one block worker: block {planned['largest']} of {planned['blocks']} (context "
                  f"{' x '.join(map(str, one['context']))} px, diameter {planned['diameter']:.1f} px, {args.precision}, "
                  f"flips {'on' if args.augment else 'off'}): {one['cells']} cells in {one['seconds']:.0f} s, peak RSS "
                  f"{one['peak_mib']:.0f} MiB ({one['peak_mib'] / 1024:.2f} GiB; target <= 4 GiB per worker); the "
                  f"plan's {planned['blocks']} blocks at that rate: {planned['blocks'] * one['seconds'] / 3600:.1f} h "
                  f"for one worker")
            return
        seg = run("segment", task)
        exp = run("export", task)
        chk = run("check", task)
        ok = chk["invalid"] == 0 and chk["features"] >= exp["cells"] == seg["cells"] == chk["labels"]
        print(f"{args.size}² H&E: {seg['cells']} cells in {seg['seconds']:.0f} s ({seg['blocks']} blocks, "
              f"{args.precision}, flips {'on' if args.augment else 'off'}), segmentation peak RSS "
              f"{seg['peak_mib']:.0f} MiB ({seg['peak_mib'] / 1024:.2f} GiB; target <= 4 GiB); GeoJSON "
              f"{exp['bytes'] / 1e6:.0f} MB in {exp['seconds']:.0f} s, peak {exp['peak_mib']:.0f} MiB; "
              f"shapely: {chk['valid']} valid, {chk['invalid']} invalid polygons -> {'OK' if ok else 'FAILED'}")
        if not ok:
            raise SystemExit(1)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
