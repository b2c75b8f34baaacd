"""Resident memory while one process trains ensemble members one after another (bagging): as the
trainer does it, and with each of its two memory measures undone.

The measures: a trained encoder drops its last step's gradients (allocated among the step's large
buffers, they pin those heap regions for as long as the member is kept), and freed heap goes back to
the OS after each encoder (:mod:`benchmark.core.memory`). Three child processes each train the same
M members of a tier's bagging configuration (random images, every member kept, as bagging keeps
them) through the encoder cache and print their resident set after each member: "neither" (both
undone: the trainer before 2026-12-04), "gradients dropped" (release undone), and the default.
Writes ``benchmarks/results/member_memory.md``.

    python benchmarks/member_memory.py --tier cpu_continued --members 4
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from child_process import run_json_child

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "member_memory.md"


def rss_mib() -> float:
    """This process's resident set (Linux /proc)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


MODES = {"neither": "neither measure", "gradients": "gradients dropped", "default": "gradients dropped + release"}


def child(tier: str, members: int, epochs: int, mode: str) -> None:
    """Train ``members`` bagging members and print one JSON list of RSS (MiB): before, after each."""
    import benchmark.encoder_cache as encoder_cache  # imported here: the parent process never loads torch
    import torch
    from benchmark.pipeline import load_config
    from defenses.bagging import Bagging

    if mode != "default":
        encoder_cache.release_freed_memory = lambda: False
    if mode == "neither":  # the trainer's only Module.zero_grad call is the one dropping the gradients
        torch.nn.Module.zero_grad = lambda self, set_to_none=True: None
    torch.set_num_threads(2)
    cfg = load_config(tier, [])
    bagging = Bagging(**cfg.entry_params("defense", "bagging"))
    member_cfg = bagging.base_config(cfg.pretrain)
    member_cfg = replace(member_cfg, epochs=epochs or member_cfg.epochs)
    images = np.random.default_rng(0).integers(0, 256, (members * bagging.subsample_size, 32, 32, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        cache = encoder_cache.EncoderCache(Path(tmp), progress=False)
        kept, rss = [], [rss_mib()]
        for i in range(members):
            chunk = images[i * bagging.subsample_size:(i + 1) * bagging.subsample_size]
            kept.append(cache.get(chunk, member_cfg, 1000 + i, f"member {i + 1}"))
            rss.append(rss_mib())
    print(json.dumps(rss))


def run_child(args, mode: str):
    return run_json_child(__file__, ["--child", mode, "--tier", args.tier, "--members", str(args.members),
                                     "--epochs", str(args.epochs)])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", default="cpu_continued", help="tier whose [defense.bagging] config the members use")
    p.add_argument("--members", type=int, default=4, help="members to train in each child (default: 4)")
    p.add_argument("--epochs", type=int, default=0, help="epochs per member (default: 0, the tier's bagging epochs)")
    p.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.tier, args.members, args.epochs, args.child)
        return 0
    rss = {mode: run_child(args, mode) for mode in MODES}

    def growth(r):  # MiB per member after the first (the first sets up buffers every later one reuses)
        return (r[-1] - r[1]) / max(len(r) - 2, 1)
    epochs = args.epochs or "the tier's"
    rows = "\n".join(f"| {i} | " + " | ".join(f"{rss[m][i]:.0f}" for m in MODES) + " |" for i in range(args.members + 1))
    summary = "; ".join(f"{label}: {rss[m][-1]:.0f} MiB after {args.members}, {growth(rss[m]):+.0f} MiB per member "
                        f"after the first" for m, label in MODES.items())
    text = (f"# Resident memory per bagging member\n\n`python benchmarks/member_memory.py --tier {args.tier} "
            f"--members {args.members}" + (f" --epochs {args.epochs}" if args.epochs else "") + "` "
            f"({datetime.now(timezone.utc):%Y-%m-%d}): three processes train the same {args.members} members of the "
            f"tier's bagging configuration ({epochs} epochs each) and keep them, as bagging does. {summary}. "
            "The members' own weights are ~3 MiB each.\n\n"
            f"| members trained | {' | '.join(f'RSS MiB, {label}' for label in MODES.values())} |\n|---|---|---|---|\n"
            + rows + "\n")
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
