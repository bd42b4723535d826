"""Write the small Cellpose 3 CPnet reference fixture used by tests/engine/test_net.py.

Run it in the side venv that has cellpose 3.1.1.2 installed (the test venv has no cellpose):

    python3 -m venv .venv-ref3
    .venv-ref3/bin/pip install torch==2.13.0 "numpy<2" cellpose==3.1.1.2
    .venv-ref3/bin/python benchmarks/make_cpnet_fixture.py

It builds ``CPnet([2, 8, 16, 32, 64], 3, 3)`` with seeded random weights, gives every BatchNorm
non-trivial running statistics and affine parameters (a few training-mode forwards on random data,
then random gamma/beta), switches to eval mode and writes

- ``tests/data/cpnet_small.pth``: ``torch.save`` of the state dict, exactly as cellpose saves models
  (including its ``diam_mean`` / ``diam_labels`` entries);
- ``tests/data/cpnet_small_io.npz``: ``x`` float32 (2, 2, 64, 48) input batch, ``out`` float32
  (2, 3, 64, 48) and ``style`` float32 (2, 64): CPnet's eval-mode outputs for ``x``.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from cellpose.resnet_torch import CPnet

NBASE = [2, 8, 16, 32, 64]
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def build_reference_net(seed: int = 0) -> CPnet:
    """A small CPnet in eval mode with random weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    net = CPnet(list(NBASE), 3, 3, diam_mean=17.0)
    net.diam_labels.data.fill_(21.5)
    with torch.no_grad():
        # Default init leaves gamma=1, beta=0: randomise them so the fixture exercises every term.
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        net.train()
        for _ in range(4):
            net(2.0 * torch.rand(4, NBASE[0], 32, 32) - 0.5)
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    net = build_reference_net(args.seed)
    generator = torch.Generator().manual_seed(args.seed + 1)
    x = torch.rand(2, NBASE[0], 64, 48, generator=generator)
    with torch.no_grad():
        out, style, _ = net(x)

    args.out.mkdir(parents=True, exist_ok=True)
    net.save_model(str(args.out / "cpnet_small.pth"))
    np.savez_compressed(
        args.out / "cpnet_small_io.npz",
        x=x.numpy(),
        out=out.numpy(),
        style=style.numpy(),
    )
    print(f"wrote {args.out / 'cpnet_small.pth'} and {args.out / 'cpnet_small_io.npz'}")


if __name__ == "__main__":
    main()
