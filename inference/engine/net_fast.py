"""The inference blocks of `CellposeNet`: folded, channels-last copies of its weights.

`InferencePlan` holds, for an eval-mode net, blocks with the same call signatures as the net's own
(``encoder[level](x)``, ``decoder[level](x, skip, style)``, ``head(x)``), so that
``CellposeNet.forward`` runs one U-net loop over either set (see ``net._unet``). The outputs are
the plain forward's within float32 rounding. `weights_signature` tells when the copies are stale.

This module does not import `net`: it reads the blocks it folds by their attributes (``convs[k]``
with ``.norm`` and ``.conv``, ``shortcut``, ``styles``, ``head``), so `net` imports it and not the
other way round.

On the CPU (oneDNN available) a ReLU or a residual addition that follows a convolution runs inside
the convolution (oneDNN post-ops, the kernels PyTorch's own compiler emits for these patterns),
and a BatchNorm -> ReLU pre-activation is one depthwise 1x1 convolution with a fused ReLU; each
saves a pass over the activations. Elsewhere (CUDA, or ``FUSED_CPU_KERNELS = False``) the same
arithmetic runs as separate PyTorch operations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InferencePlan", "weights_signature"]

#: Use oneDNN's fused convolution kernels on the CPU (tests switch it off to check the fallback).
FUSED_CPU_KERNELS = True

_ONES = [1, 1]
_FUSED_DTYPES = (torch.float32, torch.bfloat16)


def weights_signature(net: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or modified in place."""
    return tuple(
        (t.data_ptr(), t._version, t.device, t.dtype)
        for t in (*net.parameters(), *net.buffers())
    )


def _fusable(weight: torch.Tensor) -> bool:
    """Whether oneDNN's fused kernels can run convolutions with this weight (bfloat16 only on a
    CPU with native support: AVX2-only CPUs run it as plain PyTorch operations)."""
    if not (weight.device.type == "cpu" and weight.dtype in _FUSED_DTYPES and torch.backends.mkldnn.is_available()):
        return False
    return weight.dtype != torch.bfloat16 or torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _pack(weight: torch.Tensor, padding: int, groups: int = 1) -> torch.Tensor | None:
    """The weight in oneDNN's own blocked layout (an opaque mkldnn tensor), or None off the CPU.

    Packing once saves a reorder of the weight at every call (half the time of a bfloat16 conv
    here); the layout suits any input size (checked in the tests).
    """
    if not _fusable(weight):
        return None
    nominal_input = [8, weight.shape[1] * groups, 224, 224]
    return torch.ops.mkldnn._reorder_convolution_weight(
        weight, [padding, padding], _ONES, _ONES, groups, nominal_input)


