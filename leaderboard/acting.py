"""Does each attack act on this grid? Read off its undefended row, so a reader knows which tables can
rank defenses by protection and which only by their utility cost.

A defense benchmark whose attacks do not act ranks nothing: a defense "lowers" an ASR that sits at
the clean encoder's own rate on the same inputs. The board therefore states, per attack, whether its
undefended interval lies clear of the clean baseline — the same criterion the issues' bars use
(PoisonedEncoder, Liu et al. USENIX Security 2022, reports ASR against the clean encoder's on the same
targets): a targeted or backdoor attack acts when the lower end of its ASR interval exceeds the upper
end of the clean encoder's on the same inputs; an indiscriminate attack (no ASR) acts when its
accuracy-drop interval over seeds lies above zero. Pure, like the rest of the board.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from benchmark.core.metrics import format_ci

ACTS = "acts"
DOES_NOT_ACT = "does not act"
NO_INTERVAL = "no interval yet"


def verdict(row) -> Tuple[str, str]:
    """(verdict, evidence) of one attack's undefended summary row (:func:`~leaderboard.aggregate.summary_table`)."""
    if row.asr == row.asr:  # targeted or backdoor: an ASR against the clean encoder's on the same inputs
        lo, hi = row.asr_ci[0], row.clean_asr_ci[1]
        evidence = f"ASR {format_ci(row.asr, row.asr_ci)} against the clean encoder's {format_ci(row.clean_asr, row.clean_asr_ci)}"
    else:  # indiscriminate: the accuracy the victim loses, with its interval over seeds
        ci = getattr(row, "drop_ci", (float("nan"), float("nan")))
        lo, hi = ci[0], 0.0
        evidence = (f"CA − PA {row.utility_loss:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci[0] == ci[0] else
                                                          " (one seed)"))
    if lo != lo:  # one seed of an indiscriminate attack: no interval over seeds to compare
        return NO_INTERVAL, evidence
    return (ACTS if lo > hi else DOES_NOT_ACT), evidence


def undefended(rows_of_attack) -> Optional[object]:
    """The attack's undefended summary row, or None before it has one."""
    rows = rows_of_attack[rows_of_attack.defense == "none"]
    return next(rows.itertuples()) if len(rows) else None


def heading_line(rows_of_attack) -> str:
    """One line under an attack's heading: whether its rows can show protection or only cost."""
    row = undefended(rows_of_attack)
    if row is None:
        return "Undefended row not run yet: whether this attack acts here is not known.\n"
    said, evidence = verdict(row)
    if said == ACTS:
        return f"Undefended: {evidence} — the attack **acts** here; rows below show what each defense takes back.\n"
    if said == DOES_NOT_ACT:
        return (f"Undefended: {evidence} — the attack **does not act** here; rows below show each defense's "
                "utility cost, not protection (an ASR under the undefended one is noise at the clean level).\n")
    return f"Undefended: {evidence} — too few seeds to say whether the attack acts here.\n"


def acting_note(summary_of_grid) -> Optional[str]:
    """The grid's attacks grouped by verdict, in one paragraph (None when no attack has an undefended row)."""
    groups: Dict[str, List[str]] = {ACTS: [], DOES_NOT_ACT: [], NO_INTERVAL: []}
    for attack in sorted(set(summary_of_grid.attack) - {"none"}):
        row = undefended(summary_of_grid[summary_of_grid.attack == attack])
        if row is not None:
            said, evidence = verdict(row)
            groups[said].append(f"`{attack}`, {evidence}")
    if not any(groups.values()):
        return None
    titles = {ACTS: "Act", DOES_NOT_ACT: "Do not act", NO_INTERVAL: "Too few seeds to say"}
    said = " ".join(f"{titles[k]}: {'; '.join(v)}." for k, v in groups.items() if v)
    return ("Which attacks act on this grid (undefended interval clear of the clean encoder's on the same inputs; "
            f"for an indiscriminate attack, its accuracy drop clear of zero). {said} Rows against an attack that does "
            "not act measure a defense's cost, not its protection.\n")
