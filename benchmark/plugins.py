"""Plugins: installed packages and ``submissions/<name>/`` folders join the attack and defense registries.

Two ways to add an attack or a defense without editing the benchmark:

- an installed package declaring an entry point in the group ``cl_poisonbench.defenses`` or
  ``cl_poisonbench.attacks`` (``name = "package.module:Class"``); the class is registered under
  the entry point's name;
- a folder ``submissions/<name>/`` holding ``defense.py`` (which registers ``<name>`` with
  ``@register_defense``) and/or ``attack.py`` (``@register_attack``), and a ``README.md`` stating
  the authors, a paper link and the threat-model assumptions.

Every failure — an import error, a name clash with a built-in or another plugin, a folder whose
module registers another name, a README lacking a required section — is one line naming the
plugin (:class:`~benchmark.core.errors.BenchmarkError`); a plugin that fails is skipped and remembered,
so one broken folder stops neither the built-ins nor the other submissions.

The harness never imports a plugin: each one is loaded in, and runs in, its own child process
(:mod:`benchmark.sandbox`); the registry holds a proxy that forwards every call to it.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from attacks.base import ATTACKS, Attack
from defenses.base import DEFENSES, Defense
from .core.errors import BenchmarkError
from .core.registry import Registry
from .sandbox.attack import attack_proxy
from .sandbox.defense import defense_proxy
from .sandbox.process import PluginProcess


@dataclass(frozen=True)
class PluginKind:
    kind: str        # "attack" or "defense"
    registry: Registry
    base: type       # what an entry point's class must subclass
    filename: str    # the module a submission folder holds
    group: str       # the entry-point group


KINDS = {"defense": PluginKind("defense", DEFENSES, Defense, "defense.py", "cl_poisonbench.defenses"),
         "attack": PluginKind("attack", ATTACKS, Attack, "attack.py", "cl_poisonbench.attacks")}
# Every plugin kind runs isolated: the proxy class factory of each (benchmark/sandbox/).
PROXIES = {"defense": defense_proxy, "attack": attack_proxy}
README_SECTIONS = ("authors", "paper", "threat model")
# The repository's own submissions folder; ./submissions and CL_POISONBENCH_SUBMISSIONS (os.pathsep-separated) add others.
REPO_SUBMISSIONS = Path(__file__).resolve().parents[1] / "submissions"

_loaded: Dict[Tuple[str, str], str] = {}  # (kind, name) → where it came from
_failed: Dict[Tuple[str, str], str] = {}  # (kind, name) → why it could not be loaded (one line)
_processes: List[PluginProcess] = []        # the isolated plugins' children, closed at exit


@atexit.register
def _close_processes() -> None:
    for process in _processes:
        process.close()


def submission_dirs() -> List[Path]:
    extra = [Path(p) for p in os.environ.get("CL_POISONBENCH_SUBMISSIONS", "").split(os.pathsep) if p]
    # The checkout's folder (editable installs), ./submissions (a regular install run from a
    # checkout), then any named in the environment — each folder once.
    dirs = []
    for d in [REPO_SUBMISSIONS, Path.cwd() / "submissions", *extra]:
        if d.is_dir() and d.resolve() not in dirs:
            dirs.append(d.resolve())
    return dirs


def check_readme(folder: Path) -> None:
    readme = folder / "README.md"
    if not readme.is_file():
        raise BenchmarkError(f"plugin '{folder.name}': {readme} is missing (authors, paper link, threat model)")
    text = readme.read_text().lower()
    missing = [s for s in README_SECTIONS if s not in text]
    if missing:
        raise BenchmarkError(f"plugin '{folder.name}': README.md lacks {', '.join(missing)}")


def kinds_in(folder: Path) -> List[str]:
    """The plugin kinds a submission folder holds (by the modules in it)."""
    return [k for k, spec in KINDS.items() if (Path(folder) / spec.filename).is_file()]


def load_submission(folder: Path) -> str:
    """Import every plugin module of ``folder``; each must register one entry named after the folder."""
    folder = Path(folder).resolve()
    kinds = kinds_in(folder)
    if not kinds:
        raise BenchmarkError(f"plugin '{folder.name}': {folder} holds neither defense.py nor attack.py")
    for kind in kinds:
        _load_module(KINDS[kind], folder)
    return folder.name


def _load_module(spec: PluginKind, folder: Path) -> None:
    name, source = folder.name, folder / spec.filename
    if (spec.kind, name) in _loaded:
        if _loaded[spec.kind, name] != str(folder):
            raise BenchmarkError(f"plugin '{name}': name clash between {_loaded[spec.kind, name]} and {folder}")
        return
    check_readme(folder)
    if name in spec.registry:
        raise BenchmarkError(f"plugin '{name}' ({source}): name clash with an already registered {spec.kind}")
    register_isolated(spec, name, {"folder": str(folder)}, str(source), source.read_text(errors="replace"))
    _loaded[spec.kind, name] = str(folder)


def register_isolated(spec: PluginKind, name: str, source: Dict[str, str], where: str, text: str) -> None:
    """Register a submitted attack or defense without importing it here: its child process loads it
    and says what it is (:mod:`benchmark.sandbox`); a failure to load is this plugin's one-line error."""
    process = PluginProcess(spec.kind, source, name)
    try:
        info = process.start()
    except BenchmarkError as exc:
        process.kill()
        raise BenchmarkError(f"plugin '{name}' ({where}) failed to import: {getattr(exc, 'reason', exc)}") from exc
    _processes.append(process)
    spec.registry.register(name)(PROXIES[spec.kind](name, process, info, text or str(info.get("source", ""))))


