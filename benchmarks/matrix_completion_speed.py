"""The matrix_completion defense's low-rank step: warm-started power step vs a full SVD per iteration.

    python benchmarks/matrix_completion_speed.py [--images 500] [--iterations 20] [--dataset cifar10 --data-root DIR]

Both run soft-impute with the defense's keep, rank and shrink on the same masked CIFAR-sized
matrices (3 per image) in this process; we print seconds per 10k images (extrapolated linearly)
and how far apart the two estimates are. The defense uses the power step; the full SVD is the
textbook soft-impute it approximates. Results: benchmarks/results/matrix_completion_speed.md.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmark.data import load_split
from defenses.matrix_completion import complete_low_rank


def full_svd_impute(x, observed, rank, iterations, shrink):
    fill = torch.where(observed, x, torch.zeros_like(x))
    low = fill
    for _ in range(iterations):
        u, s, vh = torch.linalg.svd(fill, full_matrices=False)
        s = (s[:, :rank] - shrink * s[:, :1]).clamp_min(0)
        low = (u[..., :rank] * s[:, None, :]) @ vh[..., :rank, :]
        fill = torch.where(observed, x, low)
    return low


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--dataset", default="synthetic", help="default: the embedded synthetic set")
    p.add_argument("--data-root", default=None, metavar="DIR")
    args = p.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    images = load_split(args.dataset, "train", data_root=args.data_root, limit=args.images).images
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().reshape(-1, 32, 32)
    observed = torch.rand(len(x), 32, 32, generator=g) < 0.5
    times = {}
    for name, fn in (("power step (the defense)", lambda: complete_low_rank(x, observed, 8, args.iterations, 0.01, g)),
                     ("full SVD", lambda: full_svd_impute(x, observed, 8, args.iterations, 0.01))):
        start = time.perf_counter()
        out = fn()
        times[name] = (time.perf_counter() - start, out)
    per_10k = {k: t * 10_000 / args.images * 100 / args.iterations for k, (t, _) in times.items()}
    (a, fast), (b, slow) = times["power step (the defense)"], times["full SVD"]
    gap = float((fast - slow).norm() / slow.norm())
    for k, v in per_10k.items():
        print(f"{k:26} {v / 60:6.1f} min per 10k images at 100 iterations")
    print(f"power step is {b / a:.1f}x faster; relative gap between the estimates {gap:.3f}")


if __name__ == "__main__":
    main()
