"""The board's sentences that read the paper's claims off the records (leaderboard.paper_comparison)."""

import pytest

from board_records import RECORDS, attack_row, record
from leaderboard.aggregate import early_stopping_table, pooled_targets, summary_table
from leaderboard.build import render_markdown
from leaderboard.paper_comparison import (attack_sentence, bagging_sentence, certified_sizes_sentence, cosine_sentence,
                                          curve_sentence)


def test_paper_comparison_reads_the_attack_ordering_off_the_intervals():
    strong = [attack_row("poisoned_encoder", 30, 30), attack_row("icp", 0, 30), attack_row("witches_brew", 0, 30)]
    assert "lies above both baselines', as in the paper" in attack_sentence(summary_table(strong))
    tied = [attack_row("poisoned_encoder", 3), attack_row("icp", 2), attack_row("witches_brew", 0)]
    text = attack_sentence(summary_table(tied))
    assert "does **not** lie above ICP and Witches' Brew's" in text and "paper 0.8 / 0.9 / 0.5, ours 0.30" in text
    assert "cannot be read" in attack_sentence(summary_table(tied[:2]))
    board = render_markdown(tied)
    assert "### How this compares with the paper" in board and "1,000 p images for 20 epochs, 10 targets" in board


def test_early_stopping_curves_are_pooled_over_seeds_and_quoted():
    def curve(axis, x, hits, pa):
        label = {"axis": axis, "pretrain_epoch": x} if axis == "pretrain_epochs" else {"axis": axis, "probe_epochs": x}
        return {"label": label, "probe_epochs": x if axis == "probe_epochs" else 100, "asr": hits / 3, "asr_hits": hits,
                "n_targets": 3, "outer_objective": 0.5, "poisoned_accuracy": {"a": pa, "b": pa + 0.2}}

    recs = [dict(record(s, [True, False, False], 0.7, 0.7), defense="early_stopping",
                 curves=[curve("pretrain_epochs", 5, h5, 0.4), curve("pretrain_epochs", 10, 2, 0.6), curve("probe_epochs", 20, 1, 0.5)])
            for s, h5 in ((0, 0), (1, 1))]
    df = early_stopping_table(recs)
    row = df[(df.axis == "pretrain_epochs") & (df.x == 5)].iloc[0]
    assert (row.hits, row.n) == (1, 6) and row.asr == pytest.approx(1 / 6) and row.pa == pytest.approx(0.5)
    assert curve_sentence(recs) == (" Curves (6 targets per point): pre-training epochs 5/10: ASR 0.17/0.67, "
                                    "PA 0.500/0.700; downstream epochs 20: ASR 0.33, PA 0.600.")
    assert curve_sentence(RECORDS) == ""


def test_pooled_targets_pairs_each_targets_cosine_with_the_clean_encoders():
    t = dict(clean_prediction=0, poisoned_prediction=1, target_class=1, true_class=0, n_references=50, task="a")
    m = pooled_targets([dict(t, clean_cosine=c, poisoned_cosine=c + d) for c, d in ((0.1, 0.01), (0.9, 0.03))])
    # Shifts 0.01 and 0.03: mean 0.02, sd 0.01414, t_{0.975,1} = 12.7062 → half-width 0.12706.
    assert m["outer_shift"] == pytest.approx(0.02) and m["outer_shift_ci"][1] == pytest.approx(0.02 + 0.12706, abs=1e-4)
    assert m["outer"] == pytest.approx(0.52) and m["clean_outer"] == pytest.approx(0.5)
    assert pooled_targets([])["outer_shift"] != pooled_targets([])["outer_shift"]  # nan


def test_cosine_sentence_pairs_the_attacks_on_the_targets_they_share():
    def rec(attack, seed, cosines):
        r = dict(attack_row(attack, 0, n=len(cosines)), seed=seed)
        r["targets"] = [dict(t, index=i, poisoned_cosine=c) for i, (t, c) in enumerate(zip(r["targets"], cosines))]
        return r
    pe, icp = rec("poisoned_encoder", 0, [0.5, 0.6, 0.7]), rec("icp", 0, [0.4, 0.5, 0.6])
    # WB differences −0.1, +0.1, −0.1: mean −0.0333, se 0.0667, t_{0.975,2} = 4.3027 → ±0.2868 (+0.2535 rounds up).
    wb = rec("witches_brew", 0, [0.6, 0.5, 0.8])
    text = cosine_sentence([pe, icp, wb])
    assert "ICP's by +0.100 [+0.100, +0.100] (above; 3 targets)" in text
    assert "Witches' Brew's by -0.033 [-0.320, +0.254] (not separable from; 3 targets)" in text
    # Another seed's targets are other targets: nothing to pair.
    assert cosine_sentence([pe, rec("icp", 1, [0.1, 0.1, 0.1])]) == ""


def test_bagging_sentence_states_the_ensemble_and_the_votes_a_certificate_needs():
    rec = dict(record(0, [False], 0.7, 0.6), defense="bagging", n_clean_pretrain=5000,
               config={"defense": {"params": {"n_models": 10, "subsample_size": 500, "alpha": 0.001}}})
    rec["targets"] = [dict(rec["targets"][0], task="two", votes=[6, 4]), dict(rec["targets"][0], task="ten", votes=[1] * 10)]
    # log2(2 / 0.001) = 10.97 -> 11 votes; log2(10 / 0.001) = 13.29 -> 14 votes.
    assert bagging_sentence([rec], 0.0) == (" Here 10 base encoders on 500 of 5,000 inputs each, certified fraction "
                                            "0.00: a certificate (Clopper–Pearson, alpha 0.001) needs at least this "
                                            "many unanimous votes — ten (10 classes) 14, two (2 classes) 11.")
    assert bagging_sentence(RECORDS, 0.0) == ""


def test_certified_sizes_are_stated_over_the_targets_the_vote_gets_right():
    rec = dict(record(0, [False] * 4, 0.7, 0.6), defense="bagging", threat={"poisons_per_target": 50})
    # (certified size, subsample size that would certify 50, voted right?): the wrong vote is left out
    for t, (size, k, right) in zip(rec["targets"], [(3, 35, True), (6, 60, True), (0, 0, True), (-1, 0, False)]):
        t.update(certified_poisoning_size=size, subsample_size_to_certify=k, true_class=0 if right else 1)
    assert certified_sizes_sentence([rec]) == (
        " Certified poisoning size of the 3 targets the vote gets right: median 3 (range 0–6; non-zero for 2) against "
        "the run's 50 poisons per target; by the same bound, base encoders on at most 35–60 inputs would certify "
        "that many for 2 of them.")
    assert certified_sizes_sentence(RECORDS) == ""
