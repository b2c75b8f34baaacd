"""The board's "how this compares with the paper" paragraph: the paper's numbers quoted beside ours.

A pure function of the summary rows of one grid (so the board stays a pure function of its
records). The paper's numbers are those of PoisonedEncoder (Liu, Jia, Gong; USENIX Security 2022),
CIFAR-10 pre-training with ResNet18 for 300 epochs: Table 1 for the attacks, §6 for the defenses.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from benchmark.core.certification import min_unanimous_votes
from benchmark.core.metrics import format_ci
from benchmark.core.paper_numbers import TABLE1_ASR
from .aggregate import early_stopping_table, paired_cosine

PAPER_ATTACKS = TABLE1_ASR  # Table 1, CIFAR-10 pre-training: STL10 / Facemask / EuroSAT downstream
PAPER_DEFENSES = {  # §6, against PoisonedEncoder, CIFAR-10 pre-training
    "kmeans": "K-means detection (K = 100, 4 flagged clusters) removes the poisons when the attacker "
              "does not crop (FNR low) and misses them at crop_scale 0.8 (FNR close to 1, ASR stays high)",
    "early_stopping": "fewer pre-training or downstream epochs lower ASR and PA together (Fig. 10)",
    "bagging": "ASR 0.0 but PA drops by 39% (100 base encoders on 500 of 50,000 inputs each)",
    "no_crop": "ASR 0.1 but PA drops by 45%",
    "finetune": "ASR falls as the clean fraction grows (Fig. 11)",
}
ATTACK_NAMES = {"poisoned_encoder": "PoisonedEncoder", "icp": "ICP", "witches_brew": "Witches' Brew"}


def _ci(row) -> str:
    return format_ci(row.asr, row.asr_ci)


def _row(frame, attack: str, defense: str):
    sub = frame[(frame.attack == attack) & (frame.defense == defense)]
    return None if sub.empty else sub.iloc[0]


def attack_sentence(frame) -> str:
    """Undefended ASR of each attack next to Table 1, and whether PoisonedEncoder's CI lies above
    the baselines' (the ordering Table 1 reports)."""
    parts: List[str] = []
    for attack, paper in PAPER_ATTACKS.items():
        r = _row(frame, attack, "none")
        ours = (f"{_ci(r)} (clean encoder on the same targets {r.clean_asr:.2f}; {r.targets} targets)"
                if r is not None else "not run")
        parts.append(f"{ATTACK_NAMES[attack]}: paper {paper}, ours {ours}")
    text = "Undefended ASR — " + "; ".join(parts) + ". "
    pe = _row(frame, "poisoned_encoder", "none")
    others = [(a, _row(frame, a, "none")) for a in ("icp", "witches_brew")]
    if pe is None or any(r is None for _, r in others):
        return text + "The attack ordering cannot be read until all three undefended rows exist."
    above = [ATTACK_NAMES[a] for a, r in others if pe.asr_ci[0] > r.asr_ci[1]]
    if len(above) == 2:
        return text + "PoisonedEncoder's interval lies above both baselines', as in the paper."
    below = [ATTACK_NAMES[a] for a, r in others if a not in above]
    return text + (f"At this tier PoisonedEncoder's interval does **not** lie above {' and '.join(below)}'s: "
                   f"the paper's ordering is not reproduced.")


def cosine_sentence(records: List[Dict]) -> str:
    """Table 2's outer objective, compared target by target: PoisonedEncoder's undefended encoder
    against each baseline's on the targets both saw (empty until both rows exist)."""
    parts = []
    for other in ("icp", "witches_brew"):
        got = paired_cosine(records, "poisoned_encoder", other)
        if got is not None:
            mean, (lo, hi), n = got
            verdict = "above" if lo > 0 else ("below" if hi < 0 else "not separable from")
            parts.append(f"{ATTACK_NAMES[other]}'s by {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] ({verdict}; {n} targets)")
    if not parts:
        return ""
    return ("Outer objective (Table 2; paper 0.689 vs ICP 0.463 vs Witches' Brew 0.257), paired on the same targets: "
            "PoisonedEncoder's target–reference cosine exceeds " + " and ".join(parts) + ".")


def curve_sentence(records: List[Dict], attack: str = "poisoned_encoder") -> str:
    """Fig. 10's two axes read off the early-stopping records' curves (pooled over seeds)."""
    df = early_stopping_table([r for r in records if r["attack"] == attack and r["defense"] == "early_stopping"])
    parts = []
    for axis, name in (("pretrain_epochs", "pre-training epochs"), ("probe_epochs", "downstream epochs")):
        sub = df[df.axis == axis].sort_values("x")
        if len(sub):
            parts.append(f"{name} {'/'.join(str(int(x)) for x in sub.x)}: ASR {'/'.join(f'{a:.2f}' for a in sub.asr)}, "
                         f"PA {'/'.join(f'{p:.3f}' for p in sub.pa)}")
    return f" Curves ({int(df.n.max())} targets per point): " + "; ".join(parts) + "." if parts else ""


