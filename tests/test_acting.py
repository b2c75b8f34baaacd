"""The board says, per attack, whether its undefended row lies clear of the clean encoder's (leaderboard.acting)."""

import matplotlib.pyplot as plt
import pytest

from board_records import attack_row, backdoor_record, record
from leaderboard.acting import ACTS, DOES_NOT_ACT, NO_INTERVAL, acting_note, heading_line, verdict
from leaderboard.aggregate import summary_table
from leaderboard.build import render_markdown
from leaderboard.plot import _baseline


def _undefended(records):
    return next(summary_table(records).itertuples())


def _indiscriminate(seed, drop):
    rec = dict(record(seed, [], 0.70, 0.70 - drop), attack="contrastive_poisoning", attack_kind="indiscriminate")
    rec["tasks"] = {"a": {"clean_accuracy": 0.70, "poisoned_accuracy": 0.70 - drop}}
    return dict(rec, metrics={"accuracy_drop": drop})


def test_a_targeted_attack_acts_only_when_its_interval_clears_the_clean_encoders():
    # 10 of 10 hits: Wilson [0.72, 1.00] against the clean encoder's 0 of 10 [0.00, 0.28].
    assert verdict(_undefended([attack_row("poisoned_encoder", 10)]))[0] == ACTS
    # 2 of 10 hits: [0.06, 0.51] overlaps [0.00, 0.28] — above the clean rate, but not clear of it.
    said, evidence = verdict(_undefended([attack_row("poisoned_encoder", 2)]))
    assert said == DOES_NOT_ACT and evidence == "ASR 0.20 [0.06, 0.51] against the clean encoder's 0.00 [0.00, 0.28]"


def test_a_backdoor_attack_is_judged_on_its_interval_over_seeds():
    strong = [backdoor_record(s, hits, 2) for s, hits in ((0, 90), (1, 95), (2, 92))]
    assert verdict(_undefended(strong))[0] == ACTS
    at_clean = [backdoor_record(s, hits, 3) for s, hits in ((0, 2), (1, 5), (2, 3))]
    assert verdict(_undefended(at_clean))[0] == DOES_NOT_ACT


def test_an_indiscriminate_attack_acts_when_its_drop_clears_zero():
    assert verdict(_undefended([_indiscriminate(s, d) for s, d in ((0, 0.10), (1, 0.12), (2, 0.11))]))[0] == ACTS
    said, evidence = verdict(_undefended([_indiscriminate(s, d) for s, d in ((0, 0.02), (1, -0.01), (2, 0.0))]))
    assert said == DOES_NOT_ACT and evidence.startswith("CA − PA +0.003 [")
    assert verdict(_undefended([_indiscriminate(0, 0.10)])) == (NO_INTERVAL, "CA − PA +0.100 (one seed)")


def test_the_note_groups_attacks_and_leaves_out_the_clean_run_and_defended_rows():
    recs = [attack_row("poisoned_encoder", 10), attack_row("icp", 1), attack_row("witches_brew", 10, defense="kmeans"),
            attack_row("none", 0)]
    note = acting_note(summary_table(recs))
    assert "Act: `poisoned_encoder`, ASR 1.00" in note and "Do not act: `icp`, ASR 0.10" in note
    assert "witches_brew" not in note and "`none`" not in note
    assert acting_note(summary_table([attack_row("none", 0)])) is None


def test_each_attack_heading_says_whether_its_rows_can_show_protection():
    recs = [attack_row("poisoned_encoder", 1), attack_row("icp", 10, defense="kmeans")]
    board = render_markdown(recs, figures=False)
    pe = board.split("### Attack `poisoned_encoder`")[1]
    assert pe.lstrip().startswith("Undefended: ASR 0.10") and "**does not act** here" in pe.split("|")[0]
    icp = board.split("### Attack `icp`")[1]
    assert icp.lstrip().startswith("Undefended row not run yet")
    summary = summary_table(recs)
    assert heading_line(summary[summary.attack == "icp"]) == icp.lstrip().split("\n")[0] + "\n"


def test_the_figure_shades_the_clean_interval_and_titles_the_verdict():
    fig, ax = plt.subplots()
    summary = summary_table([attack_row("poisoned_encoder", 10), attack_row("poisoned_encoder", 10, defense="kmeans")])
    assert _baseline(ax, summary) == " — acts"
    band = ax.patches[0]  # the shaded span: its vertical extent is the clean encoder's interval
    row = _undefended([attack_row("poisoned_encoder", 10)])
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx(row.clean_asr_ci)
    assert _baseline(ax, summary[summary.defense == "kmeans"]) == ""
    plt.close(fig)
