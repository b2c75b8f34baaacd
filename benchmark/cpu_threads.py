"""``--threads``, the flag every training command takes: declared once, checked and applied once.

CPU pre-training is bit-reproducible for one intra-op thread count and not across counts
(``benchmarks/results/thread_determinism.md``), so the setting is part of what a run reproduces;
each record keeps the count its encoders were trained with (``cost.encoders[].train_threads``).
"""

from __future__ import annotations

import argparse
from typing import Optional

import torch

from .core.errors import BenchmarkError


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch CPU threads (default: torch's); training is bit-reproducible for one "
                             "thread count, not across counts")


def apply_threads(threads: Optional[int]) -> None:
    """Set torch's intra-op threads, or refuse a count below one in the one-line form (exit 2)."""
    if threads is None:
        return
    if threads < 1:
        raise BenchmarkError(f"--threads must be a positive integer, got {threads}")
    torch.set_num_threads(threads)
