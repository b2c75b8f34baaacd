"""The board's tables: one attack's ranked rows, the per-task breakdown, and how each cell is written.

A pure function of the aggregated rows (:mod:`leaderboard.aggregate`), like the rest of the board.
"""

from __future__ import annotations

from tabulate import tabulate

from benchmark.core.metrics import format_ci

from .aggregate import pareto_ranks

RANK_RULE = ("Rows are ranked by Pareto layer on (ASR, utility loss), both lower-better: rank 1 is the "
             "Pareto front, rank 2 the front of the rest, and so on; within a layer rows are listed by ASR. "
             "Rows whose ASR intervals overlap are not distinguishable at this number of targets.")


def ranked(frame):
    """Rows of one attack's table with their Pareto-layer rank, sorted by rank, ASR, defense name.
    An indiscriminate attack has no ASR: its rows rank by the accuracy drop alone."""
    frame = frame.copy()
    frame["rank"] = pareto_ranks(list(zip(frame["asr"].fillna(0.0), frame["utility_loss"])))
    return frame.sort_values(["rank", "asr", "utility_loss", "defense"], kind="stable")


def _opt(x: float) -> str:
    return "–" if x != x else f"{x:.2f}"  # nan: not applicable to this defense


def _rate(p: float, ci) -> str:
    """A rate with its interval, or "–" where the attack's kind has no such rate (indiscriminate)."""
    return "–" if p != p else format_ci(p, ci)


def _drop(r) -> str:
    """CA − PA; for an indiscriminate attack — its outcome — with the interval over seeds."""
    lo_hi = getattr(r, "drop_ci", None)
    if isinstance(lo_hi, tuple) and lo_hi[0] == lo_hi[0]:
        return f"{r.utility_loss:+.3f} [{lo_hi[0]:+.3f}, {lo_hi[1]:+.3f}]"
    return f"{r.utility_loss:+.3f}"


def _rates(fpr: float, fnr: float) -> str:
    return "–" if fpr != fpr else f"{fpr:.3f} / {_opt(fnr)}"


ATTACK_HEADERS = ["rank", "defense", "seeds", "targets", "ASR [95% CI]", "clean ASR [95% CI]", "flips", "CA", "PA",
                  "CA−PA", "dropped", "FPR / FNR", "certified", "cos(t, refs) clean → poisoned", "cost"]


INDISCRIMINATE_LEGEND = ("Indiscriminate attacks (Contrastive Poisoning) have no target and no ASR (–): their outcome is "
                         "CA − PA, the accuracy the victim loses against the clean encoder, mean over tasks and seeds "
                         "with a Student-t 95% interval over seeds; such rows rank by it alone. ")


BACKDOOR_LEGEND = ("Backdoor attacks (CorruptEncoder, BadEncoder): ASR is the share of a task's test inputs outside the target "
                   "class that the pipeline sends to the target class with the trigger stamped on, pooled over tasks "
                   "within a seed, then the mean over seeds with a Student-t 95% interval over seeds (one seed: its "
                   "Wilson interval); clean ASR the clean encoder's rate on the same triggered inputs. Not applicable: a pre- or "
                   "in-processing defense against an attack that delivers a poisoned encoder (BadEncoder) instead of "
                   "poisoned data — there is nothing for it to act on. ")


def _flips(row) -> str:
    """Targets flipped of those the clean pipeline got right; – where the attack has no targets."""
    if row.flips is None or row.flips != row.flips:
        return "–"
    return f"{row.flips:.0f}/{row.clean_correct:.0f}"


def _cost(row) -> str:
    """Pre-training cost, and the clean images a post-processing defense was given (its own resource)."""
    clean = "" if row.clean_subset != row.clean_subset else f" + {row.clean_subset:,.0f} clean"
    return f"{row.cost_multiple:.2f}×{clean}"


def attack_table(rows_of_attack, attack: str, cov, na=frozenset()) -> str:
    """One attack's rows, ranked, with a pending row per declared defense that has no record and a
    not-applicable row per defense in ``na`` (:func:`~leaderboard.coverage.inapplicable`)."""
    seeds = lambda d, k: f"{k}/{cov[(attack, d)][1]}" if (attack, d) in cov else str(k)
    rows = [[r.rank, r.defense, seeds(r.defense, r.seeds), r.targets, _rate(r.asr, r.asr_ci),
             _rate(r.clean_asr, r.clean_asr_ci),
             _flips(r), f"{r.ca:.3f} ± {r.ca_sd:.3f}", f"{r.pa:.3f} ± {r.pa_sd:.3f}",
             _drop(r), f"{r.dropped_ratio:+.3f}", _rates(r.fpr, r.fnr), _opt(r.certified_fraction),
             "–" if r.outer != r.outer else f"{r.clean_outer:.3f} → {r.outer:.3f}", _cost(r)] for r in ranked(rows_of_attack).itertuples()]
    rows += [["·", d, f"0/{n}", "·", "pending"] + ["·"] * 10 for (a, d), (k, n) in cov.items() if a == attack and k == 0]
    rows += [["–", d, "–", "–", "not applicable"] + ["–"] * 10 for a, d in sorted(na) if a == attack]
    return tabulate(rows, headers=ATTACK_HEADERS, tablefmt="github", disable_numparse=True)


TASK_HEADERS = ["attack", "defense", "task", "targets", "ASR [95% CI]", "clean ASR [95% CI]", "CA", "PA", "CA−PA"]


def task_breakdown(rows_by_task) -> str:
    """Every row of a grid split by downstream task."""
    rows = [[r.attack, r.defense, r.task, r.targets, _rate(r.asr, r.asr_ci), _rate(r.clean_asr, r.clean_asr_ci),
             f"{r.ca:.3f}", f"{r.pa:.3f}", _drop(r)] for r in rows_by_task.itertuples()]
    return tabulate(rows, headers=TASK_HEADERS, tablefmt="github", disable_numparse=True)
