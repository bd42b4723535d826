"""Command line for the engine: ``python -m inference.engine segment|eval|train|train-default``.

    segment PATH... [--model M] [--diameter D] [--chan N] [--chan2 N] [--do-3d] [--anisotropy A]
                    [--stitch-threshold T]
                    [--no-augment] [--cellprob-threshold T] [--flow-threshold T] [--out DIR]
                    [--save png,tif,npy,roi,txt,geojson,coco,csv,flows]
    eval --pred DIR --labels DIR [--thresholds 0.5,0.75,0.9]
    train ..., train-default ...   (registered by inference.engine.train_cli)

Exit status: 0 when everything worked, 1 when some file could not be processed (each one is
named on stderr), 2 for usage errors or a model that cannot be loaded. Heavy modules (torch,
OpenCV, SciPy) are imported inside the commands so that ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
LABEL_SUFFIXES = (".tif", ".tiff", ".png")
_MASK_MARKERS = ("_cp_masks", "_masks")
# Stems of files this CLI writes; folders are scanned without them so a re-run does not
# segment its own outputs.
_OUTPUT_MARKERS = ("_masks", "_cp_masks", "_flows", "_seg", "_outlines", "_cells", "_coco",
                   "_rois")
_TRAIN_CLI = "inference.engine.train_cli"


def _load_model(name_or_path):
    """The one place the CLI gets a model (tests replace it with a fake)."""
    from inference.engine.model import load_model

    return load_model(name_or_path)


# ---------------------------------------------------------------------------------------------
# argument types

def _formats(text: str) -> tuple[str, ...]:
    from inference.engine.export import FORMATS

    items = tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))
    bad = [s for s in items if s not in FORMATS]
    if not items or bad:
        raise argparse.ArgumentTypeError(
            f"unknown format(s) {', '.join(bad) or '(none given)'}; choose from "
            f"{','.join(FORMATS)}")
    return items


def _thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}")
    if not values or any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"IoU thresholds must lie in (0, 1], got {text!r}")
    return values


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _iou(text: str) -> float:
    values = _thresholds(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"one IoU threshold, got {text!r}")
    return values[0]


def _channel(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"channels are numbered from 0, got {text}")
    return value


# ---------------------------------------------------------------------------------------------
# helpers

def _err(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def _stem_without_marker(path: Path) -> str:
    name = path.name
    for ext in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


def _is_output(path: Path) -> bool:
    return _stem_without_marker(path).endswith(_OUTPUT_MARKERS)


def _collect_images(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Files named directly are taken whatever their extension (the content decides);
    folders give their image files (not recursively), minus this CLI's outputs."""
    files, problems, seen = [], [], set()
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = [p for p in sorted(path.iterdir())
                     if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not _is_output(p)]
            if not found:
                problems.append(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) "
                                "in this folder")
        elif path.exists():
            found = [path]
        else:
            problems.append(f"{path}: file not found")
            continue
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                files.append(p)
    return files, problems


# ---------------------------------------------------------------------------------------------
# segment

