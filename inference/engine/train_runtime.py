"""Where and how a training run computes: device, threads, determinism, mixed precision.

``train.train`` resolves its ``TrainConfig.device`` and ``precision`` here, sets torch's global
switches for the run (and restores them afterwards), and wraps the forward pass in ``autocast``.
"""

from __future__ import annotations

import contextlib
import os

import torch

from .model import default_device

__all__ = ["amp_dtype", "autocast", "resolve_device", "restore_torch_globals", "set_torch_globals"]


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``: torch.bfloat16, or None for float32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu":
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
        return torch.bfloat16 if native else None
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` to ``dtype`` on ``device``, or a no-op context for float32 (None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when present, else the CPU; any other name as torch reads it."""
    return torch.device(default_device() if device == "auto" else device)


def set_torch_globals(config, device) -> dict:
    """Apply ``config.num_threads`` and ``config.deterministic``; returns what to restore."""
    saved = {"threads": torch.get_num_threads(),
             "deterministic": torch.are_deterministic_algorithms_enabled(),
             "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
             "cudnn_benchmark": torch.backends.cudnn.benchmark}
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if config.deterministic:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return saved


def restore_torch_globals(saved: dict) -> None:
    """Undo ``set_torch_globals`` (``saved`` is what it returned)."""
    torch.set_num_threads(saved["threads"])
    torch.use_deterministic_algorithms(saved["deterministic"], warn_only=saved["warn_only"])
    torch.backends.cudnn.benchmark = saved["cudnn_benchmark"]
