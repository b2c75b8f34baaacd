"""A small timm-style registry: one instance per kind of component.

``register`` is used as a decorator and owns the name: it sets a registered class's ``name``
(a class that declares another is refused), so a name is written once. ``create(name, **params)``
builds an entry with its defaults overridden by ``params``; ``names()`` lists what is registered.
Tests are parametrized over ``names()`` so a new entry is checked against the whole contract.
:func:`init_params` reads an entry's parameters back from its ``__init__`` (scikit-learn's
``get_params``), so no entry restates them by hand.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Dict, List

from .errors import BenchmarkError
from .settings import TierConfig


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            declared = vars(factory).get("name") if isinstance(factory, type) else None
            if declared is not None and declared != name:
                raise BenchmarkError(f"{self.kind} registered as '{name}' declares name = '{declared}': "
                                     "the decorator owns the name, drop the attribute")
            if name in self._entries and self._entries[name] is not factory:
                raise BenchmarkError(f"{self.kind} '{name}' is registered twice")
            if isinstance(factory, type):
                setattr(factory, "name", name)
            self._entries[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise BenchmarkError(f"unknown {self.kind} '{name}' (known: {known})")
        return self._entries[name]

    def create(self, name: str, **params: Any) -> Any:
        factory = self.get(name)
        try:
            return factory(**params)
        except (TypeError, ValueError) as exc:  # an unknown keyword or unusable value → user error, not a traceback
            raise BenchmarkError(f"bad parameters for {self.kind} '{name}': {exc}") from exc

    def param_defaults(self, name: str) -> Dict[str, Any]:
        """The keyword parameters ``create(name, ...)`` accepts (its ``__init__``'s, for a class),
        each with its default (``inspect.Parameter.empty`` when it has none)."""
        factory = self.get(name)
        is_class = isinstance(factory, type)
        target = getattr(factory, "__init__") if is_class else factory  # a class: its __init__, through the MRO
        params = list(inspect.signature(target).parameters.values())[1 if is_class else 0:]
        return {p.name: p.default for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def param_names(self, name: str) -> List[str]:
        return list(self.param_defaults(name))

    def names(self) -> List[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def init_params(obj: Any) -> Dict[str, Any]:
    """The parameters of ``type(obj).__init__``, each read back from the attribute of the same name
    (tuples as lists, as JSON has them). An ``__init__`` that does not keep a parameter under its
    own name raises AttributeError — a conformance failure, not a silently missing record field."""
    out: Dict[str, Any] = {}
    for p in list(inspect.signature(type(obj).__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = getattr(obj, p.name)
        out[p.name] = list(value) if isinstance(value, tuple) else value
    return out


def check_entry_sections(cfg: TierConfig, registries: Dict[str, "Registry"]) -> TierConfig:
    """Every ``[KIND.NAME]`` table of a tier (KIND a key of ``registries``, e.g. ``attack``) names a
    registered entry, and every key in it is a parameter of that entry's ``__init__`` — the check
    behind the one override rule, so ``--set defense.bagging.alpah=…`` fails in every command."""
    tables = cfg.as_dict()
    for kind, registry in registries.items():
        section = tables.get(kind, {})
        if not isinstance(section, dict):
            raise BenchmarkError(f"[{kind}] must be a table of {kind} names")
        for name, params in section.items():
            accepted = registry.param_defaults(name)
            if not isinstance(params, dict):
                raise BenchmarkError(f"[{kind}.{name}] must be a table of parameters")
            unknown = sorted(set(params) - set(accepted))
            if unknown:
                raise BenchmarkError(f"{kind} '{name}' has no parameter {', '.join(unknown)} "
                                     f"(it takes: {', '.join(accepted) or 'none'})")
            for key, value in params.items():
                check_param_value(f"{kind}.{name}.{key}", value, accepted[key])
    return cfg


def check_param_value(where: str, value: Any, default: Any) -> None:
    """An entry's parameter, before the entry sees it: every number finite (in lists too), and of
    its default's type — a flag for a flag, an integer for an integer (never ``true``), a number
    for a float. Ranges are the entry's own (its ``__init__`` refuses with a one-line error)."""
    if isinstance(value, (list, tuple)):
        for item in value:
            check_param_value(where, item, None)
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise BenchmarkError(f"{where} must be a finite number, got {value}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise BenchmarkError(f"{where} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BenchmarkError(f"{where} must be an integer, got {value!r}")
    elif isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise BenchmarkError(f"{where} must be a number, got {value!r}")