def _cmd_segment(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from inference.engine import export
    from inference.engine.io import imread

    files, problems = _collect_images(args.paths)
    for message in problems:
        _err(f"error: {message}")
    bases: dict[Path, Path] = {}
    jobs = []
    for path in files:
        out_dir = Path(args.out) if args.out else path.parent
        base = out_dir / export.safe_stem(path.name)
        if base in bases:
            _err(f"error: {path}: its outputs would overwrite those of {bases[base]} "
                 f"(both are named {base.name}); rename one or segment them separately")
            problems.append(str(path))
            continue
        bases[base] = path
        jobs.append((path, base))
    if not jobs:
        _err("error: nothing to segment")
        return 1

    try:
        model = _load_model(args.model)
    except (OSError, ValueError) as exc:
        _err(f"error: cannot load model {args.model or '(default)'}: {exc}")
        return 2

    channels = (args.chan, args.chan2)
    failed = 0
    for path, base in tqdm(jobs, desc="segment", unit="image", file=sys.stderr,
                           disable=None):
        try:
            image = imread(path)
            result = model.segment(
                image, channels=channels, diameter=args.diameter or None,
                augment=not args.no_augment, do_3d=args.do_3d, anisotropy=args.anisotropy,
                stitch_threshold=args.stitch_threshold, cellprob_threshold=args.cellprob_threshold,
                flow_threshold=args.flow_threshold)
            masks = np.asarray(result.masks)
            formats = args.save or (("tif",) if masks.ndim == 3 else ("png",))
            flows = None
            if getattr(result, "dP", None) is not None and result.cellprob is not None:
                flows = (result.dP, result.cellprob)
            written = export.save_masks(
                base, masks, formats=formats, image=image, flows=flows,
                diameter=result.diameter, channels=channels, filename=str(path))
        except ValueError as exc:  # ImageReadError included; its message names the file
            failed += 1
            message = str(exc)
            _err(f"error: {message if str(path) in message else f'{path}: {message}'}")
            continue
        n_cells = int(np.count_nonzero(np.unique(masks)))
        size = "" if result.diameter is None else f", diameter {float(result.diameter):.1f} px"
        tqdm.write(f"{path}: {n_cells} cells{size} -> {', '.join(p.name for p in written)}",
                   file=sys.stdout)
    done = len(jobs) - failed
    total = len(jobs) + len(problems)
    if failed or problems:
        _err(f"segmented {done} of {total} inputs; {total - done} failed (see above)")
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# eval

def _pair_key(path: Path) -> str:
    stem = _stem_without_marker(path)
    for marker in _MASK_MARKERS:
        if stem.endswith(marker):
            return stem[: -len(marker)]
    return stem


def _label_files(folder: Path, role: str) -> tuple[dict[str, Path], list[str]]:
    """Label files of a folder by pairing key. A folder that holds any ``*_masks`` file is
    taken to be laid out like Cellpose's (images next to their masks): only the ``*_masks``
    files count."""
    candidates = [p for p in sorted(folder.iterdir())
                  if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES]
    marked = [p for p in candidates if _stem_without_marker(p).endswith(_MASK_MARKERS)]
    found: dict[str, Path] = {}
    problems = []
    for p in marked or candidates:
        key = _pair_key(p)
        if key in found:
            problems.append(f"{role} {p} and {found[key]} both match image {key!r}; "
                            f"ignoring {p}")
            continue
        found[key] = p
    return found, problems


def _cmd_eval(args) -> int:
    import numpy as np

    from inference.engine.io import ImageReadError, read_labels
    from inference.engine.metrics import average_precision

    folders = {"--pred": Path(args.pred), "--labels": Path(args.labels)}
    for flag, folder in folders.items():
        if not folder.is_dir():
            _err(f"error: {flag} {folder}: not a folder")
            return 2
    preds, problems = _label_files(folders["--pred"], "predictions")
    labels, more = _label_files(folders["--labels"], "labels")
    problems += more
    for key in sorted(preds.keys() - labels.keys()):
        problems.append(f"no label file for prediction {preds[key]}")
    for key in sorted(labels.keys() - preds.keys()):
        problems.append(f"no prediction for label file {labels[key]}")

    names, rows = [], []
    for key in sorted(preds.keys() & labels.keys()):
        try:
            true = read_labels(labels[key])
            pred = read_labels(preds[key])
            if true.shape != pred.shape:
                raise ValueError(f"{preds[key]} has shape {pred.shape} but {labels[key]} has "
                                 f"shape {true.shape}")
        except (ImageReadError, ValueError) as exc:
            problems.append(str(exc))
            continue
        ap, tp, fp, fn = average_precision(true, pred, thresholds=args.thresholds)
        names.append(key)
        rows.append((int(tp[0, 0] + fn[0, 0]), int(tp[0, 0] + fp[0, 0]), ap[0]))
    for message in problems:
        _err(f"error: {message}")
    if not rows:
        _err("error: no prediction could be paired with a label file "
             "(files are paired by name; a trailing _masks is ignored)")
        return 1

    width = max(len("image"), *(len(n) for n in names))
    heads = [f"AP@{t:.2f}" for t in args.thresholds]
    print(f"{'image':<{width}}  {'n_true':>6}  {'n_pred':>6}  " + "  ".join(heads))
    for name, (n_true, n_pred, ap) in zip(names, rows):
        cells = "  ".join(f"{v:>{len(h)}.3f}" for v, h in zip(ap, heads))
        print(f"{name:<{width}}  {n_true:>6}  {n_pred:>6}  {cells}")
    mean = np.mean([r[2] for r in rows], axis=0)
    cells = "  ".join(f"{v:>{len(h)}.3f}" for v, h in zip(mean, heads))
    print(f"{'mean':<{width}}  {'':>6}  {'':>6}  {cells}")
    return 1 if problems else 0


# ---------------------------------------------------------------------------------------------
# parser

def _add_train_parsers(subparsers) -> None:
    """Training commands come from train_cli; an import error there is a real error."""
    if importlib.util.find_spec(_TRAIN_CLI) is not None:
        importlib.import_module(_TRAIN_CLI).add_parsers(subparsers)
        return

    def unavailable(args) -> int:
        _err(f"error: '{args.command}' needs {_TRAIN_CLI}, which this installation lacks")
        return 2

    for name in ("train", "train-default"):
        sub = subparsers.add_parser(name, help="(unavailable: training module missing)")
        sub.set_defaults(func=unavailable, ignores_extra_arguments=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inference.engine",
        description="Cellpose Web engine: segment cells, evaluate masks, train models.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    seg = subparsers.add_parser(
        "segment", help="segment images with a model",
        description="Segment images and write their masks. Files are recognised by content; "
                    "folders are scanned (not recursively) for .tif/.tiff/.png/.jpg/.jpeg. "
                    "Outputs are named <stem>_masks.png, <stem>_seg.npy, ...")
    seg.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    seg.add_argument("--model", default=None,
                     help="model name or file (default: the embedded default model)")
    seg.add_argument("--diameter", type=_non_negative, default=0.0,
                     help="cell diameter in pixels; 0 = estimate it (default 0)")
    seg.add_argument("--chan", type=_channel, default=0,
                     help="channel to segment: 0 = grey, 1 = red, 2 = green, 3 = blue")
    seg.add_argument("--chan2", type=_channel, default=0,
                     help="optional nuclear channel: 0 = none, 1 = red, 2 = green, 3 = blue")
    seg.add_argument("--do-3d", action="store_true", help="segment Z-stacks in 3D")
    seg.add_argument("--anisotropy", type=_positive, default=None,
                     help="Z spacing / XY spacing of 3D stacks")
    seg.add_argument("--stitch-threshold", type=_iou, default=None,
                     help="segment Z-stacks plane by plane in 2D and join masks of successive "
                          "planes whose IoU reaches this (e.g. 0.25)")
    seg.add_argument("--no-augment", action="store_true",
                     help="skip flip augmentation (faster, slightly less accurate)")
    seg.add_argument("--cellprob-threshold", type=float, default=0.0,
                     help="cell probability logit above which pixels are cells (default 0)")
    seg.add_argument("--flow-threshold", type=float, default=0.4,
                     help="largest flow error of a kept mask (default 0.4; 0 = keep all)")
    seg.add_argument("--out", default=None,
                     help="output folder (default: next to each image)")
    seg.add_argument("--save", type=_formats, default=None,
                     help="comma-separated formats: png,tif,npy,roi,txt,geojson,coco,csv,flows "
                          "(default png, or tif for 3D masks)")
    seg.set_defaults(func=_cmd_segment)

    ev = subparsers.add_parser(
        "eval", help="average precision of predicted masks against labels",
        description="Pair prediction and label files (.tif/.tiff/.png) by name, ignoring a "
                    "trailing _masks or _cp_masks, and print the average precision of each "
                    "pair and the mean. In a folder holding any *_masks file only the *_masks "
                    "files count (Cellpose's layout, images beside their masks). Exits with 1 "
                    "when some file is unpaired or unreadable.")
    ev.add_argument("--pred", required=True, help="folder of predicted label images")
    ev.add_argument("--labels", required=True, help="folder of ground-truth label images")
    ev.add_argument("--thresholds", type=_thresholds, default=(0.5, 0.75, 0.9),
                    help="IoU thresholds (default 0.5,0.75,0.9)")
    ev.set_defaults(func=_cmd_eval)

    _add_train_parsers(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "ignores_extra_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
