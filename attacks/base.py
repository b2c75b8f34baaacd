"""What every attack receives and returns.

An attack is given, per target, the target image, its references and its poison budget —
exactly the attacker's knowledge in the paper's threat model (§3.1): no access to the clean
pre-training set, the encoder architecture or the loss. It returns unlabeled poison images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from benchmark.core.registry import Registry, init_params

ATTACKS = Registry("attack")


@dataclass(frozen=True)
class AttackTarget:
    image: np.ndarray               # uint8 32×32×3
    references: np.ndarray          # uint8 R×32×32×3, of the target class
    n_poisons: int


@dataclass(frozen=True)
class PoisonSet:
    images: np.ndarray              # uint8 P×32×32×3
    target_ids: np.ndarray          # which target each poison serves (bookkeeping, never shown to defenses)
    meta: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class AttackContext:
    """What the harness may lend an attack beyond the threat model's knowledge: a clean surrogate
    SimCLR model (encoder + projection head) for attacks that optimise against one (Witches'
    Brew). The grid's clean encoder of the same seed serves — the strongest surrogate possible."""
    surrogate: Optional[Callable[[], Any]] = None
    surrogate_cfg: Optional[Any] = None   # its PretrainConfig (an isolated attack rebuilds the model from it)


KINDS = ("targeted", "backdoor", "indiscriminate")
# How the attacker reaches the victim: "data" — poisons appended to the pre-training set (every
# attack of the PoisonedEncoder family); "model" — a backdoored encoder delivered in place of the
# clean one (BadEncoder, Jia et al. S&P 2022), where pre- and in-processing defenses do not apply;
# "release" — the attacker publishes the victim's whole pre-training set, every image perturbed
# within an L∞ budget (Contrastive Poisoning, He et al. ICLR 2023). Each maps to the method the
# harness calls for it (benchmark/pipeline.py:_poison), which such an attack must implement.
THREATS = {"data": "craft", "model": "poison_model", "release": "poison_release"}


class Attack:
    """Base class: the registry sets ``name``; subclasses implement :meth:`craft` — or, for a
    model-poisoning attack, :meth:`poison_model`, for a release attack :meth:`poison_release` — and,
    for a backdoor, :meth:`stamp`."""

    name = "attack"
    # What the attack's success is measured on (CorruptEncoder, Zhang et al. CVPR 2024, §5):
    # "targeted" — the chosen target inputs (ASR over targets; PoisonedEncoder, ICP, Witches' Brew);
    # "backdoor" — every test input of a downstream task outside the target class, with the
    # attack's trigger stamped on (ASR per task, an interval over seeds);
    # "indiscriminate" — no target: the accuracy the victim loses on every task (PA vs CA).
    kind = "targeted"
    threat = "data"
    # Bump when the poisons craft() returns change; part of the poison cache key.
    version = "1"
    # True for attacks whose crafting is an optimisation worth storing (benchmark/poison_store.py).
    cache_poisons = False
    # True for attacks that optimise against a clean surrogate encoder (``context.surrogate``); the
    # dry-run planner cannot craft them without doing the work.
    needs_surrogate = False
    # A release attack's L∞ bound on the change of any pixel value (0–255); None for other threats.
    linf_budget: Optional[int] = None

    def params(self) -> Dict[str, Any]:
        """JSON-serialisable parameters, recorded with every result: those of ``__init__``, read
        back from the attributes of the same name (an entry stores each under its own name)."""
        return init_params(self)

    def meta(self, poisons: PoisonSet) -> Dict[str, Any]:
        """What a record keeps of the attack's own bookkeeping on ``poisons`` (small JSON)."""
        return dict(poisons.meta)

    def craft(self, targets: List[AttackTarget], rng: np.random.Generator,
              context: Optional[AttackContext] = None) -> PoisonSet:
        raise NotImplementedError

    def poison_model(self, encoder: Any, shadow: np.ndarray, targets: List[AttackTarget], seed: int,
                     device: str = "cpu") -> Any:
        """A model-poisoning attack's backdoored copy of ``encoder`` (an nn.Module, left unchanged),
        made from ``shadow`` — ``shadow_size`` clean pre-training images the harness hands the
        attacker — and the targets' references; target i's trigger is ``stamp(·, i)``."""
        raise NotImplementedError(f"{self.name} poisons data, not a model")

    def poison_release(self, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                       context: Optional[AttackContext] = None) -> PoisonSet:
        """A release attack's published set: ``images`` (uint8 N×32×32×3, the victim's clean set,
        with the publisher's ``labels``) each changed by at most ``linf_budget``, same order and
        shape — the PoisonSet's images *are* the released set (its target ids are −1)."""
        raise NotImplementedError(f"{self.name} does not publish the victim's set")

    def stamp(self, images: np.ndarray, target_id: int) -> np.ndarray:
        """A backdoor's test inputs: a copy of ``images`` with the trigger of target ``target_id``."""
        raise NotImplementedError(f"{self.name} is a {self.kind} attack: it has no trigger")


def register_attack(name: str):
    return ATTACKS.register(name)


def create_attack(name: str, **params: Any) -> Attack:
    return ATTACKS.create(name, **params)


def list_attacks() -> List[str]:
    return ATTACKS.names()
