"""Kill -9 soak: a grid killed at random points and resumed writes the records an uninterrupted run writes.

1. The grid runs once, uninterrupted, into its own results and cache directories (the reference).
2. The same grid runs into fresh directories and is killed with SIGKILL (its whole process group)
   at a random moment, ``--kills`` times, each time resumed by the same command; then it runs to
   the end.
3. Every record of the two runs is compared with the fields that say *when* or *how long* (or
   whether an encoder came from the cache, which a resumed run changes by design) removed; the
   rest must be equal, byte for byte as canonical JSON.

    PYTHONPATH=. python benchmarks/kill_soak.py --kills 20       # writes benchmarks/results/kill_soak.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict

# Fields that record time or cache provenance, nothing about the result.
VOLATILE = {"created", "stages", "train_wall_seconds", "train_cpu_seconds", "from_cache", "encoder_from_cache",
            "wall_seconds", "cpu_seconds", "machine", "cached"}


def stripped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: stripped(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stripped(v) for v in value]
    return value


def records(results: Path) -> Dict[str, str]:
    return {str(p.relative_to(results)): json.dumps(stripped(json.loads(p.read_text())), sort_keys=True)
            for p in sorted(results.rglob("seed*.json"))}


def command(grid: str, root: Path):
    return [sys.executable, "-m", "benchmark.run", "--grid", grid, "--results-dir", str(root / "results"),
            "--cache-dir", str(root / "cache"), "--no-progress", "--no-leaderboard"]


def run(cmd) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def soak(grid: str, kills: int, seed: int, work: Path) -> Dict[str, Any]:
    start = time.perf_counter()
    ref = run(command(grid, work / "ref"))
    if ref.wait() != 0:
        raise SystemExit(f"the uninterrupted run failed (exit {ref.returncode})")
    duration = time.perf_counter() - start
    # Kill moments are drawn over the first third of a full run, so most land while work remains; a
    # round ends when a restart finishes before its moment, and rounds (fresh directories, each
    # compared with the reference) repeat until ``kills`` kills have landed.
    rng, landed, rounds, equal, total, different = random.Random(seed), 0, 0, 0, 0, []
    ref_records = records(work / "ref" / "results")
    while landed < kills:
        rounds += 1
        here, finished = work / f"soak{rounds}", False
        while not finished:
            proc = run(command(grid, here))
            time.sleep(rng.uniform(0.5, max(1.0, duration / 3)))
            finished = proc.poll() is not None
            if not finished:
                os.killpg(proc.pid, signal.SIGKILL)  # the runner and anything it started
                landed += 1
            elif proc.returncode != 0:
                raise SystemExit(f"a resumed run failed (exit {proc.returncode})")
            proc.wait()
        got = records(here / "results")
        total += len(ref_records)
        equal += sum(ref_records[k] == got.get(k) for k in ref_records)
        different += [f"round {rounds}: {k}" for k in ref_records if ref_records[k] != got.get(k)]
    return {"duration": duration, "landed": landed, "rounds": rounds, "records": total, "equal": equal,
            "different": different}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", default="smoke")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="of the kill moments")
    p.add_argument("--output", type=Path, default=Path("benchmarks/results/kill_soak.md"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        r = soak(args.grid, args.kills, args.seed, Path(tmp))
    text = (f"# Kill -9 soak ({args.grid} grid)\n\n`PYTHONPATH=. python benchmarks/kill_soak.py --grid {args.grid} "
            f"--kills {args.kills} --seed {args.seed}`\n\n"
            f"Uninterrupted run: {r['duration']:.0f} s. Killed with SIGKILL (the whole process group) at {r['landed']} "
            f"random moments over {r['rounds']} rounds (fresh directories each), each time resumed by the same "
            f"command until it finished.\n\n"
            f"Records equal to the uninterrupted run's (without {', '.join(sorted(VOLATILE))}): "
            f"**{r['equal']}/{r['records']}**; missing or different: {r['different'] or 'none'}.\n")
    args.output.write_text(text)
    print(text)
    return 0 if r["equal"] == r["records"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