def _load_entry_point(spec: PluginKind, ep) -> str:
    """Register one entry point's class, isolated, under the entry point's name."""
    if ep.name in spec.registry:
        raise BenchmarkError(f"plugin '{ep.name}' (entry point {ep.value}): name clash with a registered {spec.kind}")
    register_isolated(spec, ep.name, {"entry_point": ep.value}, f"entry point {ep.value}", "")
    _loaded[spec.kind, ep.name] = f"entry point {ep.value}"
    return ep.name


def load_entry_points() -> List[str]:
    names = []
    for spec in KINDS.values():
        for ep in metadata.entry_points(group=spec.group):
            if (spec.kind, ep.name) in _loaded:
                continue
            try:
                names.append(_load_entry_point(spec, ep))
            except BenchmarkError as exc:
                _failed[spec.kind, ep.name] = str(exc)
    return names


def load_plugins(extra_dirs: Optional[List[Path]] = None) -> List[str]:
    """Register every installed and submitted attack and defense once; returns the plugin names. A
    plugin that cannot be loaded is skipped and remembered (:func:`failures`); asking for it by
    name gives its reason."""
    names = load_entry_points()
    for root in [*submission_dirs(), *(extra_dirs or [])]:
        for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
            for kind in kinds_in(folder):
                try:
                    _load_module(KINDS[kind], folder.resolve())
                except BenchmarkError as exc:
                    _failed[kind, folder.name] = str(exc)
                else:
                    if folder.name not in names:  # a folder with an attack and a defense is one plugin name
                        names.append(folder.name)
    return names


def failures(kind: Optional[str] = None) -> Dict[str, str]:
    """Plugins (of ``kind``, or of every kind) that could not be loaded, by name, with the one-line reason."""
    return {n: why for (k, n), why in _failed.items() if (kind is None or k == kind) and (k, n) not in _loaded}


def require_loaded(name: str, kind: str = "defense") -> None:
    """The one-line reason a requested entry is a plugin that failed to load, if it is one."""
    failed = failures(kind)
    if name in failed:
        raise BenchmarkError(failed[name])


def plugin_origin(name: str, kind: str = "defense") -> Optional[str]:
    return _loaded.get((kind, name))