def _norm_affine(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as ``scale * x + shift`` (per channel, float64)."""
    scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
    return scale, norm.bias.double() - norm.running_mean.double() * scale


def _as_channel_vector(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return v.to(dtype).reshape(-1, 1, 1)


class _FoldedConv:
    """A conv's float64-folded weight and bias, stored channels-last in the plan's dtype.

    With ``scale``/``shift``, the per-channel affine map that follows the conv is folded in.
    """

    def __init__(self, weight, bias, padding, dtype, scale=None, shift=None):
        weight, bias = weight.double(), bias.double()
        if scale is not None:
            weight = weight * scale[:, None, None, None]
            bias = bias * scale + shift
        self.weight = weight.to(dtype).contiguous(memory_format=torch.channels_last)
        self.bias = bias.to(dtype)
        self.padding = int(padding[0] if isinstance(padding, tuple | list) else padding)
        self.packed = _pack(self.weight, self.padding)

    @classmethod
    def of(cls, conv: nn.Conv2d, dtype: torch.dtype, scale=None, shift=None) -> "_FoldedConv":
        return cls(conv.weight, conv.bias, conv.padding, dtype, scale, shift)

    def __call__(self, x: torch.Tensor, *, relu: bool = False, add: torch.Tensor | None = None) -> torch.Tensor:
        """``conv(x)``, then ``+ add``, then ReLU, as asked.

        `add` (the conv's output shape, channels-last) may be overwritten with the result: pass
        a tensor that is not read afterwards.
        """
        if FUSED_CPU_KERNELS and self.packed is not None:
            padding = [self.padding, self.padding]
            if add is None:
                return torch.ops.mkldnn._convolution_pointwise(
                    x, self.packed, self.bias, padding, _ONES, _ONES, 1, "relu" if relu else "none", [], "")
            return torch.ops.mkldnn._convolution_pointwise_.binary(
                add, x, self.packed, self.bias, padding, _ONES, _ONES, 1, "add", 1.0,
                "relu" if relu else None, [], None)
        y = F.conv2d(x, self.weight, self.bias, padding=self.padding)
        if add is not None:
            y.add_(add)
        return y.relu_() if relu else y


class _AffineReLU:
    """``relu(scale * x + shift)`` per channel: an eval-mode BatchNorm -> ReLU pre-activation."""

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor, dtype: torch.dtype):
        self.scale = _as_channel_vector(scale, dtype)
        self.shift = _as_channel_vector(shift, dtype)
        # the same map as a depthwise 1x1 conv, for the fused CPU kernel
        weight = scale.to(dtype).reshape(-1, 1, 1, 1).contiguous(memory_format=torch.channels_last)
        self.packed = _pack(weight, 0, groups=weight.shape[0])
        self.bias = shift.to(dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if FUSED_CPU_KERNELS and self.packed is not None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.packed, self.bias, [0, 0], _ONES, _ONES, x.shape[1], "relu", [], "")
        return torch.addcmul(self.shift, x, self.scale).relu_()


def _folded_shortcut(unit, dtype: torch.dtype) -> _FoldedConv:
    """BatchNorm -> 1x1 conv as one 1x1 conv (exact: a 1x1 conv has no zero padding)."""
    scale, shift = _norm_affine(unit.norm)
    weight = unit.conv.weight.double()
    bias = unit.conv.bias.double() + weight[:, :, 0, 0] @ shift
    return _FoldedConv(weight * scale[None, :, None, None], bias, 0, dtype)


def _phase_kernels(weight: torch.Tensor) -> tuple[torch.Tensor, list[int], int]:
    """A k x k conv of a x2 nearest-upsampled map as one conv of the coarse map.

    Output pixel (2i + py, 2j + px) of the fine conv only reads coarse rows i + lo(py) .. and
    columns j + lo(px) .., so each of the four output phases is a conv of the coarse map with
    kernel rows/columns summed where they land on the same coarse pixel. Returns the four phase
    kernels stacked along the output channels in (py, px) order, the offset at which each phase
    starts in the coarse conv's output, and that conv's padding.
    """
    size = weight.shape[-1]
    r = size // 2
    lows = [(p - r) // 2 for p in (0, 1)]
    taps = max((p + r) // 2 - lows[p] + 1 for p in (0, 1))
    pad = max(-min(lows), max(low + taps - 1 for low in lows))
    sums = []
    for p in (0, 1):
        m = torch.zeros(taps, size, dtype=torch.float64, device=weight.device)
        for d in range(-r, r + 1):
            m[(p + d) // 2 - lows[p], d + r] = 1.0
        sums.append(m)
    w = weight.double()
    kernels = [torch.einsum("ak,bl,oikl->oiab", sums[py], sums[px], w)
               for py in (0, 1) for px in (0, 1)]
    return torch.cat(kernels), [low + pad for low in lows], pad


class _FoldedDown:
    """A down block with convs[1]'s and convs[3]'s norms folded into convs[0] and convs[2]."""

    def __init__(self, block, dtype: torch.dtype):
        self.dtype = dtype
        self.pre0 = _AffineReLU(*_norm_affine(block.convs[0].norm), dtype)
        self.pre2 = _AffineReLU(*_norm_affine(block.convs[2].norm), dtype)
        self.shortcut = _folded_shortcut(block.shortcut, dtype)
        self.conv0 = _FoldedConv.of(block.convs[0].conv, dtype, *_norm_affine(block.convs[1].norm))
        self.conv1 = _FoldedConv.of(block.convs[1].conv, dtype)
        self.conv2 = _FoldedConv.of(block.convs[2].conv, dtype, *_norm_affine(block.convs[3].norm))
        self.conv3 = _FoldedConv.of(block.convs[3].conv, dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(dtype=self.dtype, memory_format=torch.channels_last)  # no copy after the first block
        x = self.conv1(self.conv0(self.pre0(x), relu=True), add=self.shortcut(x))
        return self.conv3(self.conv2(self.pre2(x), relu=True), add=x)


class _FoldedUp:
    """An up block; ``coarse``: its input is the next deeper scale, upsampled x2 on the fly."""

    def __init__(self, block, dtype: torch.dtype, coarse: bool):
        s0, t0 = _norm_affine(block.convs[0].norm)
        s1, t1 = _norm_affine(block.convs[1].norm)
        s2, t2 = _norm_affine(block.convs[2].norm)
        s3, t3 = _norm_affine(block.convs[3].norm)
        self.coarse = coarse
        self.out_channels = block.convs[0].conv.out_channels
        self.pre0 = _AffineReLU(s0, t0, dtype)
        self.scale1 = _as_channel_vector(s1, dtype)
        self.scale2 = _as_channel_vector(s2, dtype)
        self.shortcut = _folded_shortcut(block.shortcut, dtype)
        # convs[1]'s norm: its scale goes into conv0 (and onto the skip), its shift into the
        # bias; convs[3]'s norm goes into conv2. The style terms become per-image shifts:
        # (s1 * f1, s2 * f2 + t2, s3 * f3) from one linear map of the style (kept in float32:
        # the style is).
        if coarse:
            conv = block.convs[0].conv
            kernels, self.phase_offsets, padding = _phase_kernels(conv.weight)
            self.conv0 = _FoldedConv(kernels, conv.bias.repeat(4), padding, dtype,
                                     s1.repeat(4), t1.repeat(4))
        else:
            self.conv0 = _FoldedConv.of(block.convs[0].conv, dtype, s1, t1)
        self.conv1 = _FoldedConv.of(block.convs[1].conv, dtype)
        self.conv2 = _FoldedConv.of(block.convs[2].conv, dtype, s3, t3)
        self.conv3 = _FoldedConv.of(block.convs[3].conv, dtype)
        styles = [p.weight.double() for p in block.styles]
        biases = [p.bias.double() for p in block.styles]
        style_dtype = block.styles[0].weight.dtype
        self.style_weight = torch.cat([s1[:, None] * styles[0], s2[:, None] * styles[1],
                                       s3[:, None] * styles[2]]).to(style_dtype)
        self.style_bias = torch.cat([s1 * biases[0], s2 * biases[1] + t2,
                                     s3 * biases[2]]).to(style_dtype)

    def __call__(self, x: torch.Tensor, skip: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        shifts = F.linear(style, self.style_weight, self.style_bias).to(x.dtype)[:, :, None, None]
        g1, h2, g3 = shifts.chunk(3, dim=1)
        a = self.pre0(x)
        if self.coarse:
            z = self._upsampled_conv0_plus_skip(a, skip)
        else:
            z = self.conv0(a).addcmul_(skip, self.scale1)
        if self.coarse:  # a 1x1 conv commutes with upsampling: add it upsampled
            z = self.conv1(z.add_(g1).relu_())
            fine = z.unflatten(2, (x.shape[2], 2)).unflatten(4, (x.shape[3], 2))
            fine.add_(self.shortcut(x)[:, :, :, None, :, None])
        else:
            z = self.conv1(z.add_(g1).relu_(), add=self.shortcut(x))
        a = torch.addcmul(h2, z, self.scale2).relu_()
        return self.conv3(self.conv2(a).add_(g3).relu_(), add=z)

    def _upsampled_conv0_plus_skip(self, a: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """conv0(upsample(a)) * s1 + t1 + s1 * skip, from a's four phase convs."""
        phases = self.conv0(a)
        batch, _, h, w = a.shape
        c = self.out_channels
        out = torch.empty(batch, c, 2 * h, 2 * w, dtype=a.dtype, device=a.device,
                          memory_format=torch.channels_last)
        out6 = out.unflatten(2, (h, 2)).unflatten(4, (w, 2))
        skip6 = skip.unflatten(2, (h, 2)).unflatten(4, (w, 2))
        for k, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            oy, ox = self.phase_offsets[py], self.phase_offsets[px]
            phase = phases[:, k * c:(k + 1) * c, oy:oy + h, ox:ox + w]
            torch.addcmul(phase, skip6[:, :, :, py, :, px], self.scale1,
                          out=out6[:, :, :, py, :, px])
        return out


class _FoldedHead:
    """BatchNorm -> ReLU -> 1x1 conv; returns a contiguous tensor in `out_dtype`."""

    def __init__(self, unit, dtype: torch.dtype, out_dtype: torch.dtype):
        self.pre = _AffineReLU(*_norm_affine(unit.norm), dtype)
        self.conv = _FoldedConv.of(unit.conv, dtype)
        self.out_dtype = out_dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pre(x)).to(self.out_dtype).contiguous()


class InferencePlan:
    """Folded, channels-last copies of a CellposeNet's eval-mode weights, as blocks of its U-net.

    - A BatchNorm whose input is only a conv's output is folded into that conv (down blocks:
      convs[1]'s and convs[3]'s norms; up blocks: convs[3]'s norm and convs[1]'s scale, the style
      terms becoming per-image shifts); the shortcut's BatchNorm -> 1x1 conv is one 1x1 conv.
      The norms on the residual stream stay (the stream is also read unnormalised).
    - In an up block the pre-activation and the 1x1 shortcut commute with nearest upsampling and
      run at the coarse scale; the 3x3 conv of the upsampled map is four 2x2 convs of the coarse
      map, one per output phase (16 instead of 36 multiply-adds per coarse pixel).
    - Activations are channels-last; ReLUs and residual additions are fused into the convs on the
      CPU (module docstring) and in place elsewhere.

    Parameters
    ----------
    net : CellposeNet, in eval mode
    signature : tuple
        ``weights_signature(net)`` when the plan was made.
    dtype : torch.dtype, optional
        The compute dtype of the activations and folded weights (default: the net's). With a
        reduced precision (bfloat16, float16) the input is cast on entry and the output cast back
        to the net's dtype; the style vector is computed in the net's dtype.
    """

    def __init__(self, net: nn.Module, signature: tuple, dtype: torch.dtype | None = None):
        self.signature = signature
        net_dtype = net.head.conv.weight.dtype
        self.dtype = net_dtype if dtype is None else dtype
        depth = len(net.encoder)
        with torch.no_grad():
            self.encoder = [_FoldedDown(block, self.dtype) for block in net.encoder]
            self.decoder = [_FoldedUp(block, self.dtype, coarse=level < depth - 1)
                            for level, block in enumerate(net.decoder)]
            self.head = _FoldedHead(net.head, self.dtype, net_dtype)
