"""A board lists every cell its grid file declares: measured seeds, and the rest pending."""

from types import SimpleNamespace

from benchmark.grid import Job
from board_records import RECORDS
from leaderboard import build
from leaderboard.coverage import coverage, pending_note


def test_coverage_counts_declared_seeds_with_records():
    jobs = [Job("none", "none", s) for s in (0, 1)] + [Job("poisoned_encoder", d, s) for d in ("none", "kmeans") for s in (0, 1)]
    cov = coverage(RECORDS + [dict(RECORDS[0], attack="icp")], jobs)   # the icp record is outside the grid
    assert cov == {("none", "none"): (0, 2), ("poisoned_encoder", "kmeans"): (0, 2), ("poisoned_encoder", "none"): (2, 2)}
    assert pending_note("g", cov).startswith("Grid `g` declares 6 jobs; 2 have records and 4 are still to run.")
    assert pending_note("g", {("a", "d"): (3, 3)}) is None


def test_board_lists_every_declared_cell_and_marks_the_missing_ones_pending(monkeypatch):
    grid = SimpleNamespace(name="g", jobs=[Job("poisoned_encoder", d, s) for d in ("none", "bagging") for s in (0, 1, 2)]
                           + [Job("icp", "none", 0)])
    monkeypatch.setattr(build, "declared_grid", lambda tier, grid_hash: grid)
    text = build.render_markdown(RECORDS)
    assert "### Attack `icp`" in text                                     # an attack with no record still gets its table
    assert "| ·      | bagging   | 0/3     | ·         | pending " in text
    assert "| none      | 2/3     | 6 " in text                           # 2 of the grid's 3 seeds measured
    assert "declares 7 jobs; 2 have records and 5 are still to run" in text
    assert "pending" not in build.render_markdown(RECORDS).split("Grid `g`")[0].split("### Attack `poisoned_encoder`")[0] \
        .split("### Attack `icp`")[0]                                     # nothing pending before the first table
