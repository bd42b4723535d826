"""Command-line training: ``python -m inference.engine train|train-default``.

``__main__.py`` calls ``add_parsers(subparsers)`` and then ``args.func(args)``, which returns the
exit status: 0 on success, 2 for bad input (a missing label file, mismatched shapes, an unknown
base model, a bad option), with a one-line message on stderr.

``train-default`` is the recipe of the embedded default model: synthetic images from ``synth.py``
with a fixed seed, the constants in ``DEFAULT_RECIPE``, in two stages (the second continues from
the first on images with sister nuclei, then fits the size model). Its budget is about 90 minutes on a
2-core CPU (see the throughput notes next to the recipe); on a GPU it takes a few minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["DEFAULT_RECIPE", "add_parsers", "default_recipe_config"]

DEFAULT_OUT = Path(__file__).resolve().parent / "weights" / "default.pt"

# The embedded default model. Everything that decides its weights is here, so the lead can tune
# it in one place. Budget: <= ~90 minutes on a quiet 2-core CPU. Measured training throughput at
# 224 x 224, batch 8, torch threads = 2 (benchmarks/bench_train.py) on this project's AMD EPYC:
# nbase (2,16,32,64,128) 4.2 samples/s in fp32, 9.6 with bf16 + channels-last (precision "auto");
# the paper's (2,32,64,128,256) 3.5 with bf16. So: 520 epochs x 80 samples = 41,600 samples ~ 70
# min with validation (8 images every 50 epochs), plus 30 s of data synthesis and flows and ~6 min
# for the size model (1500 images x 1 rescale, crops <= 256 px): 76.6 min measured.
# Without bfloat16 the same recipe takes ~2.8 h there, ~4.3 h on an AVX2-only EPYC (2.6-2.9
# samples/s; resumable: checkpoints every 5 epochs). On an H100 it trains at ~160 samples/s;
# there the paper's width is as fast (--epochs for longer runs).
DEFAULT_RECIPE = {
    "synth_seed": 20240601,     # training images: synth.make_dataset(n_images, synth_seed)
    "val_seed": 20240602,       # held-out synthetic validation images
    "n_images": 1500,
    "n_val": 8,
    "shape": (256, 256),
    "nbase": (2, 16, 32, 64, 128),
    "n_epochs": 520,
    "n_samples_per_epoch": 80,
    "batch_size": 8,
    "learning_rate": 0.2,
    "warmup_epochs": 10,
    "anneal_fraction": 0.2,     # the last 104 epochs: halved every 20 (0.1 ... 0.003125)
    "anneal_every": 20,
    "bsize": 224,
    "nucleus_dropout": 0.25,
    "jitter_prob": 0.5,
    "val_every": 50,
    "checkpoint_every": 5,
    "size_n_rescales": 1,
    "size_max_side": 256,
    "seed": 0,                  # network initialisation and sampling
    "precision": "auto",        # bf16 autocast (and channels-last) where the hardware has bfloat16
    # Stage 2 continues from stage 1's network on the same images drawn with sister nuclei (half the
    # nucleus layouts get nuclei pressed against a similar one; docs/synth.md): 100 epochs, warm-up
    # to 0.05 over 5, halved every 10 over the last 40 (0.025 ... 0.003125). 8,000 samples: ~13 min
    # with bf16, ~50 min in fp32 on an AVX2-only EPYC. Then the size model is fitted.
    "stage2": {
        "sister_nuclei": True,
        "n_epochs": 100,
        "learning_rate": 0.05,
        "warmup_epochs": 5,
        "anneal_fraction": 0.4,
        "anneal_every": 10,
        "val_every": 50,
    },
}


def add_parsers(subparsers) -> None:
    """Register ``train`` and ``train-default`` on an argparse sub-parser collection."""
    p = subparsers.add_parser(
        "train", help="train or fine-tune a model on image / label pairs",
        description="Train a Cellpose network on pairs of images and label images (NAME.tif with "
                    "NAME.tif, NAME_masks.tif or NAME_labels.tif), fit its size model, save it.")
    p.add_argument("--images", required=True, type=Path, help="folder of images")
    p.add_argument("--labels", required=True, type=Path,
                   help="folder of label images (may be the images folder)")
    p.add_argument("--out", required=True, type=Path, help="model file to write (.pt)")
    p.add_argument("--base", help="model to fine-tune (name or path); its width is kept")
    p.add_argument("--epochs", type=_positive_int, default=500)
    p.add_argument("--lr", type=_positive_float, default=0.2, help="learning rate (0.2)")
    p.add_argument("--batch-size", type=_positive_int, default=8)
    p.add_argument("--nbase", type=_nbase, default=None,
                   help="network widths, comma-separated (default 2,32,64,128,256; "
                        "fine-tuning keeps the base model's)")
    p.add_argument("--chan", type=_channel, default=0,
                   help="cytoplasm channel: 0 = grayscale, 1/2/3 = R/G/B")
    p.add_argument("--chan2", type=_channel, default=0,
                   help="nucleus channel: 0 = none, 1/2/3 = R/G/B")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=_fraction, default=0.0,
                   help="fraction of the pairs held out for validation (0)")
    p.add_argument("--val-every", type=_positive_int, default=10)
    p.add_argument("--samples-per-epoch", type=_positive_int, default=None,
                   help="training samples per epoch (default: every image once)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=10)
    p.add_argument("--resume", type=Path, help="checkpoint to continue from")
    p.add_argument("--log", type=Path, help="JSON-lines log, one record per epoch")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    p.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="auto",
                   help="fp32, bf16 (mixed precision) or auto (default: bf16 where the CPU or "
                        "GPU does bfloat16 natively, else fp32)")
    p.set_defaults(func=run_train)

    d = subparsers.add_parser(
        "train-default", help="train the embedded default model from synthetic data",
        description="Train the embedded default model with the recipe in "
                    "inference/engine/train_cli.py (DEFAULT_RECIPE): synthetic images only, in two "
                    "stages (stage 1 is kept as <out>.stage1.pt; stage 2 continues from it).")
    d.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"model file ({DEFAULT_OUT})")
    d.add_argument("--epochs", type=_positive_int, default=None,
                   help=f"override stage 1's {DEFAULT_RECIPE['n_epochs']} epochs")
    d.add_argument("--stage2-epochs", type=_positive_int, default=None,
                   help=f"override stage 2's {DEFAULT_RECIPE['stage2']['n_epochs']} epochs")
    d.add_argument("--n-images", type=_positive_int, default=None,
                   help=f"override the recipe's {DEFAULT_RECIPE['n_images']} images")
    d.add_argument("--stage1", type=Path, default=None,
                   help="a model to take as stage 1's result instead of training stage 1")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    d.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    d.add_argument("--resume", action="store_true",
                   help="continue a stopped run: a finished stage 1 (<out>.stage1.pt) is kept, an "
                        "unfinished stage continues from its checkpoint (<out>[.stage1.pt].ckpt)")
    d.add_argument("--log", type=Path, help="JSON-lines log of stage 2 (default <out>.log.jsonl; "
                                            "stage 1's is <out>.stage1.log.jsonl)")
    d.set_defaults(func=run_train_default)


def default_recipe_config(*, stage=1, epochs=None, device="auto", threads=None):
    """The ``TrainConfig`` of stage 1 or 2 of ``DEFAULT_RECIPE`` (with optional overrides).

    Stage 1 fits no size model (stage 2 fits it at the end)."""
    from .train import TrainConfig

    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    r = DEFAULT_RECIPE
    keys = ("nbase", "n_epochs", "n_samples_per_epoch", "batch_size", "learning_rate",
            "warmup_epochs", "anneal_fraction", "anneal_every", "bsize", "nucleus_dropout", "jitter_prob",
            "val_every", "checkpoint_every", "size_n_rescales", "size_max_side", "seed",
            "precision")
    kwargs = {k: r[k] for k in keys}
    if stage == 2:
        kwargs.update({k: v for k, v in r["stage2"].items() if k != "sister_nuclei"})
    if epochs is not None:
        kwargs["n_epochs"] = epochs
    return TrainConfig(**kwargs, fit_size_model=stage == 2, device=device, num_threads=threads)


def run_train(args) -> int:
    from .train import TrainConfig, load_pairs, train

    try:
        config = TrainConfig(
            learning_rate=args.lr, n_epochs=args.epochs, batch_size=args.batch_size,
            nbase=args.nbase, seed=args.seed, val_every=args.val_every,
            n_samples_per_epoch=args.samples_per_epoch, checkpoint_every=args.checkpoint_every,
            device=args.device, num_threads=args.threads, precision=args.precision)
        images, labels, names = load_pairs(args.images, args.labels)
        train_idx, val_idx = _split(len(images), args.val_fraction, args.seed)
        val = {}
        if val_idx:
            val = {"val_images": [images[i] for i in val_idx],
                   "val_labels": [labels[i] for i in val_idx]}
        _say(f"training on {len(train_idx)} image(s), validating on {len(val_idx)}")
        result = _train_with_bar(
            train, [images[i] for i in train_idx], [labels[i] for i in train_idx], config=config,
            channels=[args.chan, args.chan2], base=args.base, out=args.out, log_path=args.log,
            resume=args.resume,
            data_description={"source": str(args.images), "labels": str(args.labels),
                              "train_names": [names[i] for i in train_idx],
                              "val_names": [names[i] for i in val_idx]},
            **val)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _summary(result)
    return 0


def run_train_default(args) -> int:
    out = Path(args.out)
    stage1 = Path(f"{out}.stage1.pt")
    try:
        if args.stage1 is not None:
            if not args.stage1.is_file():
                raise FileNotFoundError(f"--stage1: no model file at {args.stage1}")
            stage1 = args.stage1
            _say(f"stage 1: taking {stage1}")
        elif args.resume and stage1.is_file():
            _say(f"stage 1: done before ({stage1})")
        else:
            _say("stage 1")
            _recipe_stage(args, 1, out=stage1, log=Path(f"{out}.stage1.log.jsonl"))
        _say(f"stage 2: continuing from {stage1}")
        result = _recipe_stage(args, 2, out=out, log=args.log or Path(f"{out}.log.jsonl"),
                               base=stage1)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _summary(result)
    return 0


def _recipe_stage(args, stage, *, out, log, base=None):
    """Train one stage of DEFAULT_RECIPE on its synthetic images; returns the TrainResult."""
    from .train import synthetic_dataset, train

    r = DEFAULT_RECIPE
    n_images = args.n_images or r["n_images"]
    sisters = stage == 2 and r["stage2"]["sister_nuclei"]
    config = default_recipe_config(stage=stage, epochs=args.epochs if stage == 1 else args.stage2_epochs,
                                   device=args.device, threads=args.threads)
    t0 = time.perf_counter()
    images, labels = synthetic_dataset(n_images, seed=r["synth_seed"], shape=r["shape"],
                                       sister_nuclei=sisters)
    val_images, val_labels = synthetic_dataset(r["n_val"], seed=r["val_seed"], shape=r["shape"],
                                               sister_nuclei=sisters)
    _say(f"synthesised {n_images} + {r['n_val']} images in {time.perf_counter() - t0:.0f} s")
    checkpoint = Path(f"{out}.ckpt")
    return _train_with_bar(
        train, images, labels, config=config, base=None if base is None else str(base),
        val_images=val_images, val_labels=val_labels, out=out, log_path=log,
        resume=checkpoint if args.resume and checkpoint.is_file() else None,
        data_description={"source": "synthetic (inference/engine/synth.py)",
                          "recipe": _jsonable(r), "stage": stage, "sister_nuclei": sisters,
                          "n_images": n_images, "stage1": None if base is None else str(base)})


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return list(value) if isinstance(value, tuple) else value


def _train_with_bar(train, images, labels, *, config, **kwargs):
    from tqdm import tqdm

    with tqdm(total=config.n_epochs, unit="epoch", dynamic_ncols=True, file=sys.stderr) as bar:
        def progress(epoch, n_epochs, record):
            bar.n = epoch
            post = {"loss": f"{record['train_loss']:.3f}", "lr": f"{record['lr']:.3g}",
                    "samples/s": f"{record['samples_per_s']:.1f}"}
            if record["val_ap50"] is not None:
                post["val_ap50"] = f"{record['val_ap50']:.3f}"
            bar.set_postfix(post, refresh=False)
            bar.refresh()

        return train(images, labels, config=config, progress=progress, **kwargs)


def _split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Random train / validation indices; at least one image always stays for training."""
    import numpy as np

    n_val = min(n - 1, int(round(n * fraction)))
    order = np.random.default_rng(seed).permutation(n)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def _summary(result) -> None:
    last = result.history[-1] if result.history else {}
    _say(f"saved {result.out_path} after {result.epochs_completed} epochs in "
         f"{result.train_time / 60:.1f} min (train loss {last.get('train_loss', float('nan')):.4f}"
         f", val AP@0.5 {result.meta.get('final', {}).get('val_ap50')})")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text}")
    return value


def _channel(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 3:
        raise argparse.ArgumentTypeError(f"must be 0 (none/grayscale) or 1/2/3 (R/G/B), got {text}")
    return value


def _nbase(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ints: {text!r}") from None
    if len(values) < 3 or values[0] != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected 2 input channels then at least two widths, e.g. 2,32,64,128,256; got {text}")
    return values
