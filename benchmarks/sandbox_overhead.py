"""What running a submitted defense in its own process costs per hook call (issue: isolated plugins).

The same trivial defense twice in one process — defined here (in-process, as a built-in runs) and
loaded from a temporary submission folder (isolated, as every submitted defense runs) — timing a
config hook (``adjust_probe``: a round trip with no payload), ``sanitize`` on N pre-training images
(the payload crosses the pipe both ways, plus the content ordering) and starting the child. Writes
``benchmarks/results/sandbox_overhead.md``.

    PYTHONPATH=. python benchmarks/sandbox_overhead.py --images 5000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import defenses
from benchmark import plugins
from benchmark.core.settings import ProbeConfig
from defenses.base import Defense

PLUGIN = '''import numpy as np
from defenses.base import Defense, register_defense


@register_defense("overhead_probe")
class KeepAll(Defense):
    stage = "pre"

    def sanitize(self, images, rng, trainer=None):
        return np.ones(len(images), bool)
'''


class KeepAll(Defense):
    name, stage = "overhead_local", "pre"

    def sanitize(self, images, rng, trainer=None):
        return np.ones(len(images), bool)


def per_call(fn, repeats: int) -> float:
    fn()  # warm
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=5000, help="pre-training images sanitize is given")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--output", type=Path, default=Path("benchmarks/results/sandbox_overhead.md"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "overhead_probe"
        folder.mkdir()
        (folder / "defense.py").write_text(PLUGIN)
        (folder / "README.md").write_text("authors: benchmark\npaper: none\nthreat model: none\n")
        start = time.perf_counter()
        plugins.load_submission(folder)
        isolated = defenses.create_defense("overhead_probe")
        startup = time.perf_counter() - start
        local = KeepAll()
        images = np.random.default_rng(0).integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
        rng = np.random.default_rng(1)
        rows = []
        for label, call in [("adjust_probe (no payload)", lambda d: d.adjust_probe(ProbeConfig())),
                            (f"sanitize ({args.images} images)", lambda d: d.sanitize(images, rng))]:
            a, b = per_call(lambda: call(local), args.repeats), per_call(lambda: call(isolated), args.repeats)
            rows.append(f"| {label} | {a * 1e3:.3f} | {b * 1e3:.1f} | {b - a:.3f} s |")
    text = ("# Isolated plugins: cost per hook call\n\n"
            f"Same trivial defense in-process and in its child process, one Python process, {args.repeats} calls each "
            f"(`PYTHONPATH=. python benchmarks/sandbox_overhead.py --images {args.images}`).\n\n"
            f"Starting a plugin's child (interpreter, torch, the plugin) and creating an instance: {startup:.1f} s, "
            "once per plugin per command.\n\n"
            "| hook call | in-process ms | isolated ms | added per call |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
