"""Where training runs: ``--device`` and ``--threads``, the flags every training command takes —
declared once, checked before any work and applied once.

The code is device-agnostic (cpu or cuda). CPU pre-training is bit-reproducible for one intra-op
thread count and not across counts (``benchmarks/results/thread_determinism.md``), so the thread
setting is part of what a run reproduces; each record keeps the count its encoders were trained with
(``cost.encoders[].train_threads``).
"""

from __future__ import annotations

import argparse
import re
from typing import Optional

import torch

from .core.errors import BenchmarkError

_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def add_placement_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda[:N]")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch CPU threads (default: torch's); training is bit-reproducible for one "
                             "thread count, not across counts")


def check_device(device: str) -> None:
    """Refuse, in the one-line form (exit 2), a device that is not cpu or cuda[:N], or a CUDA device this
    machine does not have — before anything is locked or written (``--device bogus`` was a traceback)."""
    if not _DEVICE.fullmatch(device):
        raise BenchmarkError(f"--device must be cpu or cuda[:N], got {device!r}")
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise BenchmarkError(f"--device {device}: no such CUDA device (found {torch.cuda.device_count()})")


def apply_threads(threads: Optional[int]) -> None:
    """Set torch's intra-op threads, or refuse a count below one in the one-line form (exit 2)."""
    if threads is None:
        return
    if threads < 1:
        raise BenchmarkError(f"--threads must be a positive integer, got {threads}")
    torch.set_num_threads(threads)


def apply_placement(args: argparse.Namespace) -> None:
    """Check ``args.device`` and apply ``args.threads``."""
    check_device(args.device)
    apply_threads(args.threads)
