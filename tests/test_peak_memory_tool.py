"""The memory-budget tool's parsing and table upkeep (benchmarks/peak_memory.py)."""

import importlib.util
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("peak_memory", Path(__file__).resolve().parents[1] / "benchmarks" / "peak_memory.py")
peak_memory = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(peak_memory)

REPORT = """\tCommand being timed: "python -c pass"
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03.50
\tMaximum resident set size (kbytes): 2097152
"""


def test_time_report_is_parsed():
    assert peak_memory.parse_time_report(REPORT) == {"rss_kib": 2097152, "wall_s": 3723.5}
    with pytest.raises(ValueError):
        peak_memory.parse_time_report("no report")


def test_a_label_keeps_one_row():
    table = peak_memory.upsert_row("", "job", "| job | a | 1 |")
    table = peak_memory.upsert_row(table, "other", "| other | b | 2 |")
    table = peak_memory.upsert_row(table, "job", "| job | c | 3 |")
    assert table.startswith("# Peak resident memory")
    assert table.count("| job |") == 1 and "| job | c | 3 |" in table and table.index("| other |") < table.index("| job |")


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="GNU time not installed")
def test_a_command_is_measured(tmp_path):
    out = tmp_path / "mem.md"
    rc = peak_memory.main(["--label", "alloc", "--limit-gib", "4", "--output", str(out), "--",
                           sys.executable, "-c", "b = bytearray(64 * 2 ** 20); b[::4096] = b'x' * len(b[::4096])"])
    assert rc == 0
    row = [ln for ln in out.read_text().splitlines() if ln.startswith("| alloc |")][0]
    gib = float(row.split("|")[3])
    assert 64 / 1024 <= gib < 1 and "| yes |" in row
