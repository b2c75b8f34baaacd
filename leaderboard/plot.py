"""Figures built from records: the ASR-vs-utility-loss scatter with its Pareto front, and the
early-stopping curves (paper Fig. 10). Pure functions of the aggregated tables; Agg backend and
no timestamp metadata, so the same records give the same PNG bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .acting import undefended, verdict  # noqa: E402
from .aggregate import early_stopping_table, pareto_front  # noqa: E402

_PNG_META = {"Software": None}


def label_offsets(xs: List[float], ys: List[float], near_x: float = 0.2, near_y: float = 0.04) -> List[tuple]:
    """Text offsets (points) for point labels: a label whose point lies within ``near_x`` of the
    x span and ``near_y`` in ASR (axis 0–1) of an earlier point — about one label's width and
    height on a 5-inch panel — is stacked 10 points higher, so defenses that land close together
    (ASR 0 at similar utility loss is common) stay readable."""
    xspan = ((max(xs) - min(xs)) or 1.0) if xs else 1.0  # one point or none: any span will do
    out: List[tuple] = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        k = sum(abs(xs[j] - x) / xspan < near_x and abs(ys[j] - y) < near_y for j in range(i))
        out.append((4, 4 + 10 * k))
    return out


def _baseline(ax, rows_of_attack) -> str:
    """Shade the clean encoder's ASR interval on the undefended row's inputs — the level a defense's ASR
    is read against — and return the title's verdict (:mod:`leaderboard.acting`); empty without that row."""
    row = undefended(rows_of_attack)
    if row is None:
        return ""
    ax.axhspan(row.clean_asr_ci[0], row.clean_asr_ci[1], color="0.85", zorder=0,
               label="clean encoder, same inputs (95% CI)")
    ax.axhline(row.clean_asr, color="0.5", ls="--", lw=1, zorder=0)
    return f" — {verdict(row)[0]}"


def asr_vs_utility(summary: pd.DataFrame, path: Path) -> None:
    """One panel per attack: each defense at (utility loss, ASR) with its 95% CI; the Pareto
    front (lower ASR and lower utility loss both better) drawn as a step line."""
    # An indiscriminate attack has no ASR to plot (its rows carry nan): the board's table shows it.
    attacks = sorted(a for a in summary["attack"].unique()
                     if a != "none" and summary.loc[summary.attack == a, "asr"].notna().any())
    fig, axes = plt.subplots(1, max(1, len(attacks)), figsize=(5 * max(1, len(attacks)), 4), squeeze=False)
    for ax, attack in zip(axes[0], attacks):
        sub = summary[summary.attack == attack].sort_values("defense").reset_index(drop=True)
        pts = list(zip(sub["asr"], sub["utility_loss"]))
        lo = [a - ci[0] for a, ci in zip(sub["asr"], sub["asr_ci"])]
        hi = [ci[1] - a for a, ci in zip(sub["asr"], sub["asr_ci"])]
        ax.errorbar(sub["utility_loss"], sub["asr"], yerr=[lo, hi], fmt="o", capsize=3)
        offsets = label_offsets(list(sub["utility_loss"]), list(sub["asr"]))
        for r, xytext in zip(sub.itertuples(), offsets):
            ax.annotate(r.defense, (r.utility_loss, r.asr), textcoords="offset points", xytext=xytext, fontsize=8)
        front = pareto_front(pts)
        fx = [pts[i][1] for i in front]
        fy = [pts[i][0] for i in front]
        order = sorted(zip(fx, fy))
        ax.plot([x for x, _ in order], [y for _, y in order], "o-", color="tab:red", mfc="none", ms=12,
                alpha=0.7, label="Pareto front")
        ax.set_title(f"{attack}{_baseline(ax, sub)}")
        ax.set_xlabel("utility loss CA − PA (mean over tasks)")
        ax.set_ylabel("ASR")
        ax.set_ylim(-0.02, 1.02)
        ax.margins(x=0.15)  # a point at the edge of the span stays inside the frame, clear of the legend
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata=_PNG_META)
    plt.close(fig)


def early_stopping_curves(records: List[Dict[str, Any]], path: Path) -> bool:
    """ASR and mean PA against pre-training epochs and downstream epochs, pooled over seeds and
    targets, from the curves early-stopping records carry. False if no record has curves."""
    df = early_stopping_table(records)
    if df.empty:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, axis, label in zip(axes, ["pretrain_epochs", "probe_epochs"], ["pre-training epochs", "downstream epochs"]):
        for attack, grp in df[df.axis == axis].groupby("attack"):
            ax.plot(grp["x"], grp["asr"], "o-", label=f"ASR ({attack})")
            ax.plot(grp["x"], grp["pa"], "s--", label=f"PA ({attack})")
        ax.set_xlabel(label)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    fig.suptitle("Early stopping (paper Fig. 10)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata=_PNG_META)
    plt.close(fig)
    return True
