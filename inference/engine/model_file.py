"""The model file format: `CellposeModel` <-> a plain dict <-> a file.

A model file is ``torch.save`` of a plain dict, read with ``torch.load(weights_only=True)``::

    {"format": "cellposeweb-model", "format_version": 1, "nbase": [...], "nout": 3, "sz": 3,
     "diam_mean": 30.0, "state_dicts": [sd, ...], "size_model": {...} | None, "meta": {...}}

Several state dicts make an ensemble (their outputs are averaged). A Cellpose 3 CPnet ``.pth`` (a
bare state dict) is read too. Reading returns `ModelParts`, the arguments of `CellposeModel`;
`CellposeModel.from_file`, ``from_dict``, ``to_dict`` and ``save`` are the user-facing calls.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .net import CellposeNet
from .size import SizeModel

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelParts",
    "PRECISIONS",
    "compute_dtype",
    "default_device",
    "model_to_dict",
    "parts_from_dict",
    "read_model_file",
    "write_model_file",
]

FORMAT = "cellposeweb-model"
FORMAT_VERSION = 1
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def default_device() -> torch.device:
    """CUDA when it is available, else the CPU. Called when a model is loaded, never at import."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """A `CellposeModel.precision` (one of `PRECISIONS`) on `device` as a torch dtype: "auto" is
    bfloat16 where the device computes it natively (``torch.cuda.is_bf16_supported()``; on the CPU,
    oneDNN's bfloat16 support: AVX512-BF16 or AMX), else float32."""
    if precision != "auto":
        return getattr(torch, precision)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu":
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
        return torch.bfloat16 if native else torch.float32
    return torch.float32


@dataclass
class ModelParts:
    """What a model file holds, as the arguments of ``CellposeModel(nets, diam_mean=..., ...)``.

    nets : list of CellposeNet
        On the requested device (``default_device()`` when None was given).
    """

    nets: list
    diam_mean: float
    size_model: SizeModel | None
    name: str | None
    meta: dict


def model_to_dict(model) -> dict:
    """The model file's dict of a `CellposeModel` (tensors copied to the CPU)."""
    net0 = model.nets[0]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nbase": [int(v) for v in net0.nbase],
        "nout": int(net0.nout),
        "sz": int(net0.sz),
        "diam_mean": model.diam_mean,
        "state_dicts": [
            {k: v.detach().cpu().clone() for k, v in net.state_dict().items()} for net in model.nets
        ],
        "size_model": None if model.size_model is None else model.size_model.to_dict(),
        "meta": {**model.meta, **({"name": model.name} if model.name is not None else {})},
    }


def write_model_file(d: dict, path) -> None:
    """Write the dict of `model_to_dict` to `path`, atomically (a temporary file, then a rename).

    Raises ValueError when ``d["meta"]`` is not plain data that ``weights_only`` loading can read.
    """
    _check_plain(d["meta"], "meta")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(d, tmp)
    os.replace(tmp, path)


def parts_from_dict(d: dict, device=None) -> ModelParts:
    """The model in the dict of `model_to_dict` (as read from a file); ValueError if malformed."""
    if d.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} dict")
    if d.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"model format version {d.get('format_version')} is not supported (this engine reads {FORMAT_VERSION})"
        )
    try:
        nbase, nout, sz, sds = tuple(int(v) for v in d["nbase"]), int(d["nout"]), int(d["sz"]), d["state_dicts"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"model dict is incomplete or malformed: {e}") from None
    if not isinstance(sds, list | tuple) or not sds:
        raise ValueError("model dict has no state_dicts")
    device = default_device() if device is None else torch.device(device)
    nets = []
    for sd in sds:
        net = CellposeNet(nbase=nbase, nout=nout, sz=sz)
        misfit = _misfit(net.state_dict(), sd)
        if misfit:
            raise ValueError(f"model weights do not fit a CellposeNet(nbase={list(nbase)}, nout={nout}, sz={sz}): "
                             f"{misfit}")
        net.load_state_dict(sd)
        nets.append(net.to(device))
    size_model = None if d.get("size_model") is None else SizeModel.from_dict(d["size_model"])
    meta = dict(d.get("meta") or {})
    return ModelParts(nets, float(d["diam_mean"]), size_model, meta.get("name"), meta)


def _misfit(expected: dict, sd) -> str:
    """Why the state dict ``sd`` cannot be loaded into a net whose own is ``expected`` ("" if it can)."""
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        return "its weights are not a dict of tensors"
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {tuple(expected[k].shape)})"
             for k in sorted(expected) if k in sd and sd[k].shape != expected[k].shape]
    parts = [f"{what} {names[:3]}{' ...' if len(names) > 3 else ''}"
             for what, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if names]
    return "; ".join(parts)


def _unreadable(error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` could not read a file, in words (not torch's text)."""
    if "unsupported global" in str(error).lower():
        return ("it holds Python objects besides tensors and plain data, which are never loaded (a whole "
                "pickled model?); save the network's state_dict() instead")
    return "it is not a file written by torch.save, or it is cut short"


def read_model_file(path, device=None) -> ModelParts:
    """Read our model file, or a Cellpose 3 CPnet ``.pth`` state dict (named after the file).

    Raises FileNotFoundError when `path` does not exist and ValueError when it is neither format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types (UnpicklingError, KeyError, RuntimeError...)
        raise ValueError(f"{path} is not a readable model file: {_unreadable(e)}") from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        parts = parts_from_dict(obj, device=device)
        if parts.name is None:
            parts.name = path.stem
        return parts
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        device = default_device() if device is None else torch.device(device)
        net = CellposeNet.from_state_dict(obj).to(device)  # the CPnet names are translated
        diam_mean = float(obj["diam_mean"].reshape(-1)[0]) if "diam_mean" in obj else 30.0
        return ModelParts([net], diam_mean, None, path.stem, {"source": "cellpose3", "file": path.name})
    raise ValueError(
        f"{path} is neither a {FORMAT} file (a dict with format={FORMAT!r}) nor a Cellpose 3 state dict"
    )


def _check_plain(obj, where: str) -> None:
    """Raise ValueError unless `obj` is plain data that ``torch.load(weights_only=True)`` can read."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return
    if isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str | int):
                raise ValueError(f"{where} has a key {k!r} that is not a str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise ValueError(f"{where} holds a {type(obj).__name__}; model meta must be plain data (str, numbers, lists, dicts)")
