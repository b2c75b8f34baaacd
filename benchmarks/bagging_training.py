"""How to train bagging's many small base encoders fastest on this machine.

    python benchmarks/bagging_training.py [--models 8] [--batch 250] [--steps 3] [--width 16]

Bagging (PoisonedEncoder §6.2) pre-trains M base encoders on subsamples of k = 500 inputs. Each
is small work (batches of 250), so the question is how to fill the cores. Measured in one process,
same encoder (the cpu tier's ResNet18 width 16, 2 blocks/stage, SimCLR step with NT-Xent and Adam):

1. one by one, all threads (the baseline; what ``defenses/bagging.py`` does);
2. several models per batched step: the M encoders fused into one network with grouped
   convolutions (groups = M; each group is one model, BatchNorm channels never mix), summed loss —
   mathematically M independent SimCLR steps, as ``torch.func.vmap`` over convolutions would do;
3. one process per core, one thread each, models split between the processes.

Prints images/s per strategy and the ratio to the baseline; results/bagging_training.md keeps them.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.multiprocessing as mp
from torch import nn

from benchmark.ssl.losses import nt_xent
from benchmark.ssl.simclr import SimCLRModel, build_encoder
from benchmark.core.settings import PretrainConfig


def _grouped_encoder(m: int, width: int, blocks) -> nn.Module:
    """M CIFAR ResNets as one network: every conv has M groups, so no channel crosses models."""
    def block(cin, cout, stride):
        body = nn.Sequential(nn.Conv2d(cin * m, cout * m, 3, stride, 1, groups=m, bias=False), nn.BatchNorm2d(cout * m),
                             nn.ReLU(), nn.Conv2d(cout * m, cout * m, 3, 1, 1, groups=m, bias=False),
                             nn.BatchNorm2d(cout * m))
        short = (nn.Sequential(nn.Conv2d(cin * m, cout * m, 1, stride, groups=m, bias=False), nn.BatchNorm2d(cout * m))
                 if stride != 1 or cin != cout else nn.Identity())
        return body, short

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3 * m, width * m, 3, 1, 1, groups=m, bias=False),
                                      nn.BatchNorm2d(width * m), nn.ReLU())
            self.bodies, self.shorts = nn.ModuleList(), nn.ModuleList()
            cin = width
            for stage, n in enumerate(blocks):
                cout = width * 2 ** stage
                for i in range(n):
                    b, s = block(cin, cout, 2 if (i == 0 and stage > 0) else 1)
                    self.bodies.append(b)
                    self.shorts.append(s)
                    cin = cout
            d = cin
            # The projection head per model as grouped 1×1 convolutions on the pooled features.
            self.head = nn.Sequential(nn.Conv1d(d * m, d * m, 1, groups=m, bias=False), nn.BatchNorm1d(d * m), nn.ReLU(),
                                      nn.Conv1d(d * m, max(16, d // 4) * m, 1, groups=m))
            self.m, self.out = m, max(16, d // 4)

        def forward(self, x):
            x = self.stem(x)
            for b, s in zip(self.bodies, self.shorts):
                x = torch.relu(b(x) + s(x))
            z = self.head(nn.functional.adaptive_avg_pool2d(x, 1).flatten(2))
            return z.view(z.shape[0], self.m, self.out)

    return Res()


def _steps_separate(models, opts, views, steps):
    for _ in range(steps):
        for model, opt, v in zip(models, opts, views):
            b = v.shape[0] // 2
            z = model(v)
            loss = nt_xent(z[:b], z[b:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def _worker(args):
    n_models, cfg, batch, steps = args
    torch.set_num_threads(1)
    models = [SimCLRModel(build_encoder(cfg)).to(memory_format=torch.channels_last) for _ in range(n_models)]
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
    views = [torch.rand(2 * batch, 3, 32, 32).contiguous(memory_format=torch.channels_last) for _ in models]
    _steps_separate(models, opts, views, 1)  # warm-up
    t = time.perf_counter()
    _steps_separate(models, opts, views, steps)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=8)
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = PretrainConfig(width=args.width, blocks=(2, 2, 2, 2))
    m, b, steps = args.models, args.batch, args.steps
    images = m * b * steps  # images (2 views each) per strategy
    cl = torch.channels_last

    models = [SimCLRModel(build_encoder(cfg)).to(memory_format=cl) for _ in range(m)]
    opts = [torch.optim.Adam(x.parameters(), lr=1e-3) for x in models]
    views = [torch.rand(2 * b, 3, 32, 32).contiguous(memory_format=cl) for _ in models]
    _steps_separate(models, opts, views, 1)
    t = time.perf_counter()
    _steps_separate(models, opts, views, steps)
    base = images / (time.perf_counter() - t)

    grouped = _grouped_encoder(m, args.width, (2, 2, 2, 2)).to(memory_format=cl)
    gopt = torch.optim.Adam(grouped.parameters(), lr=1e-3)
    gviews = torch.cat(views, 1).contiguous(memory_format=cl)  # model i's views are channels 3i..3i+2

    def gstep():
        z = grouped(gviews)
        loss = sum(nt_xent(z[:b, i], z[b:, i]) for i in range(m))  # sum: each model gets its own gradient
        gopt.zero_grad(set_to_none=True)
        loss.backward()
        gopt.step()
    gstep()
    t = time.perf_counter()
    for _ in range(steps):
        gstep()
    fused = images / (time.perf_counter() - t)

    procs = args.threads
    with mp.get_context("spawn").Pool(procs) as pool:
        secs = pool.map(_worker, [(m // procs, cfg, b, steps)] * procs)
    parallel = (m // procs) * procs * b * steps / max(secs)

    rows = [("one by one, %d threads" % args.threads, base), (f"{m} models per grouped step", fused),
            (f"{procs} processes × 1 thread", parallel)]
    print(f"{m} base encoders (width {args.width}, 2 blocks/stage), batch {b}, {steps} timed steps each")
    print("| strategy | images/s | × one by one |\n|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} | {rate / base:.2f} |")


if __name__ == "__main__":
    main()
