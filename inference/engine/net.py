"""The Cellpose network: a residual U-net with style vectors (Stringer et al. 2020, Methods).

Four scales; at each scale a down block and an up block, each two residual units of two
BatchNorm -> ReLU -> conv layers. Max pooling between down blocks, nearest-neighbour x2 upsampling
between up blocks, and the down path's output at each scale added into the up block of that scale.
The style vector is the global average of the deepest feature map, L2-normalised; every up block
projects it with a linear layer per residual conv and adds it to that conv's input. A BatchNorm ->
ReLU -> 1x1 conv head gives (flow Y, flow X, cellprob logit).

The parameters are those of Cellpose 3's ``resnet_torch.CPnet`` under our own names; the
translation in both directions is ``_cellpose_module_names`` (see ``from_state_dict`` and
``to_cellpose_state_dict``).

One U-net loop (``_unet``) runs either the modules below (training, and any forward with autograd
on) or, after ``prepare_for_inference()``, the folded inference blocks of ``net_fast`` (same
function, same call signatures).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .net_fast import InferencePlan, weights_signature

__all__ = ["CellposeNet"]

_BN_EPS = 1e-5
_BN_MOMENTUM = 0.05
_NORM_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_AFFINE_KEYS = ("weight", "bias")
_DIAMETER_KEYS = ("diam_mean", "diam_labels")


class _NormConv(nn.Module):
    """BatchNorm -> ReLU (optional) -> conv: the pre-activation unit every block is built from."""

    def __init__(self, in_channels: int, out_channels: int, size: int, relu: bool = True):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.conv = nn.Conv2d(in_channels, out_channels, size, padding=size // 2)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if self.relu:
            x = F.relu(x, inplace=True)
        return self.conv(x)


class _DownBlock(nn.Module):
    """Two residual units; the first one's skip goes through a BatchNorm -> 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, size: int):
        super().__init__()
        self.shortcut = _NormConv(in_channels, out_channels, 1, relu=False)
        self.convs = nn.ModuleList(
            [_NormConv(in_channels, out_channels, size)]
            + [_NormConv(out_channels, out_channels, size) for _ in range(3)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shortcut(x) + self.convs[1](self.convs[0](x))
        return x + self.convs[3](self.convs[2](x))


class _UpBlock(nn.Module):
    """Like a down block, plus the down path's features and per-conv style projections.

    ``upsample``: its input comes from the next deeper scale and is upsampled x2 (nearest) first.
    """

    def __init__(self, in_channels: int, out_channels: int, style_channels: int, size: int,
                 upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.shortcut = _NormConv(in_channels, out_channels, 1, relu=False)
        self.convs = nn.ModuleList(
            [_NormConv(in_channels, out_channels, size)]
            + [_NormConv(out_channels, out_channels, size) for _ in range(3)]
        )
        # styles[k] feeds convs[k + 1].
        self.styles = nn.ModuleList([nn.Linear(style_channels, out_channels) for _ in range(3)])

    def forward(self, x: torch.Tensor, skip: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        f1, f2, f3 = (proj(style)[:, :, None, None] for proj in self.styles)
        x = self.shortcut(x) + self.convs[1](self.convs[0](x) + skip + f1)
        return x + self.convs[3](self.convs[2](x + f2) + f3)


class CellposeNet(nn.Module):
    """The Cellpose residual U-net with style vectors.

    Parameters
    ----------
    nbase : sequence of int
        ``nbase[0]`` input channels, then the feature width of each scale (default four scales:
        32, 64, 128, 256). The style vector has ``nbase[-1]`` entries.
    nout : int
        Output channels: 3 = (flow Y, flow X, cellprob logit).
    sz : int
        Kernel size of the (odd-sized) residual convs.
    diam_mean : float
        The cell diameter, in pixels, images are rescaled to before they reach the network. Kept as
        a buffer (``diam_mean``), next to ``diam_labels``, the mean diameter of the training labels.

    Input Y and X must be multiples of ``size_multiple`` (``2 ** (len(nbase) - 2)``: 8 for the
    default four scales) so every max pool halves exactly; the caller pads (tiling uses 224).
    """

    def __init__(
        self,
        nbase: tuple[int, ...] | list[int] = (2, 32, 64, 128, 256),
        nout: int = 3,
        sz: int = 3,
        diam_mean: float = 30.0,
    ):
        super().__init__()
        nbase = tuple(int(n) for n in nbase)
        if len(nbase) < 3 or min(nbase) < 1 or nout < 1 or sz < 1 or sz % 2 == 0:
            raise ValueError(
                f"expected nbase of at least 3 positive widths, nout >= 1 and an odd sz; got "
                f"nbase={nbase}, nout={nout}, sz={sz}"
            )
        self.nbase = nbase
        self.nout = int(nout)
        self.sz = int(sz)
        depth = len(nbase) - 1
        up_widths = nbase[1:] + nbase[-1:]
        self.encoder = nn.ModuleList(
            [_DownBlock(nbase[n], nbase[n + 1], sz) for n in range(depth)]
        )
        self.decoder = nn.ModuleList(
            [_UpBlock(up_widths[n + 1], up_widths[n], nbase[-1], sz, upsample=n < depth - 1)
             for n in range(depth)]
        )
        self.head = _NormConv(nbase[1], nout, 1)
        self.register_buffer("diam_mean", torch.full((1,), float(diam_mean)))
        self.register_buffer("diam_labels", torch.full((1,), float(diam_mean)))
        self._fast_inference = False
        self._inference_dtype: torch.dtype | None = None
        self._plan: InferencePlan | None = None

    @property
    def size_multiple(self) -> int:
        """Input Y and X must be multiples of this."""
        return 2 ** (len(self.nbase) - 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the network.

        Parameters
        ----------
        x : Tensor of float32, shape (B, nbase[0], Y, X)
            Normalised images; Y and X multiples of ``size_multiple``.

        Returns
        -------
        out : Tensor of float32, shape (B, nout, Y, X)
            (flow Y, flow X, cellprob logit) for the default nout=3; flows on the 5 x unit scale.
        style : Tensor of float32, shape (B, nbase[-1])
            The L2-normalised style vector of each image.
        """
        self._check_input(x)
        if self._fast_inference and not self.training and not torch.is_grad_enabled():
            blocks = self._inference_plan()
        else:
            blocks = self
        return _unet(x, blocks.encoder, blocks.decoder, blocks.head, style_dtype=self.head.conv.weight.dtype)

    def prepare_for_inference(self, dtype: torch.dtype | None = None) -> "CellposeNet":
        """Switch to eval mode and to the fast inference path; returns self.

        While the net is in eval mode and autograd is off (``torch.inference_mode()`` or
        ``torch.no_grad()``), ``forward`` then runs its U-net loop over folded, channels-last
        copies of the weights (``net_fast.InferencePlan``): the same function, outputs equal to
        the plain forward's within float32 rounding (1e-5 relative in the tests). The copies are
        rebuilt automatically when any parameter or buffer changes (in-place update,
        ``load_state_dict``, ``.to()``). In training mode, or with autograd on, the plain modules
        run.

        Parameters
        ----------
        dtype : torch.dtype, optional
            The compute dtype of the fast path: None = the net's own (float32). ``torch.bfloat16``
            or ``torch.float16`` run the activations and folded weights in reduced precision (the
            input is cast on entry, the output and style come back in the net's dtype), about
            1e-2 relative. Calling again with another dtype replaces the plan.

        On CUDA, PyTorch lets cuDNN convolutions use TF32 by default
        (``torch.backends.cudnn.allow_tf32``), about 1e-3 relative; that global setting is the
        caller's to change, for the plain and the fast path alike.
        """
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating-point torch.dtype or None, got {dtype!r}")
        if dtype == self.head.conv.weight.dtype:
            dtype = None
        if dtype != self._inference_dtype:
            self._plan = None
        self._fast_inference = True
        self._inference_dtype = dtype
        return self.eval()

    def __getstate__(self) -> dict:
        """Copies and pickles leave the inference plan out (it holds opaque oneDNN tensors, and
        it is rebuilt from the weights on the next fast forward)."""
        state = self.__dict__.copy()
        state["_plan"] = None
        return state

    def _inference_plan(self) -> InferencePlan:
        signature = weights_signature(self)
        plan = self._plan
        if plan is None or plan.signature != signature:
            plan = self._plan = InferencePlan(self, signature, self._inference_dtype)
        return plan

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.nbase[0]:
            raise ValueError(
                f"expected input of shape (B, {self.nbase[0]}, Y, X); got {tuple(x.shape)}"
            )
        m = self.size_multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ValueError(
                f"expected Y and X to be multiples of {m} (pad the image first); "
                f"got {tuple(x.shape[2:])}"
            )
        weight = self.head.conv.weight
        if x.dtype != weight.dtype or x.device != weight.device:
            raise ValueError(
                f"expected a {weight.dtype} input on {weight.device} (the net's dtype and "
                f"device); got {x.dtype} on {x.device}"
            )

    # ---- Cellpose 3 compatibility -------------------------------------------------------------

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor]) -> "CellposeNet":
        """Build a net from a state dict, ours or a Cellpose 3 CPnet's (names are detected).

        The architecture (nbase, nout, sz) is read from the tensor shapes; ``diam_mean`` and
        ``diam_labels`` are taken when present (else 30 and diam_mean). Returns a new module (in
        training mode, like any); raises ValueError when the dict is neither kind or incomplete.
        """
        return cls._from_state_dict(state_dict, source="state dict")

    @classmethod
    def from_cellpose_file(
        cls, path: str | Path, device: torch.device | str | None = None
    ) -> "CellposeNet":
        """Load a Cellpose 3 CPnet ``.pth`` (``torch.save`` of its state dict), in eval mode."""
        path = Path(path)
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file") from None
        except Exception as error:  # torch raises several types for a file it cannot read
            raise ValueError(
                f"{path}: not a PyTorch state-dict file a Cellpose 3 CPnet could be loaded from "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
            ) from error
        net = cls._from_state_dict(state_dict, source=str(path))
        if device is not None:
            net = net.to(device)
        return net.eval()

    def to_cellpose_state_dict(self) -> dict[str, torch.Tensor]:
        """This net's state dict under Cellpose 3 CPnet names (what ``CPnet.load_model`` reads)."""
        names = _cellpose_module_names(len(self.nbase) - 1)
        ours = self.state_dict()
        out = {key: ours[key].detach().clone() for key in _DIAMETER_KEYS}
        for module, cellpose in names.items():
            for leaf in _leaf_keys(module):
                out[f"{cellpose}.{leaf}"] = ours[f"{module}.{leaf}"].detach().clone()
        return out

    @classmethod
    def _from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], source: str) -> "CellposeNet":
        if not isinstance(state_dict, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()
        ):
            raise ValueError(f"{source}: expected a dict of tensors (a state dict); "
                             f"got {type(state_dict).__name__}")
        if "downsample.down.res_down_0.conv.conv_0.2.weight" in state_dict:
            ours = _translate_cellpose_keys(state_dict, source)
        elif "encoder.0.convs.0.conv.weight" in state_dict:
            ours = dict(state_dict)
        else:
            raise ValueError(
                f"{source}: not a Cellpose 3 CPnet (or CellposeNet) state dict: it has no "
                f"'downsample.down.res_down_0.conv.conv_0.2.weight' entry "
                f"(first keys: {list(state_dict)[:3]})"
            )
        nbase, nout, sz = _architecture_from_state_dict(ours, source)
        net = cls(nbase, nout, sz)
        expected = net.state_dict()
        ours.setdefault("diam_mean", expected["diam_mean"])
        ours.setdefault("diam_labels", ours["diam_mean"])
        for key in _DIAMETER_KEYS:
            if ours[key].numel() == 1:  # a (1,) parameter in CPnet; accept a scalar too
                ours[key] = ours[key].reshape(1)
        missing = sorted(set(expected) - set(ours))
        unexpected = sorted(set(ours) - set(expected))
        wrong = sorted(k for k in expected if k in ours and ours[k].shape != expected[k].shape)
        if missing or unexpected or wrong:
            raise ValueError(
                f"{source}: does not match a CPnet(nbase={list(nbase)}, nout={nout}, sz={sz}): "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}"
            )
        net.load_state_dict(ours)
        return net


def _unet(
    x: torch.Tensor,
    encoder: Sequence,
    decoder: Sequence,
    head,
    *,
    style_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The U-net: down blocks with max pooling between them, the style vector of the deepest
    features, up blocks from the deepest scale (each given the down path's features of its scale
    and the style), the head. The blocks are the net's modules or an `InferencePlan`'s."""
    features = []
    for level, block in enumerate(encoder):
        if level > 0:
            x = F.max_pool2d(x, 2)
        x = block(x)
        features.append(x)
    style = _style_vector(x.to(style_dtype))
    for level in range(len(decoder) - 1, -1, -1):
        x = decoder[level](x, features[level], style)
    return head(x), style


def _style_vector(features: torch.Tensor) -> torch.Tensor:
    """Global average over Y, X, divided by its L2 norm: (B, C, Y, X) -> (B, C)."""
    style = features.mean(dim=(2, 3))
    return style / style.square().sum(dim=1, keepdim=True).sqrt()


# ---- state-dict names ---------------------------------------------------------------------------

def _cellpose_module_names(depth: int) -> dict[str, str]:
    """Our module name -> the Cellpose 3 CPnet module name holding the same parameters.

    BatchNorm modules map their five entries (weight, bias, running_mean, running_var,
    num_batches_tracked), conv and linear modules their weight and bias; ``diam_mean`` and
    ``diam_labels`` keep their names.
    """
    names = {}
    for n in range(depth):
        down = f"downsample.down.res_down_{n}"
        up = f"upsample.up.res_up_{n}"
        names[f"encoder.{n}.shortcut.norm"] = f"{down}.proj.0"
        names[f"encoder.{n}.shortcut.conv"] = f"{down}.proj.1"
        names[f"decoder.{n}.shortcut.norm"] = f"{up}.proj.0"
        names[f"decoder.{n}.shortcut.conv"] = f"{up}.proj.1"
        for t in range(4):
            names[f"encoder.{n}.convs.{t}.norm"] = f"{down}.conv.conv_{t}.0"
            names[f"encoder.{n}.convs.{t}.conv"] = f"{down}.conv.conv_{t}.2"
        names[f"decoder.{n}.convs.0.norm"] = f"{up}.conv.conv_0.0"
        names[f"decoder.{n}.convs.0.conv"] = f"{up}.conv.conv_0.2"
        for t in range(1, 4):
            names[f"decoder.{n}.convs.{t}.norm"] = f"{up}.conv.conv_{t}.conv.0"
            names[f"decoder.{n}.convs.{t}.conv"] = f"{up}.conv.conv_{t}.conv.2"
            names[f"decoder.{n}.styles.{t - 1}"] = f"{up}.conv.conv_{t}.full"
    names["head.norm"] = "output.0"
    names["head.conv"] = "output.2"
    return names


def _leaf_keys(module_name: str) -> tuple[str, ...]:
    return _NORM_KEYS if module_name.endswith(".norm") else _AFFINE_KEYS


def _translate_cellpose_keys(
    state_dict: Mapping[str, torch.Tensor], source: str
) -> dict[str, torch.Tensor]:
    depth = 0
    while f"downsample.down.res_down_{depth}.conv.conv_0.2.weight" in state_dict:
        depth += 1
    ours = {key: state_dict[key] for key in _DIAMETER_KEYS if key in state_dict}
    used = set(ours)
    missing = []
    for module, cellpose in _cellpose_module_names(depth).items():
        for leaf in _leaf_keys(module):
            key = f"{cellpose}.{leaf}"
            if key in state_dict:
                ours[f"{module}.{leaf}"] = state_dict[key]
                used.add(key)
            else:
                missing.append(key)
    unexpected = sorted(set(state_dict) - used)
    if missing or unexpected:
        raise ValueError(
            f"{source}: not a 2D Cellpose 3 CPnet state dict: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return ours


def _architecture_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], source: str
) -> tuple[tuple[int, ...], int, int]:
    """(nbase, nout, sz) from the shapes of our-named tensors."""
    first = state_dict["encoder.0.convs.0.conv.weight"]
    if first.ndim != 4:
        raise ValueError(
            f"{source}: expected 2D conv weights (4 dims); got {tuple(first.shape)} "
            f"(3D CPnets are not supported)"
        )
    nbase = [int(first.shape[1])]
    depth = 0
    while f"encoder.{depth}.convs.0.conv.weight" in state_dict:
        nbase.append(int(state_dict[f"encoder.{depth}.convs.0.conv.weight"].shape[0]))
        depth += 1
    head = state_dict.get("head.conv.weight")
    if head is None or depth < 2:
        raise ValueError(f"{source}: incomplete network (no output conv or fewer than 2 scales)")
    return tuple(nbase), int(head.shape[0]), int(first.shape[-1])