def defense_sentences(frame, records: List[Dict] = ()) -> List[str]:
    out = []
    base = _row(frame, "poisoned_encoder", "none")
    for defense, paper in PAPER_DEFENSES.items():
        r = _row(frame, "poisoned_encoder", defense)
        if r is None:
            out.append(f"- `{defense}` — paper: {paper}. Ours: not run yet.")
            continue
        extra = ""
        if r.fpr == r.fpr:  # a detection defense: its rates
            extra = f", FPR {r.fpr:.3f} / FNR {r.fnr:.3f}"
        delta = f" (undefended {base.asr:.2f})" if base is not None else ""
        out.append(f"- `{defense}` — paper: {paper}. Ours: ASR {_ci(r)}{delta}, CA−PA {r.utility_loss:+.3f} "
                   f"(relative drop {r.dropped_ratio:+.1%}){extra}, cost {r.cost_multiple:.2f}×."
                   + (curve_sentence(records) if defense == "early_stopping" else "")
                   + (bagging_sentence(records, r.certified_fraction) if defense == "bagging" else ""))
    return out


def bagging_sentence(records: List[Dict], certified_fraction: float) -> str:
    """The ensemble's size beside the paper's, and the fewest votes a certificate needs on each task
    (Jia et al.'s Clopper–Pearson bound; :func:`benchmark.core.certification.min_unanimous_votes`)."""
    mine = [x for x in records if x["attack"] == "poisoned_encoder" and x["defense"] == "bagging"]
    if not mine:
        return ""
    p = mine[0].get("config", {}).get("defense", {}).get("params", {})
    n = mine[0].get("n_clean_pretrain")
    alpha = p.get("alpha", 0.001)
    classes = sorted({(t["task"], len(t["votes"])) for x in mine for t in x["targets"] if t.get("votes")})
    need = ", ".join(f"{task} ({c} classes) {min_unanimous_votes(c, alpha)}" for task, c in classes)
    share = f" of {n:,}" if isinstance(n, int) else ""
    return (f" Here {p.get('n_models', '?')} base encoders on {p.get('subsample_size', '?')}{share} inputs each, "
            f"certified fraction {certified_fraction:.2f}: a certificate (Clopper–Pearson, alpha {alpha}) needs "
            f"at least this many unanimous votes — {need}." + certified_sizes_sentence(mine))


def certified_sizes_sentence(records: List[Dict]) -> str:
    """Each correctly voted target's certified poisoning size — median and spread — beside the run's
    poisons per target, and the subsample size that, by the same bound, would certify that many."""
    right = [t for r in records for t in r["targets"]
             if t.get("certified_poisoning_size") is not None and t["certified_poisoning_size"] >= 0
             and t["poisoned_prediction"] == t["true_class"]]
    if not right:
        return ""
    sizes = sorted(t["certified_poisoning_size"] for t in right)
    needed = sorted(t["subsample_size_to_certify"] for t in right if t.get("subsample_size_to_certify"))  # 0: none would
    poisons = sorted({r.get("threat", {}).get("poisons_per_target") for r in records} - {None})
    against = f" against the run's {'/'.join(map(str, poisons))} poisons per target" if poisons else ""
    subsample = (f"; by the same bound, base encoders on at most {needed[0]}–{needed[-1]} inputs would certify that many "
                 f"for {len(needed)} of them" if needed else "")
    return (f" Certified poisoning size of the {len(right)} targets the vote gets right: median {np.median(sizes):g} "
            f"(range {sizes[0]}–{sizes[-1]}; non-zero for {sum(s > 0 for s in sizes)}){against}{subsample}.")


def setting_sentence(records: List[Dict]) -> str:
    """This grid's setting, read off one record, beside the paper's."""
    r = records[0]
    epochs = r.get("config", {}).get("tier", {}).get("pretrain", {}).get("epochs", "?")
    n = r.get("n_clean_pretrain")
    size = f"{n:,}" if isinstance(n, int) else "?"
    targeted = [x for x in records if x["attack"] != "none" and x.get("attack_kind") != "indiscriminate"]
    per_run = max((len(x["targets"]) for x in targeted), default=0)
    return ("The paper pre-trains ResNet18 with SimCLR on 50k CIFAR-10 images for 300 epochs on GPUs and "
            f"poisons one target per pre-training run. Here: {r['encoder']} pre-trained with SimCLR on {size} "
            f"{r['pretrain_set']} images for {epochs} epochs, {per_run} targets sharing each poisoned run (each "
            f"with its own poisons at the per-target rate), downstream tasks {', '.join(sorted(r['tasks']))} "
            "(STL10 and EuroSAT are not available offline).")


def paper_comparison(frame, records: List[Dict]) -> str:
    """Markdown section for one grid: its summary frame (rows of
    :func:`leaderboard.aggregate.summary_table`) and its records."""
    lines = ["### How this compares with the paper\n", setting_sentence(records) + "\n",
             attack_sentence(frame) + "\n"]
    cosine = cosine_sentence(records)
    lines += [cosine + "\n"] if cosine else []
    lines += ["Defenses against PoisonedEncoder:\n"]
    lines += defense_sentences(frame, records)
    lines += ["", "Figure-by-figure comparisons (Tables 1, 2, 4; Figs. 5, 8, 9, 11) are the named experiments' "
                  "tables in [`experiments/`](experiments/) (`python -m benchmark.experiment NAME`)."]
    return "\n".join(lines) + "\n"
