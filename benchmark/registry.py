"""A small timm-style registry: one instance per kind of component.

``register`` is used as a decorator; ``create(name, **params)`` builds an entry with its
defaults overridden by ``params``; ``names()`` lists what is registered. Tests are
parametrized over ``names()`` so a new entry is checked against the whole contract.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from .errors import BenchmarkError


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries and self._entries[name] is not factory:
                raise BenchmarkError(f"{self.kind} '{name}' is registered twice")
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
        except TypeError as exc:  # unknown keyword → user error, not a traceback
            raise BenchmarkError(f"bad parameters for {self.kind} '{name}': {exc}") from exc

    def names(self) -> List[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
