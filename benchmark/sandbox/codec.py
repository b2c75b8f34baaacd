"""What a hook's arguments and results become on the wire (:mod:`benchmark.sandbox.wire`), both ways.

Plain JSON values pass as they are; everything else is a tagged object: a numpy array (its bytes
travel beside the header), a frozen config, a random generator (its bit-generator state, so the
harness's stream advances exactly as an in-process hook would advance it), an :class:`Operating`,
an attack's targets and poisons, and an encoder *handle* — encoders never cross as code or pickles: the harness keeps every encoder
a defense's trainer produced and the child names them by content key (``epoch`` for a saved
checkpoint). Each side supplies how it turns its encoder objects into handles and back.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch

from attacks.base import AttackTarget, PoisonSet
from defenses.base import Operating
from ..core.errors import BenchmarkError
from ..core.settings import PretrainConfig, ProbeConfig

Arrays = Dict[str, np.ndarray]
RECORDS = {"$operating": Operating, "$target": AttackTarget, "$poisons": PoisonSet}  # dataclasses crossing field by field
ToHandle = Callable[[Any], Optional[Dict[str, Any]]]   # an encoder object → {"key", "epoch"}, else None
FromHandle = Callable[[Dict[str, Any]], Any]           # {"key", "epoch"} → the side's encoder object


def weights_of(module) -> Arrays:
    """A module's state as arrays (how a model crosses: weights, never code)."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_weights(module, state: Arrays):
    """``module`` with the state :func:`weights_of` sent; returned for chaining."""
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return module


def pack(value: Any, arrays: Arrays, to_handle: ToHandle) -> Any:
    """``value`` as JSON, its arrays added to ``arrays``; an object neither side can rebuild is an error."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"$array": name}
    if isinstance(value, (list, tuple)):
        return [pack(v, arrays, to_handle) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise BenchmarkError("a dict crossing the sandbox needs string keys")
        return {"$dict": {k: pack(v, arrays, to_handle) for k, v in value.items()}}
    if isinstance(value, PretrainConfig):
        return {"$pretrain": pack(dataclasses.asdict(value), arrays, to_handle)}
    if isinstance(value, ProbeConfig):
        return {"$probe": value.to_dict()}
    if isinstance(value, np.random.Generator):
        return {"$rng": value.bit_generator.state}
    for tag, cls in RECORDS.items():
        if type(value) is cls:
            return {tag: {f.name: pack(getattr(value, f.name), arrays, to_handle) for f in dataclasses.fields(value)}}
    handle = to_handle(value)
    if handle is not None:
        return {"$encoder": handle}
    raise BenchmarkError(f"a {type(value).__name__} cannot cross the sandbox (arrays, configs, encoders the "
                         "trainer produced, and plain JSON values can)")


def unpack(obj: Any, arrays: Arrays, from_handle: FromHandle) -> Any:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [unpack(v, arrays, from_handle) for v in obj]
    if not isinstance(obj, dict) or len(obj) != 1:
        raise BenchmarkError(f"malformed sandbox value {str(obj)[:80]}")
    (tag, body), = obj.items()
    if tag == "$array":
        if body not in arrays:
            raise BenchmarkError(f"sandbox value names a missing array {body!r}")
        return arrays[body]
    if tag == "$dict":
        return {str(k): unpack(v, arrays, from_handle) for k, v in dict(body).items()}
    if tag == "$pretrain":
        return _typed(PretrainConfig, unpack(body, arrays, from_handle))
    if tag == "$probe":
        return _typed(ProbeConfig, dict(body))
    if tag == "$rng":
        rng = np.random.Generator(np.random.PCG64())
        try:
            rng.bit_generator.state = body
        except (TypeError, ValueError, KeyError) as exc:
            raise BenchmarkError(f"malformed generator state in a sandbox message: {exc}") from exc
        return rng
    if tag in RECORDS:
        fields = {k: unpack(v, arrays, from_handle) for k, v in dict(body).items()}
        try:
            return RECORDS[tag](**fields)
        except TypeError as exc:
            raise BenchmarkError(f"malformed {RECORDS[tag].__name__} from a plugin: {exc}") from exc
    if tag == "$encoder":
        return from_handle(dict(body))
    raise BenchmarkError(f"unknown sandbox tag {tag!r}")


def _typed(cls, fields):
    try:
        return cls.from_dict(fields)
    except (TypeError, ValueError) as exc:
        raise BenchmarkError(f"malformed {cls.__name__} from a plugin: {exc}") from exc
