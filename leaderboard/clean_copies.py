"""Whether a grid's rows of one seed were measured against one clean encoder or several copies of it.

The encoder cache names an encoder by its content key (config, training images, seed), but CPU
training is bit-reproducible only for one torch build, CPU kind and intra-op thread count: trained
again with another ``--threads`` (measured: 1 and 2 threads give different weights after one epoch;
the same count reproduced a copy on another machine of the same kind) or on another kind of CPU, the
"same" clean encoder is another copy, whose clean accuracy differs by up to about a point. Every
record pairs its PA with the copy it measured CA on, so a row's utility loss stays right; absolute
CA across rows of one seed is comparable only within a copy. The board says how many copies a seed's
rows were measured against, so no reader takes the spread for an effect.

Copies are told apart by the clean encoder's weight digest where records carry it
(``cost.encoders[role=clean].weights_sha256``), else by its fingerprint: the per-task clean
accuracies of records evaluated on the same inputs (same seed, attack kind and per-task ``n_eval``;
attack kinds hold out different drawn inputs, so their CA differ by design). Two copies with identical
accuracies on every task would count as one — the count is a lower bound.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple


def _digest(rec: Dict[str, Any]) -> Optional[str]:
    """The clean encoder's weight digest, if the record carries it."""
    clean = [e for e in rec.get("cost", {}).get("encoders", []) if e.get("role") == "clean"]
    return clean[0].get("weights_sha256") if clean else None


def _inputs(rec: Dict[str, Any]) -> Tuple:
    """What CA was measured on, for one seed: the attack kind decides which drawn inputs are held out."""
    return (rec.get("attack_kind", "targeted"),) + tuple((name, t.get("n_eval")) for name, t in sorted(rec["tasks"].items()))


def clean_copies(records: List[Dict[str, Any]]) -> Dict[int, Dict[str, Any]]:
    """seed → {"copies": lower bound on distinct clean encoders its records used, "ca_spread": the
    largest difference in one task's CA between two records evaluated on the same inputs}."""
    out: Dict[int, Dict[str, Any]] = {}
    for seed in sorted({r["seed"] for r in records}):
        mine = [r for r in records if r["seed"] == seed]
        digests: Set[str] = {d for d in map(_digest, mine) if d}
        by_inputs: Dict[Tuple, Set[Tuple]] = {}
        for r in mine:
            by_inputs.setdefault(_inputs(r), set()).add(
                tuple(t["clean_accuracy"] for _, t in sorted(r["tasks"].items())))
        spread = max((max(col) - min(col) for accs in by_inputs.values() for col in zip(*accs)), default=0.0)
        fingerprinted = max((len(accs) for accs in by_inputs.values()), default=0)
        out[seed] = {"copies": max(len(digests), fingerprinted), "ca_spread": spread}
    return out


def copies_note(records: List[Dict[str, Any]]) -> Optional[str]:
    """One paragraph for the board when some seed's rows used more than one clean encoder copy, else None."""
    many = {s: v for s, v in clean_copies(records).items() if v["copies"] > 1}
    if not many:
        return None
    seeds = "; ".join(f"seed {s}: ≥ {v['copies']} copies, CA up to {100 * v['ca_spread']:.1f} points apart on one task"
                      for s, v in many.items())
    return ("Clean encoder copies: rows of one seed were measured against more than one copy of the seed's "
            f"clean encoder, retrained under the same content key ({seeds}; copies told apart by weight digest "
            "or by clean accuracy on the same inputs). CPU training is bit-reproducible only for one torch build, "
            "CPU and thread count, and the cache does not outlive a machine. Each row's utility loss and dropped "
            "ratio pair its PA with the copy it measured CA on; absolute CA across rows of one seed is comparable "
            "only to within that spread.\n")
