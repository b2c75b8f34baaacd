"""A submitted attack as the harness holds it: an :class:`~attacks.base.Attack` whose ``craft`` and
``meta`` run in the plugin's child process (:mod:`benchmark.sandbox.process`).

The child gets the targets (image, references, budget) and its random stream — the attacker's
knowledge in the threat model — and, for an attack that declares ``needs_surrogate``, the clean
surrogate's weights when it asks for them; nothing of the victim's data. Poisons come back as
arrays, checked by the harness like any attack's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

import numpy as np

from attacks.base import Attack, AttackContext, AttackTarget, PoisonSet
from ..core.errors import BenchmarkError
from . import codec
from .process import PluginProcess
from .remote import Remote, proxy_class


class IsolatedAttack(Remote, Attack):
    """``craft`` and ``meta`` forward to the child; one subclass per plugin (:func:`attack_proxy`)."""

    def craft(self, targets: List[AttackTarget], rng: np.random.Generator,
              context: Optional[AttackContext] = None) -> PoisonSet:
        poisons = self._remote("craft", [list(targets), rng], lambda m, a: self._serve(m, context), {"context_at": 2})
        if not isinstance(poisons, PoisonSet):
            raise BenchmarkError(f"attack '{self.name}': craft must return a PoisonSet, got {type(poisons).__name__}")
        return poisons

    def stamp(self, images: np.ndarray, target_id: int) -> np.ndarray:
        out = np.asarray(self._remote("stamp", [np.asarray(images), int(target_id)], lambda m, a: self._serve(m, None), {}))
        if out.dtype != np.uint8 or out.shape != np.shape(images):
            raise BenchmarkError(f"attack '{self.name}': stamp must return uint8 images of shape {np.shape(images)}")
        return out

    def meta(self, poisons: PoisonSet) -> Dict[str, Any]:
        return self._remote("meta", [poisons], lambda m, a: self._serve(m, None), {})

    def _serve(self, msg: Dict[str, Any], context: Optional[AttackContext]):
        if msg["op"] != "surrogate" or context is None or context.surrogate is None or context.surrogate_cfg is None:
            raise BenchmarkError(f"no surrogate for this call (asked {msg['op']!r})")
        model = context.surrogate()
        return ({"cfg": dataclasses.asdict(context.surrogate_cfg)},
                codec.weights_of(model))


def attack_proxy(name: str, process: PluginProcess, info: Dict[str, Any], source_text: str) -> type:
    if info.get("threat", "data") != "data":
        # A delivered model would have to cross the process boundary both ways (weights out, a
        # backdoored copy back) and be checked, a release the victim's whole set; neither is built
        # yet, so they are refused rather than run in-process.
        raise BenchmarkError(f"attack '{name}': submitted model-poisoning or release attacks (threat "
                             f"{info.get('threat')!r}) are not supported yet; only data poisoning")
    return proxy_class(IsolatedAttack, name, process, info, source_text, needs_surrogate=bool(info["needs_surrogate"]),
                       cache_poisons=bool(info["cache_poisons"]), kind=str(info["kind"]))
