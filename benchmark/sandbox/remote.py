"""What an isolated plugin's proxy does whatever its kind: create the instance in the plugin's child,
forward a call with a budget, keep the harness's random streams in step, and build the registry
entry (a subclass per plugin carrying its ``__init__`` signature, so ``--set`` and ``params()``
work as for a built-in)."""

from __future__ import annotations

import inspect
import itertools
import os
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..core.errors import BenchmarkError
from ..core.settings import PretrainConfig
from . import codec
from .process import PluginProcess

HOOK_SECONDS = {"default": float(os.environ.get("CL_POISONBENCH_HOOK_SECONDS", 4 * 3600))}
_ids = itertools.count(1)


def set_hook_seconds(seconds: float) -> None:
    HOOK_SECONDS["default"] = float(seconds)


class Remote:
    """Mixed into the proxy of each plugin kind (``IsolatedDefense``, ``IsolatedAttack``)."""
    process: PluginProcess
    plugin_source: str = ""

    def __init__(self, **params: Any):
        inspect.signature(type(self).__init__).bind(self, **params)  # an unknown parameter: TypeError, as a built-in's
        self.process.ensure()
        self._generation, self._id = self.process.generation, next(_ids)
        reply, _ = self.process.request({"op": "create", "id": self._id, "params": params}, {},
                                        HOOK_SECONDS["default"], "__init__")
        self._params: Dict[str, Any] = reply["params"]
        self.mutations: List[str] = []        # calls that changed the arrays they were sent (harmless here)

    def params(self) -> Dict[str, Any]:
        return dict(self._params)

    def _handle(self, obj) -> Optional[Dict[str, Any]]:
        return None

    def _resolve(self, handle: Dict[str, Any]):
        raise BenchmarkError(f"plugin '{self.name}' returned an object the harness did not give it")

    def _remote(self, hook: str, args: list, serve: Callable, helpers: Dict[str, int],
                base: Optional[PretrainConfig] = None):
        """Call ``hook`` in the child with ``args``; ``helpers`` says where the child inserts its
        trainer / attack context (``{"trainer_at": 2}``); ``serve`` answers the child's requests."""
        if self.process.generation != self._generation or self.process.proc is None or self.process.proc.poll() is not None:
            raise BenchmarkError(f"plugin '{self.name}': its process was stopped; this instance is gone")
        arrays: codec.Arrays = {}
        header = {"op": "call", "id": self._id, "hook": hook, **helpers, "args": codec.pack(args, arrays, self._handle),
                  "base_pretrain": codec.pack(base or PretrainConfig(), arrays, self._handle)}
        reply, got = self.process.request(header, arrays, HOOK_SECONDS["default"], hook, serve=serve)
        if reply.get("mutated"):
            self.mutations.append(hook)
        full = list(args)
        for at in sorted(helpers.values()):
            full.insert(at, None)
        for i, state in reply.get("rng", []):
            if isinstance(i, int) and 0 <= i < len(full) and isinstance(full[i], np.random.Generator):
                full[i].bit_generator.state = state  # the harness's stream advances as in-process
        return codec.unpack(reply["result"], got, self._resolve)


def proxy_class(base: type, name: str, process: PluginProcess, info: Dict[str, Any], source_text: str,
                **attributes: Any) -> type:
    """The registry entry of one plugin: ``base`` (a proxy class) with the plugin's ``__init__``
    signature, version, authors and module text, every call forwarded to ``process``."""
    def __init__(self, **params):
        base.__init__(self, **params)
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [self_param] + [inspect.Parameter(str(p), inspect.Parameter.KEYWORD_ONLY, default=d) for p, d in info["params"]])
    return type(f"Isolated_{name}", (base,), {"__init__": __init__, "process": process, "version": str(info["version"]),
                                              "authors": str(info["authors"]), "plugin_source": source_text,
                                              "isolation": str(info.get("isolation", "")),
                                              "__module__": base.__module__, **attributes})
