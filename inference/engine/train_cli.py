"""Command-line training: ``python -m inference.engine train|train-default``.

``__main__.py`` calls ``add_parsers(subparsers)`` and then ``args.func(args)``, which returns the
exit status: 0 on success, 2 for bad input (a missing label file, mismatched shapes, an unknown
base model, a bad option), with a one-line message on stderr.

``train`` trains on one labelled folder (``--images`` / ``--labels``) or on a mixture of sources
described by a JSON file (``--data``, ``train_sources.DataMix.from_file``). ``train-default`` runs
the embedded default model's recipe (``train_recipe``: a synthetic stage, then a real-data stage).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["add_parsers"]

DEFAULT_OUT = Path(__file__).resolve().parent / "weights" / "default.pt"


def add_parsers(subparsers) -> None:
    """Register ``train`` and ``train-default`` on an argparse sub-parser collection."""
    p = subparsers.add_parser(
        "train", help="train or fine-tune a model on image / label pairs",
        description="Train a Cellpose network on pairs of images and label images (NAME.tif with "
                    "NAME.tif, NAME_masks.tif or NAME_labels.tif), fit its size model, save it.")
    p.add_argument("--images", type=Path, help="folder of images")
    p.add_argument("--labels", type=Path,
                   help="folder of label images (default: the images folder)")
    p.add_argument("--data", type=Path,
                   help="a JSON data mix instead of --images: {\"sources\": [{\"type\": "
                        "\"folder\", \"images\": ..., \"weight\": ...}, {\"type\": "
                        "\"synthetic\", \"n_images\": ..., \"seed\": ...}]} (docs/engine.md)")
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

    from .train_recipe import DEFAULT_RECIPE, default_data_folder

    d = subparsers.add_parser(
        "train-default", help="train the embedded default model (synthetic, then real images)",
        description="Train the embedded default model with the recipe in "
                    "inference/engine/train_recipe.py (DEFAULT_RECIPE): stage 1 on synthetic "
                    "images (kept as <out>.stage1.pt), stage 2 from it on the DSB 2018 training "
                    "split mixed with synthetic images, then the size model and the accuracy "
                    "report per image kind.")
    d.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"model file ({DEFAULT_OUT})")
    d.add_argument("--data-folder", type=Path, default=None,
                   help=f"labelled DSB 2018 folder (default {default_data_folder()}; "
                        "or set CELLPOSEWEB_DSB2018)")
    d.add_argument("--epochs", type=_positive_int, default=None,
                   help=f"override stage 1's {DEFAULT_RECIPE['n_epochs']} epochs")
    d.add_argument("--stage2-epochs", type=_positive_int, default=None,
                   help=f"override stage 2's {DEFAULT_RECIPE['stage2']['n_epochs']} epochs")
    d.add_argument("--n-images", type=_positive_int, default=None,
                   help=f"override the recipe's {DEFAULT_RECIPE['n_images']} synthetic images")
    d.add_argument("--stage1", type=Path, default=None,
                   help="a model to take as stage 1's result instead of training stage 1")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    d.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    d.add_argument("--resume", action="store_true",
                   help="continue a stopped run: a finished stage 1 (<out>.stage1.pt) is kept, an "
                        "unfinished stage continues from its checkpoint (<out>[.stage1.pt].ckpt)")
    d.add_argument("--log", type=Path, help="JSON-lines log of stage 2 (default <out>.log.jsonl; "
                                            "stage 1's is <out>.stage1.log.jsonl)")
    d.add_argument("--stage2-from", type=Path, default=None,
                   help="continue stage 2 from this checkpoint (stage 1 is then not needed)")
    d.add_argument("--from-scratch", action="store_true",
                   help="train every epoch even on a CPU without native bfloat16 (by default "
                        "such a CPU continues stage 2 from the committed checkpoint of epoch "
                        "180: docs/models.md)")
    d.add_argument("--no-report", action="store_true",
                   help="skip the accuracy report per image kind at the end")
    d.set_defaults(func=run_train_default)


def run_train(args) -> int:
    from .train import TrainConfig, train

    try:
        config = TrainConfig(
            learning_rate=args.lr, n_epochs=args.epochs, batch_size=args.batch_size,
            nbase=args.nbase, seed=args.seed, val_every=args.val_every,
            n_samples_per_epoch=args.samples_per_epoch, checkpoint_every=args.checkpoint_every,
            device=args.device, num_threads=args.threads, precision=args.precision)
        if (args.data is None) == (args.images is None):
            raise ValueError("give either --images (one labelled folder) or --data (a JSON mix)")
        data = _mix_data(args) if args.data is not None else _folder_data(args)
        result = _train_with_bar(train, *data["train"], config=config, base=args.base,
                                 out=args.out, log_path=args.log, resume=args.resume,
                                 **data["kwargs"])
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _summary(result)
    return 0


def _folder_data(args) -> dict:
    from .train import load_pairs

    images, labels, names = load_pairs(args.images, args.labels or args.images)
    train_idx, val_idx = _split(len(images), args.val_fraction, args.seed)
    kwargs = {"channels": [args.chan, args.chan2],
              "data_description": {"source": str(args.images),
                                   "labels": str(args.labels or args.images),
                                   "train_names": [names[i] for i in train_idx],
                                   "val_names": [names[i] for i in val_idx]}}
    if val_idx:
        kwargs.update(val_images=[images[i] for i in val_idx],
                      val_labels=[labels[i] for i in val_idx])
    _say(f"training on {len(train_idx)} image(s), validating on {len(val_idx)}")
    return {"train": ([images[i] for i in train_idx], [labels[i] for i in train_idx]),
            "kwargs": kwargs}


def _mix_data(args) -> dict:
    from .train_sources import DataMix

    mix, validation = DataMix.from_file(args.data)
    loaded = mix.load()
    data = mix.prepare(loaded=loaded)
    kwargs = {"data_description": {"source": "DataMix", "mix": mix.to_config(),
                                   "counts": mix.counts(loaded)}}
    if validation is not None:
        kwargs.update(val_images=validation.prepare(), val_labels=None)
        kwargs["data_description"]["validation"] = validation.to_config()
    _say(f"training on {len(data)} image(s) from {len(mix.sources)} source(s)"
         + (f", validating on {len(kwargs['val_images'])}" if validation is not None else ""))
    return {"train": (data, None), "kwargs": kwargs}


def run_train_default(args) -> int:
    from functools import partial

    from .train import train
    from .train_recipe import run_recipe

    try:
        result = run_recipe(
            out=args.out, folder=args.data_folder, stage1=args.stage1, resume=args.resume,
            epochs=args.epochs, stage2_epochs=args.stage2_epochs, n_images=args.n_images,
            device=args.device, threads=args.threads, log=args.log,
            with_report=not args.no_report, stage2_from=args.stage2_from,
            from_scratch=args.from_scratch, train_fn=partial(_train_with_bar, train), say=_say)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _summary(result)
    return 0


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
