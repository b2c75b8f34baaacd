"""Our SimCLR step against the pipeline a user would pick instead: lightly's transforms and loss (issue 22).

    pip install --no-deps lightly==1.6.0 lightning-utilities   # lightly's full deps pull pytorch-lightning
    python benchmarks/lightly_comparison.py [--threads 1] [--batch 256] [--steps 8] [--workers 0 2]

Same encoder and projection head (ResNet18, CIFAR stem, width 16), same Adam, same batch, in one
process, rounds interleaved so that a neighbour's load falls on every pipeline alike:
  ours     the benchmark's loop: gather a uint8 batch, the batched tensor augmentation
           (`benchmark.ssl.augment`), NT-Xent (`benchmark.ssl.losses.nt_xent`)
  lightly  a torchvision DataLoader over PIL images with lightly's `SimCLRTransform` set to the
           same recipe (crop 0.08–1, flip, jitter 0.4/0.4/0.4/0.1 at p 0.8, grayscale 0.2, no blur,
           no normalisation — lightly's CIFAR-10 settings) and lightly's `NTXentLoss` (τ 0.5)
Images/s counts pre-training inputs (two views each). Before timing, both losses are evaluated on
the same projections: they are the same function, so the comparison is of the pipelines alone.
Not a test: speed claims live here.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, Dict, Iterator, List

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from benchmark.core.settings import AugmentConfig, PretrainConfig
from benchmark.ssl.losses import nt_xent
from benchmark.ssl.simclr import build_model, train_step, two_views

try:
    from lightly.loss import NTXentLoss
    from lightly.transforms import SimCLRTransform
except ImportError as exc:  # the comparison needs lightly; the benchmark itself never imports it
    raise SystemExit(f"lightly is not installed ({exc}); see this file's docstring") from None


class PilImages(Dataset):
    """uint8 HWC images served as PIL images through a transform, the way a torchvision user loads them."""

    def __init__(self, images: np.ndarray, transform: Callable):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i]))


def lightly_transform() -> SimCLRTransform:
    return SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0, normalize=None)


def endless(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def check_same_loss(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """|ours − lightly's| on the same projections (a sanity check that the losses agree)."""
    return abs(float(nt_xent(z1, z2, 0.5)) - float(NTXentLoss(temperature=0.5)(z1, z2)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=16, help="encoder width (the cpu tiers': 16)")
    p.add_argument("--batch", type=int, default=256, help="pre-training batch size")
    p.add_argument("--steps", type=int, default=8, help="timed steps per round and pipeline")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                   help="DataLoader worker counts to try for lightly's pipeline")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    b = args.batch
    images = np.random.default_rng(0).integers(0, 255, (8 * b, 32, 32, 3), dtype=np.uint8)
    data = torch.from_numpy(images).permute(0, 3, 1, 2)
    torch.manual_seed(0)
    model = build_model(PretrainConfig(width=args.width)).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    z = torch.randn(2, 64, 128)
    print(f"threads={torch.get_num_threads()} width={args.width} batch={b}; "
          f"|NT-Xent ours − lightly| on the same projections: {check_same_loss(z[0], z[1]):.2e}")

    cfg, g = AugmentConfig(), torch.Generator().manual_seed(0)
    criterion = NTXentLoss(temperature=0.5)

    def ours() -> None:
        idx = torch.randint(0, len(data), (b,), generator=g)
        train_step(model, opt, two_views(data[idx].float().div_(255), cfg, g))

    def lightly_step(batches: Iterator) -> Callable[[], None]:
        def step() -> None:
            v1, v2 = next(batches)
            out = model(torch.cat([v1, v2]).contiguous(memory_format=torch.channels_last))
            loss = criterion(out[:b], out[b:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    pipelines = {"ours": (ours, 1)}
    for w in args.workers:
        loader = DataLoader(PilImages(images, lightly_transform()), batch_size=b, shuffle=True, drop_last=True,
                            num_workers=w, persistent_workers=w > 0, prefetch_factor=2 if w else None)
        # Batches the workers pre-fetched while another pipeline was timed are drained untimed.
        pipelines[f"lightly, {w} workers"] = (lightly_step(endless(loader)), 1 + 2 * w)
    rates: Dict[str, List[float]] = {name: [] for name in pipelines}
    for _ in range(args.rounds):
        for name, (fn, untimed) in pipelines.items():
            rates[name].append(timed(fn, args.steps, b, untimed))
    report(rates)


def timed(fn: Callable[[], None], steps: int, batch: int, untimed: int) -> float:
    """Images/s over ``steps`` steps after ``untimed`` ones (warm-up, pre-fetched batches)."""
    for _ in range(untimed):
        fn()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps * batch / (time.perf_counter() - t)


def report(rates: dict) -> None:
    ours = float(np.median(rates["ours"]))
    print("| pipeline | img/s per round | median | ours / this |\n|---|---|---|---|")
    for name, r in rates.items():
        med = float(np.median(r))
        print(f"| {name} | {', '.join(f'{x:.1f}' for x in r)} | {med:.1f} | {ours / med:.2f} |")


if __name__ == "__main__":
    main()
