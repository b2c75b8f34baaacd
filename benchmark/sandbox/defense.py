"""A submitted defense as the harness holds it: a :class:`~defenses.base.Defense` whose hooks run in
the plugin's child process (:mod:`benchmark.sandbox.process`), registered without importing it.

What a hook gets is what the threat model grants, and nothing else crosses: a pre- or in-stage
defense the pre-training images in an order fixed by their content (sha256), so positions say
nothing about which are poisons — a keep-mask is mapped back here; in- and post-stage defenses a
trainer that asks the harness, which trains and keeps every encoder and refuses the seed's clean
encoder; a post-stage defense the clean subset the harness drew. No seed, argv, results or cache
directory. Each call has a wall-clock budget (:data:`benchmark.sandbox.remote.HOOK_SECONDS`,
``--hook-seconds``). What it does not promise: a Python child can still read the disk; the
guarantees come from what it is given.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Dict, List, Optional

import numpy as np

from defenses.base import Defense, Operating
from ..core.config import check_pretrain
from ..core.errors import BenchmarkError
from ..core.settings import PretrainConfig, ProbeConfig
from . import codec
from .process import PluginProcess
from .remote import Remote, proxy_class


def content_order(images: np.ndarray) -> np.ndarray:
    """Indices sorting ``images`` by the sha256 of their bytes (ties stay in order)."""
    keys = np.array([hashlib.sha256(np.ascontiguousarray(im).tobytes()).digest() for im in images], dtype="S32")
    return np.argsort(keys, kind="stable")


class IsolatedDefense(Remote, Defense):
    """Every hook forwards to the child; the registry holds one subclass per plugin (:func:`defense_proxy`)."""
    overridden_hooks: tuple = ()

    def __init__(self, **params: Any):
        Remote.__init__(self, **params)
        self._encoders: Dict[str, Any] = {}   # every encoder this instance was given or produced, by key

    def _call(self, hook: str, args: list, trainer=None, trainer_at: Optional[int] = None):
        return self._remote(hook, args, lambda m, a: self._serve(m, a, trainer),
                            {} if trainer_at is None else {"trainer_at": trainer_at},
                            trainer.base_pretrain if trainer is not None else None)

    def _handle(self, obj) -> Optional[Dict[str, Any]]:
        if not (hasattr(obj, "key") and isinstance(getattr(obj, "cfg", None), PretrainConfig)):
            return None
        self._encoders[obj.key] = obj
        return {"key": obj.key, "epoch": None, "cfg": dataclasses.asdict(obj.cfg), "image_passes": int(obj.image_passes),
                "epochs": sorted(int(e) for e in getattr(obj, "epoch_checkpoints", {}))}

    def _resolve(self, h: Dict[str, Any]):
        enc = self._encoders.get(str(h.get("key")))
        if enc is None:
            raise BenchmarkError(f"plugin '{self.name}' returned an encoder the harness did not give it")
        return enc if h.get("epoch") is None else enc.at_epoch(int(h["epoch"]))

    def _serve(self, msg, arrays, trainer):
        if msg["op"] == "weights":
            module = self._resolve(msg)
            module = getattr(module, "encoder", module)
            return {}, codec.weights_of(module)
        if msg["op"] != "train" or trainer is None:
            raise BenchmarkError(f"no trainer for this hook (asked {msg['op']!r})")
        a = codec.unpack(msg["args"], arrays, self._resolve)
        check_pretrain(dataclasses.asdict(a["pretrain"]))
        result = trainer.train(a["images"], a["pretrain"], init=a["init"], label=a["label"], seed_offset=a["seed_offset"])
        if result.key == trainer.clean_request.get("key"):
            raise BenchmarkError("the seed's clean encoder is not available to a defense")
        return {"encoder": self._handle(result)}, {}

    # --- the hooks ---
    def sanitize(self, images: np.ndarray, rng: np.random.Generator, trainer=None):
        order = content_order(images)
        out = self._call("sanitize", [images[order], rng], trainer, trainer_at=2)
        if out is None:
            return None
        out = np.asarray(out)
        if out.shape[:1] != (len(images),):
            return out  # the harness's shape check says what is wrong
        back = np.empty_like(out)
        back[order] = out
        return back

    def detection_stats(self) -> Dict[str, Any]:
        return self._call("detection_stats", [])

    def adjust_pretrain(self, pretrain: PretrainConfig) -> PretrainConfig:
        return self._call("adjust_pretrain", [pretrain])

    def pretrain(self, images, pretrain, trainer, rng) -> List[Any]:
        # Content order here too: an in-stage plugin handed the set with the poisons at its tail
        # could train on exactly the clean part.
        return self._call("pretrain", [images[content_order(images)], pretrain, rng], trainer, trainer_at=2)

    def clean_subset_size(self, n_pretrain: int) -> int:
        return self._call("clean_subset_size", [int(n_pretrain)])

    def post_process(self, trained, clean_images, pretrain, trainer, rng):
        return self._call("post_process", [trained, clean_images[content_order(clean_images)], pretrain, rng],
                          trainer, trainer_at=3)

    def adjust_probe(self, probe: ProbeConfig) -> ProbeConfig:
        return self._call("adjust_probe", [probe])

    def operating(self, trained, probe, n_train: int) -> Operating:
        return self._call("operating", [trained, probe, int(n_train)])

    def curves(self, trained, probe) -> List[Operating]:
        return self._call("curves", [trained, probe])


def defense_proxy(name: str, process: PluginProcess, info: Dict[str, Any], source_text: str) -> type:
    return proxy_class(IsolatedDefense, name, process, info, source_text, stage=str(info["stage"]),
                       overridden_hooks=tuple(info["overridden"]))
