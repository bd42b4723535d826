"""The fast inference path of `CellposeNet` (see `CellposeNet.prepare_for_inference`).

`InferencePlan` holds folded, channels-last copies of an eval-mode net's weights and runs the same
function as ``CellposeNet.forward`` on them (equal within float32 rounding). `weights_signature`
tells when the copies are stale. Imported by `net` on the first fast forward, never at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .net import _DownBlock, _NormConv, _style_vector, _UpBlock

if TYPE_CHECKING:
    from .net import CellposeNet

__all__ = ["InferencePlan", "weights_signature"]


def weights_signature(net: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or modified in place."""
    return tuple(
        (t.data_ptr(), t._version, t.device, t.dtype)
        for t in (*net.parameters(), *net.buffers())
    )


def _norm_affine(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as ``scale * x + shift`` (per channel, float64)."""
    scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
    return scale, norm.bias.double() - norm.running_mean.double() * scale


def _as_channel_vector(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return v.to(dtype).reshape(-1, 1, 1)


class _FoldedConv:
    """A conv's float64-folded weight and bias, stored channels-last in the net's dtype.

    With ``scale``/``shift``, the per-channel affine map that follows the conv is folded in.
    """

    def __init__(self, weight, bias, padding, dtype, scale=None, shift=None):
        weight, bias = weight.double(), bias.double()
        if scale is not None:
            weight = weight * scale[:, None, None, None]
            bias = bias * scale + shift
        self.weight = weight.to(dtype).contiguous(memory_format=torch.channels_last)
        self.bias = bias.to(dtype)
        self.padding = padding

    @classmethod
    def of(cls, conv: nn.Conv2d, scale=None, shift=None) -> "_FoldedConv":
        return cls(conv.weight, conv.bias, conv.padding, conv.weight.dtype, scale, shift)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)


def _folded_shortcut(unit: _NormConv) -> _FoldedConv:
    """BatchNorm -> 1x1 conv as one 1x1 conv (exact: a 1x1 conv has no zero padding)."""
    scale, shift = _norm_affine(unit.norm)
    weight = unit.conv.weight.double()
    bias = unit.conv.bias.double() + weight[:, :, 0, 0] @ shift
    return _FoldedConv(weight * scale[None, :, None, None], bias, 0, unit.conv.weight.dtype)


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

    def __init__(self, block: _DownBlock, dtype: torch.dtype):
        s0, t0 = _norm_affine(block.convs[0].norm)
        s2, t2 = _norm_affine(block.convs[2].norm)
        self.pre0 = (_as_channel_vector(s0, dtype), _as_channel_vector(t0, dtype))
        self.pre2 = (_as_channel_vector(s2, dtype), _as_channel_vector(t2, dtype))
        self.shortcut = _folded_shortcut(block.shortcut)
        self.conv0 = _FoldedConv.of(block.convs[0].conv, *_norm_affine(block.convs[1].norm))
        self.conv1 = _FoldedConv.of(block.convs[1].conv)
        self.conv2 = _FoldedConv.of(block.convs[2].conv, *_norm_affine(block.convs[3].norm))
        self.conv3 = _FoldedConv.of(block.convs[3].conv)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.addcmul(self.pre0[1], x, self.pre0[0]).relu_()
        x = self.conv1(self.conv0(a).relu_()).add_(self.shortcut(x))
        a = torch.addcmul(self.pre2[1], x, self.pre2[0]).relu_()
        return self.conv3(self.conv2(a).relu_()).add_(x)


class _FoldedUp:
    """An up block; ``coarse``: its input is the next deeper scale, upsampled x2 on the fly."""

    def __init__(self, block: _UpBlock, dtype: torch.dtype, coarse: bool):
        s0, t0 = _norm_affine(block.convs[0].norm)
        s1, t1 = _norm_affine(block.convs[1].norm)
        s2, t2 = _norm_affine(block.convs[2].norm)
        s3, t3 = _norm_affine(block.convs[3].norm)
        self.coarse = coarse
        self.out_channels = block.convs[0].conv.out_channels
        self.pre0 = (_as_channel_vector(s0, dtype), _as_channel_vector(t0, dtype))
        self.scale1 = _as_channel_vector(s1, dtype)
        self.scale2 = _as_channel_vector(s2, dtype)
        self.shortcut = _folded_shortcut(block.shortcut)
        # convs[1]'s norm: its scale goes into conv0 (and onto the skip), its shift into the
        # bias; convs[3]'s norm goes into conv2. The style terms become per-image shifts:
        # (s1 * f1, s2 * f2 + t2, s3 * f3) from one linear map of the style.
        if coarse:
            conv = block.convs[0].conv
            kernels, self.phase_offsets, padding = _phase_kernels(conv.weight)
            self.conv0 = _FoldedConv(kernels, conv.bias.repeat(4), padding, dtype,
                                     s1.repeat(4), t1.repeat(4))
        else:
            self.conv0 = _FoldedConv.of(block.convs[0].conv, s1, t1)
        self.conv1 = _FoldedConv.of(block.convs[1].conv)
        self.conv2 = _FoldedConv.of(block.convs[2].conv, s3, t3)
        self.conv3 = _FoldedConv.of(block.convs[3].conv)
        styles = [p.weight.double() for p in block.styles]
        biases = [p.bias.double() for p in block.styles]
        self.style_weight = torch.cat([s1[:, None] * styles[0], s2[:, None] * styles[1],
                                       s3[:, None] * styles[2]]).to(dtype)
        self.style_bias = torch.cat([s1 * biases[0], s2 * biases[1] + t2,
                                     s3 * biases[2]]).to(dtype)

    def __call__(self, x: torch.Tensor, skip: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        shifts = F.linear(style, self.style_weight, self.style_bias)[:, :, None, None]
        g1, h2, g3 = shifts.chunk(3, dim=1)
        a = torch.addcmul(self.pre0[1], x, self.pre0[0]).relu_()
        if self.coarse:
            z = self._upsampled_conv0_plus_skip(a, skip)
        else:
            z = self.conv0(a).addcmul_(skip, self.scale1)
        z = self.conv1(z.add_(g1).relu_())
        shortcut = self.shortcut(x)
        if self.coarse:  # a 1x1 conv commutes with upsampling: add it upsampled
            fine = z.unflatten(2, (x.shape[2], 2)).unflatten(4, (x.shape[3], 2))
            fine.add_(shortcut[:, :, :, None, :, None])
        else:
            z.add_(shortcut)
        x = z
        a = torch.addcmul(h2, x, self.scale2).relu_()
        return self.conv3(self.conv2(a).add_(g3).relu_()).add_(x)

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


class InferencePlan:
    """Folded, channels-last copies of a CellposeNet's eval-mode weights, and the forward on them.

    - A BatchNorm whose input is only a conv's output is folded into that conv (down blocks:
      convs[1]'s and convs[3]'s norms; up blocks: convs[3]'s norm and convs[1]'s scale, the style
      terms becoming per-image shifts); the shortcut's BatchNorm -> 1x1 conv is one 1x1 conv.
      The norms on the residual stream stay (the stream is also read unnormalised).
    - In an up block the pre-activation and the 1x1 shortcut commute with nearest upsampling and
      run at the coarse scale; the 3x3 conv of the upsampled map is four 2x2 convs of the coarse
      map, one per output phase (16 instead of 36 multiply-adds per coarse pixel).
    - Activations are channels-last; ReLUs and residual additions are in place.
    """

    def __init__(self, net: CellposeNet, signature: tuple):
        self.signature = signature
        dtype = net.head.conv.weight.dtype
        depth = len(net.encoder)
        with torch.no_grad():
            self.down = [_FoldedDown(block, dtype) for block in net.encoder]
            self.up = [_FoldedUp(block, dtype, coarse=level < depth - 1)
                       for level, block in enumerate(net.decoder)]
            s, t = _norm_affine(net.head.norm)
            self.head_pre = (_as_channel_vector(s, dtype), _as_channel_vector(t, dtype))
            self.head = _FoldedConv.of(net.head.conv)

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        features = []
        for level, block in enumerate(self.down):
            if level > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            features.append(x)
        style = _style_vector(x)
        for level in range(len(self.up) - 1, -1, -1):
            x = self.up[level](x, features[level], style)
        a = torch.addcmul(self.head_pre[1], x, self.head_pre[0]).relu_()
        return self.head(a).contiguous(), style
