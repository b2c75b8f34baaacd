"""Peak resident memory of a benchmark command, measured with GNU ``/usr/bin/time -v``.

The guide's memory budget: a cpu-tier job under 4 GiB resident, the test suite under 8 GiB. This
runs one command under ``/usr/bin/time -v`` (which reports the largest peak resident set of any
single process in the command's tree, not a sum over processes running at once), and records label, command, peak RSS, wall time and the budget it
is held to as one row of ``benchmarks/results/peak_memory.md`` (a rerun with the same label
replaces its row). The command's own output passes through unchanged.

    python benchmarks/peak_memory.py --label "test suite" --limit-gib 8 -- python -m pytest -q
    python benchmarks/peak_memory.py --label "cpu job: kmeans vs PoisonedEncoder" --limit-gib 4 -- \\
        python -m benchmark.run --tier cpu --defense kmeans --attack poisoned_encoder --seeds 0 --data-root ../shared/data

Exit code: the command's, or 2 when ``/usr/bin/time`` is missing or the arguments are bad.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "peak_memory.md"
HEADER = ("# Peak resident memory\n\nMeasured by `benchmarks/peak_memory.py` (GNU `/usr/bin/time -v`: the largest "
          "peak resident set of any single process in the command's tree; processes running at once, e.g. Ray "
          "workers in the test suite, are not summed). Budgets from the developers' guide: a cpu-tier job "
          "< 4 GiB, the test suite < 8 GiB.\n\n"
          "| label | command | peak RSS (GiB) | budget (GiB) | within | wall (min) | date |\n"
          "|---|---|---|---|---|---|---|\n")


def parse_time_report(text: str) -> dict:
    """Peak RSS (KiB) and wall seconds out of ``/usr/bin/time -v``'s report."""
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if rss is None or wall is None:
        raise ValueError("no /usr/bin/time -v report found")
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = seconds * 60 + float(part)
    return {"rss_kib": int(rss.group(1)), "wall_s": seconds}


def upsert_row(table: str, label: str, row: str) -> str:
    """The results table with ``label``'s row replaced (or appended)."""
    lines = table.splitlines(keepends=True) if table else [HEADER]
    kept = [ln for ln in lines if not ln.startswith(f"| {label} |")]
    return "".join(kept).rstrip("\n") + "\n" + row + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--label", required=True, help="row name in the results table")
    p.add_argument("--limit-gib", type=float, required=True, help="the budget this command is held to")
    p.add_argument("--output", type=Path, default=RESULTS, help=f"results table (default: {RESULTS})")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = p.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        print("error: give the command to measure after --", file=sys.stderr)
        return 2
    if not Path("/usr/bin/time").exists():
        print("error: /usr/bin/time (GNU time) is not installed", file=sys.stderr)
        return 2
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        rc = subprocess.call(["/usr/bin/time", "-v", "-o", report.name, *cmd])
        stats = parse_time_report(Path(report.name).read_text())
    gib = stats["rss_kib"] / 2 ** 20
    row = (f"| {args.label} | `{shlex.join(cmd)}` | {gib:.2f} | {args.limit_gib:g} | "
           f"{'yes' if gib < args.limit_gib else '**no**'} | {stats['wall_s'] / 60:.1f} | "
           f"{datetime.now(timezone.utc).date()}{'' if rc == 0 else f' (exit {rc})'} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(upsert_row(args.output.read_text() if args.output.exists() else "", args.label, row))
    print(f"peak RSS {gib:.2f} GiB (budget {args.limit_gib:g} GiB), wall {stats['wall_s'] / 60:.1f} min → {args.output}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
