"""Is CPU pre-training bit-reproducible across intra-op thread counts? Weight digests, one per run.

Child processes each pre-train the same encoder (the tier's pre-training config, ``--epochs`` epochs,
``--images`` random images, seed 0, from the tier's backbone on a continued tier) with a given
``torch.set_num_threads`` and print the sha256 of its weights. Same digest ⇒ same encoder. The encoder
cache keys an encoder by content, not by thread count, so a run with another ``--threads`` (or on
another machine) that retrains a key makes another copy of it — what ``leaderboard/clean_copies.py``
reports on the board. Writes ``benchmarks/results/thread_determinism.md``.

    python benchmarks/thread_determinism.py --tier cpu_continued --threads 1 2 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from child_process import run_json_child

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "thread_determinism.md"


def child(tier: str, threads: int, epochs: int, images: int) -> None:
    """Pre-train once with ``threads`` intra-op threads; print {digest, last loss} as JSON."""
    import torch  # imported here: the parent process never loads torch
    from benchmark.backbone import resolve
    from benchmark.pipeline import load_config
    from benchmark.ssl.simclr import pretrain

    torch.set_num_threads(threads)
    cfg = load_config(tier, []).pretrain
    cfg = replace(cfg, epochs=epochs)
    data = np.random.default_rng(0).integers(0, 256, (images, 32, 32, 3), dtype=np.uint8)
    res = pretrain(data, cfg, 0, "cpu", None, False, init=resolve(cfg.init).path if cfg.init else None)
    h = hashlib.sha256()
    for name, tensor in sorted(res.encoder.state_dict().items()):
        h.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
    print(json.dumps({"digest": h.hexdigest(), "loss": res.losses[-1] if res.losses else None}))


def run_child(args, threads: int) -> dict:
    return run_json_child(__file__, ["--child", str(threads), "--tier", args.tier, "--epochs", str(args.epochs),
                                     "--images", str(args.images)])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", default="cpu_continued", help="tier whose pre-training config is run")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2, 1, 2], help="one child per entry (default: 1 2 1 2)")
    p.add_argument("--epochs", type=int, default=1, help="pre-training epochs per child (default: 1)")
    p.add_argument("--images", type=int, default=1024, help="random training images (default: 1024)")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.tier, args.child, args.epochs, args.images)
        return 0
    runs = [(t, run_child(args, t)) for t in args.threads]
    by_threads = {}
    for t, r in runs:
        by_threads.setdefault(t, set()).add(r["digest"])
    same_setting = all(len(d) == 1 for d in by_threads.values())
    distinct = len({r["digest"] for _, r in runs})
    rows = "\n".join(f"| {i + 1} | {t} | `{r['digest'][:16]}` | {r['loss']:.9f} |" for i, (t, r) in enumerate(runs))
    text = (f"# Pre-training across thread counts\n\n`python benchmarks/thread_determinism.py --tier {args.tier} "
            f"--threads {' '.join(map(str, args.threads))} --epochs {args.epochs} --images {args.images}` "
            f"({datetime.now(timezone.utc):%Y-%m-%d}): {len(runs)} processes pre-train the same encoder; "
            f"{distinct} distinct weight digests for {len(by_threads)} thread settings. Same setting, same weights: "
            f"{'yes' if same_setting else 'no'}.\n\n| run | threads | weights sha256 | last epoch loss |\n|---|---|---|---|\n"
            + rows + "\n")
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
