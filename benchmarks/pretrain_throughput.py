"""Pre-training throughput: each method's loop against its own bare forward+backward, in one process.

    python benchmarks/pretrain_throughput.py [--width 16] [--blocks 2 2 2 2] [--batch 256] [--steps 6]
    python benchmarks/pretrain_throughput.py --methods simclr moco_v2 byol   # channels_last only, per method

Prints images/s (an image = one pre-training input, i.e. two augmented views) for:
  bare      encoder+head forward/backward + Adam on pre-loaded, pre-augmented tensors
  loop      the benchmark's loop: gather uint8 batch, batched augmentation, forward/backward, Adam
  pil       the same step fed by a per-image torchvision/PIL augmentation pipeline
each with and without channels_last, and the ratios loop/bare and pil/bare. Not a test: speed
claims live here, never in timed unit tests.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from benchmark.ssl.augment import augment
from benchmark.ssl.methods import METHODS
from benchmark.ssl.simclr import build_model, train_step, two_views
from benchmark.core.settings import AugmentConfig, PretrainConfig


def _time(fn, steps: int, batch: int) -> float:
    fn()  # warm-up: first steps allocate buffers and pick kernels
    fn()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps * batch / (time.perf_counter() - t)


def pil_pipeline():
    import torchvision.transforms as T  # why: the baseline a user would pick; the benchmark itself does not use it

    return T.Compose([T.RandomResizedCrop(32, scale=(0.08, 1.0)), T.RandomHorizontalFlip(),
                      T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(0.2),
                      T.ToTensor()])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--blocks", type=int, nargs="+", default=[2, 2, 2, 2])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--compile", action="store_true", help="also try torch.compile")
    p.add_argument("--methods", nargs="+", default=None, choices=METHODS.names(),
                   help="compare these methods (channels_last, Adam) instead of SimCLR's memory-format variants")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    b = args.batch
    rng = np.random.default_rng(0)
    data_np = rng.integers(0, 255, (4 * b, 32, 32, 3), dtype=np.uint8)
    data = torch.from_numpy(data_np).permute(0, 3, 1, 2)
    cfg = AugmentConfig()
    g = torch.Generator().manual_seed(0)
    pil = pil_pipeline()
    pil_images = [Image.fromarray(a) for a in data_np[:b]]
    print(f"threads={torch.get_num_threads()} width={args.width} blocks={args.blocks} batch={b}")
    variants = [("simclr", "contiguous", False, False, False), ("simclr", "channels_last", True, False, False),
                ("simclr", "channels_last+fused_adam", True, False, True)]
    if args.compile:
        variants.append(("simclr", "channels_last+compile", True, True, False))
    if args.methods:
        variants = [(m, f"{m}, channels_last", True, False, False) for m in args.methods]
    for method, label, cl, comp, fused in variants:
        torch.manual_seed(0)
        model = build_model(PretrainConfig(width=args.width, blocks=tuple(args.blocks), method=method))
        fmt = torch.channels_last if cl else torch.contiguous_format
        model = model.to(memory_format=fmt)
        if comp:
            model = torch.compile(model)
        trainable = [q for q in model.parameters() if q.requires_grad]  # momentum networks take no gradient
        opt = torch.optim.Adam(trainable, lr=1e-3, fused=True if fused else None)
        fixed = torch.rand(2 * b, 3, 32, 32).contiguous(memory_format=fmt)

        def bare():
            train_step(model, opt, fixed)

        def loop():
            idx = torch.randint(0, len(data), (b,), generator=g)
            x = data[idx].float().div_(255)
            train_step(model, opt, two_views(x, cfg, g, fmt))

        def pil_loop():
            views = torch.stack([pil(im) for im in pil_images] + [pil(im) for im in pil_images])
            train_step(model, opt, views.contiguous(memory_format=fmt))

        r_bare, r_loop, r_pil = (_time(f, args.steps, b) for f in (bare, loop, pil_loop))
        print(f"{label:>24}: bare {r_bare:7.1f} img/s | loop {r_loop:7.1f} ({r_loop / r_bare:.2f}× bare) | "
              f"per-image PIL {r_pil:7.1f} ({r_pil / r_bare:.2f}× bare)")

    augmentation_alone(data[:b], pil_images, cfg, g, pil)


def augmentation_alone(batch: torch.Tensor, pil_images, cfg: AugmentConfig, g: torch.Generator, pil) -> None:
    """One view of a batch: the batched tensor augmentation against torchvision's per-image PIL one."""
    t = time.perf_counter()
    for _ in range(4):
        augment(batch.float().div(255), cfg, g)
    aug = 4 * len(batch) / (time.perf_counter() - t)
    t = time.perf_counter()
    for im in pil_images:
        pil(im)
    per_image = len(pil_images) / (time.perf_counter() - t)
    print(f"augmentation alone (one view): batched {aug:,.0f} img/s, per-image PIL {per_image:,.0f} img/s "
          f"({aug / per_image:.1f}×)")


if __name__ == "__main__":
    main()
