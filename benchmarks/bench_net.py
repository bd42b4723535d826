"""Network forward throughput: our CellposeNet against Cellpose 3.1.1.2's CPnet, same weights.

    .venv/bin/python benchmarks/bench_net.py [--batch 8] [--size 224] [--runs 7]

CPnet runs in the side venv that has cellpose installed (``--ref-python``, default
``.venv-ref3/bin/python``; see benchmarks/make_cpnet_fixture.py for how to make it), ours in this
interpreter's venv, each in its own worker process. The CPnet worker builds
``CPnet([2, 32, 64, 128, 256], 3, 3)`` with seeded random weights and random BatchNorm statistics
and saves it as a cellpose ``.pth``; ours loads that file with ``CellposeNet.from_cellpose_file``.
Both get the same random (batch, 2, size, size) input. After warm-up the parent asks the workers for
one timed forward at a time, in turns (ref, ours fast[, ours plain]), so that load from other
processes on the machine hits all of them alike, and prints the median per batch, the throughput
ratio (of the medians, and of the fastest runs: the steadier figure on a busy machine) and the
largest difference of the outputs relative to CPnet's largest output.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NBASE = [2, 32, 64, 128, 256]


def _worker(role: str, workdir: Path) -> None:
    """Answer 'run' (one timed forward, prints seconds), 'save' (outputs to npz), 'quit'."""
    import torch

    x = torch.from_numpy(np.load(workdir / "x.npy"))
    weights = workdir / "cpnet.pth"
    if role == "ref":
        from cellpose.resnet_torch import CPnet

        torch.manual_seed(0)
        net = CPnet(list(NBASE), 3, 3)
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.5, 0.5)
                    module.running_var.uniform_(0.5, 2.0)
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
        net.eval()
        net.save_model(str(weights))

        def forward():
            return net(x)[:2]
    else:
        sys.path.insert(0, str(ROOT))
        from inference.engine.net import CellposeNet

        net = CellposeNet.from_cellpose_file(weights)
        if role == "fast":
            net.prepare_for_inference()

        def forward():
            return net(x)

    print("ready", torch.__version__, torch.get_num_threads(), flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            command = line.strip()
            if command == "run":
                start = time.perf_counter()
                forward()
                print(time.perf_counter() - start, flush=True)
            elif command == "save":
                out, style = forward()
                np.savez(workdir / f"{role}.npz", out=out.numpy(), style=style.numpy())
                print("saved", flush=True)
            else:
                return


class _Worker:
    def __init__(self, python: str, role: str, workdir: Path):
        self.role = role
        self.proc = subprocess.Popen(
            [python, __file__, "--worker", role, "--workdir", str(workdir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        self.info = self._read()

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.role} worker died (see its stderr above)")
        return line.strip()

    def ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--with-plain", action="store_true",
                        help="also time our net without prepare_for_inference()")
    parser.add_argument("--ref-python", default=str(ROOT / ".venv-ref3" / "bin" / "python"))
    parser.add_argument("--worker", choices=["ref", "fast", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.workdir)
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rng = np.random.default_rng(0)
        x = rng.random((args.batch, NBASE[0], args.size, args.size), dtype=np.float32)
        np.save(workdir / "x.npy", x)
        workers = [_Worker(args.ref_python, "ref", workdir)]  # writes cpnet.pth first
        workers.append(_Worker(sys.executable, "fast", workdir))
        if args.with_plain:
            workers.append(_Worker(sys.executable, "plain", workdir))
        for w in workers:
            print(f"{w.role:>5}: torch {w.info.split()[1]}, {w.info.split()[2]} threads")
        times = {w.role: [] for w in workers}
        for i in range(args.warmup + args.runs):
            for w in workers:
                seconds = float(w.ask("run"))
                if i >= args.warmup:
                    times[w.role].append(seconds)
        for w in workers:
            w.ask("save")
            w.close()
        outputs = {w.role: np.load(workdir / f"{w.role}.npz") for w in workers}

    print(f"batch of {args.batch} tiles of {NBASE[0]}x{args.size}x{args.size}, "
          f"median of {args.runs} runs after {args.warmup} warm-up (all times per batch)")
    median = {role: statistics.median(t) for role, t in times.items()}
    labels = {"ref": "cellpose 3.1.1.2 CPnet", "fast": "CellposeNet, prepare_for_inference()",
              "plain": "CellposeNet, plain forward"}
    for role, t in times.items():
        print(f"  {labels[role]:<38} median {median[role]:.3f} s  "
              f"(min {min(t):.3f}, max {max(t):.3f})")
    ref = outputs["ref"]
    for role in times:
        if role == "ref":
            continue
        out_diff = np.abs(outputs[role]["out"] - ref["out"]).max() / np.abs(ref["out"]).max()
        style_diff = np.abs(outputs[role]["style"] - ref["style"]).max()
        print(f"  {role}: throughput ratio vs CPnet {median['ref'] / median[role]:.2f}x "
              f"(of the fastest runs {min(times['ref']) / min(times[role]):.2f}x), "
              f"max |out diff| / max |out| = {out_diff:.1e}, max |style diff| = {style_diff:.1e}")


if __name__ == "__main__":
    main()
