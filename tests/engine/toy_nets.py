"""Small torch modules with CellposeNet's forward contract, for testing inference without training.

``net(x (B, 2, Y, X)) -> (out (B, 3, Y, X) = (flow Y, flow X, cellprob logit), style (B, D))``.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _unit_style(feats: torch.Tensor) -> torch.Tensor:
    return feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-12)


class PointwiseNet(nn.Module):
    """A 1x1 conv -> tanh -> 1x1 conv: every output pixel depends on its own input pixel only."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w1 = nn.Parameter(torch.randn(8, 2, 1, 1, generator=g))
        self.b1 = nn.Parameter(torch.randn(8, generator=g))
        self.w2 = nn.Parameter(torch.randn(3, 8, 1, 1, generator=g))

    def forward(self, x):
        h = torch.tanh(F.conv2d(x, self.w1, self.b1))
        return F.conv2d(h, self.w2), _unit_style(h.mean(dim=(2, 3)) + 2.0)


class ConstantNet(nn.Module):
    """Outputs the same value everywhere: (flow Y, flow X, cellprob) = `value`."""

    def __init__(self, value=(1.0, 1.0, 1.0)):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(value, dtype=torch.float32), requires_grad=False)

    def forward(self, x):
        out = self.value.view(1, 3, 1, 1).expand(x.shape[0], 3, *x.shape[2:]).clone()
        style = torch.ones(x.shape[0], 4, device=x.device)
        return out, _unit_style(style)


class GradientNet(nn.Module):
    """(d/dy, d/dx, identity) of input channel 0, by zero-padded central differences.

    Flip-equivariant with the flow sign reversed: flipping the input along an axis flips every
    output and negates the derivative along that axis.
    """

    def __init__(self):
        super().__init__()
        k = torch.zeros(3, 1, 3, 3)
        k[0, 0, 0, 1], k[0, 0, 2, 1] = -0.5, 0.5  # d/dy
        k[1, 0, 1, 0], k[1, 0, 1, 2] = -0.5, 0.5  # d/dx
        k[2, 0, 1, 1] = 1.0
        self.kernel = nn.Parameter(k, requires_grad=False)

    def forward(self, x):
        out = F.conv2d(x[:, :1], self.kernel, padding=1)
        return out, _unit_style(torch.stack([x.mean(dim=(1, 2, 3)) ** 2 + 1.0, torch.ones_like(x[:, 0, 0, 0])], 1))


class BlobOracleNet(nn.Module):
    """Flows of bright blobs: 5 x the unit gradient of the Gaussian-blurred image, cellprob from brightness.

    On an image of separated bright disks about 30 px across (the network scale) the flows point to
    the disk centres and cellprob > 0 inside, so `compute_masks` recovers the disks. Separable,
    zero-padded, flip-equivariant.
    """

    def __init__(self, sigma: float = 8.0):
        super().__init__()
        r = int(3 * sigma)
        t = torch.arange(-r, r + 1, dtype=torch.float32)
        g = torch.exp(-(t**2) / (2 * sigma**2))
        self.g = nn.Parameter((g / g.sum()), requires_grad=False)
        self.r = r

    def forward(self, x):
        img = x[:, :1]
        gy = self.g.view(1, 1, -1, 1)
        gx = self.g.view(1, 1, 1, -1)
        blur = F.conv2d(F.conv2d(img, gy, padding=(self.r, 0)), gx, padding=(0, self.r))
        dy = torch.zeros_like(blur)
        dx = torch.zeros_like(blur)
        dy[..., 1:-1, :] = (blur[..., 2:, :] - blur[..., :-2, :]) / 2
        dx[..., :, 1:-1] = (blur[..., :, 2:] - blur[..., :, :-2]) / 2
        norm = torch.sqrt(dy**2 + dx**2).clamp_min(1e-6)
        cellprob = (img - 0.5) * 10.0
        out = torch.cat([5 * dy / norm, 5 * dx / norm, cellprob], dim=1)
        style = _unit_style(torch.stack([img.mean(dim=(1, 2, 3)) + 1.0, torch.ones_like(img[:, 0, 0, 0])], 1))
        return out, style


def disk_image(shape=(160, 200), diameter=30.0, seed=0, spacing=1.6):
    """Separated bright disks on a dark background: (image float32 (Ly, Lx), masks int32 (Ly, Lx))."""
    rng = np.random.default_rng(seed)
    Ly, Lx = shape
    r = diameter / 2
    yy, xx = np.mgrid[:Ly, :Lx]
    masks = np.zeros(shape, np.int32)
    step = diameter * spacing
    label = 0
    for cy in np.arange(r + 2, Ly - r - 2, step):
        for cx in np.arange(r + 2, Lx - r - 2, step):
            cy_j, cx_j = cy + rng.uniform(-2, 2), cx + rng.uniform(-2, 2)
            label += 1
            masks[(yy - cy_j) ** 2 + (xx - cx_j) ** 2 <= r**2] = label
    image = (masks > 0).astype(np.float32) * 200 + 10 + rng.normal(0, 2, shape).astype(np.float32)
    return image.astype(np.float32), masks


def ball_volume(shape=(31, 61, 57), diameter=16.0):
    """Separated bright balls: (volume float32 (Lz, Ly, Lx), masks int32 (Lz, Ly, Lx))."""
    Lz, Ly, Lx = shape
    r = diameter / 2
    zz, yy, xx = np.mgrid[:Lz, :Ly, :Lx]
    masks = np.zeros(shape, np.int32)
    label = 0
    for cz in np.arange(r + 1, Lz - r, diameter * 1.5):
        for cy in np.arange(r + 1, Ly - r, diameter * 1.5):
            for cx in np.arange(r + 1, Lx - r, diameter * 1.5):
                label += 1
                masks[(zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2] = label
    return (masks > 0).astype(np.float32) * 100 + 5, masks
