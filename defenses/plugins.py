"""Defense plugins: installed packages and ``submissions/<name>/`` folders join the registry.

Two ways to add a defense without editing the benchmark:

- an installed package declaring an entry point in the group ``cl_poisonbench.defenses``
  (``name = "package.module:DefenseClass"``); the class is registered under the entry point's
  name unless the module already registered it;
- a folder ``submissions/<name>/`` holding ``defense.py`` (which registers ``<name>`` with
  ``@register_defense``) and a ``README.md`` stating the authors, a paper link and the
  threat-model assumptions.

Every failure — an import error, a name clash with a built-in or another plugin, a folder whose
module registers another name, a README lacking a required section — is one line naming the
plugin (:class:`~benchmark.errors.BenchmarkError`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional

from benchmark.errors import BenchmarkError

from .base import DEFENSES, Defense

ENTRY_POINT_GROUP = "cl_poisonbench.defenses"
README_SECTIONS = ("authors", "paper", "threat model")
# The repository's own submissions folder; ./submissions and CL_POISONBENCH_SUBMISSIONS (os.pathsep-separated) add others.
REPO_SUBMISSIONS = Path(__file__).resolve().parents[1] / "submissions"

_loaded: Dict[str, str] = {}  # plugin name → where it came from
_failed: Dict[str, str] = {}  # plugin name → why it could not be loaded (one line)


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


def load_submission(folder: Path) -> str:
    """Import ``folder/defense.py``; it must register a defense named after the folder."""
    folder = Path(folder).resolve()
    name = folder.name
    if name in _loaded:
        if _loaded[name] != str(folder):
            raise BenchmarkError(f"plugin '{name}': name clash between {_loaded[name]} and {folder}")
        return name
    source = folder / "defense.py"
    if not source.is_file():
        raise BenchmarkError(f"plugin '{name}': {source} is missing")
    check_readme(folder)
    if name in DEFENSES:
        raise BenchmarkError(f"plugin '{name}' ({source}): name clash with an already registered defense")
    module_name = f"cl_poisonbench_submissions.{name}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    module = importlib.util.module_from_spec(spec)
    before = set(DEFENSES.names())
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BenchmarkError as exc:
        sys.modules.pop(module_name, None)
        raise BenchmarkError(f"plugin '{name}' ({source}): {exc}") from exc
    except (Exception, SystemExit) as exc:  # a submitter's bug (or exit) must not end or trace the harness
        sys.modules.pop(module_name, None)
        raise BenchmarkError(f"plugin '{name}' ({source}) failed to import: {type(exc).__name__}: {exc}") from exc
    added = set(DEFENSES.names()) - before
    if added != {name}:
        raise BenchmarkError(f"plugin '{name}' ({source}) must register exactly the defense '{name}', "
                             f"registered {sorted(added) or 'nothing'}")
    _loaded[name] = str(folder)
    return name


def load_entry_points() -> List[str]:
    names = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _loaded:
            continue
        try:
            names.append(_load_entry_point(ep))
        except BenchmarkError as exc:
            _failed[ep.name] = str(exc)
    return names


def _load_entry_point(ep) -> str:
    """Register one entry point's Defense class under the entry point's name."""
    try:
        obj = ep.load()
    except (Exception, SystemExit) as exc:
        raise BenchmarkError(f"plugin '{ep.name}' (entry point {ep.value}) failed to import: "
                             f"{type(exc).__name__}: {exc}") from exc
    if ep.name not in DEFENSES:
        if not (isinstance(obj, type) and issubclass(obj, Defense)):
            raise BenchmarkError(f"plugin '{ep.name}' (entry point {ep.value}) is not a Defense subclass")
        if vars(obj).get("name", ep.name) != ep.name:
            # A class registered under another name too (an alias): a subclass carries this name,
            # since the registry owns a class's one name.
            obj = type(obj.__name__, (obj,), {"__module__": obj.__module__})
        DEFENSES.register(ep.name)(obj)
    elif DEFENSES.get(ep.name) is not obj and getattr(obj, "name", None) != ep.name:
        raise BenchmarkError(f"plugin '{ep.name}' (entry point {ep.value}): name clash with a registered defense")
    _loaded[ep.name] = f"entry point {ep.value}"
    return ep.name


def load_plugins(extra_dirs: Optional[List[Path]] = None) -> List[str]:
    """Register every installed and submitted defense once; returns the plugin names. A plugin that
    cannot be loaded is skipped and remembered (:func:`failures`), so one broken folder neither
    stops the built-ins nor the other submissions; asking for it by name gives its reason."""
    names = load_entry_points()
    for root in [*submission_dirs(), *(extra_dirs or [])]:
        for folder in sorted(p for p in Path(root).iterdir() if (p / "defense.py").is_file()):
            try:
                names.append(load_submission(folder))
            except BenchmarkError as exc:
                _failed[folder.name] = str(exc)
    return names


def failures() -> Dict[str, str]:
    """Plugins that could not be loaded, by name, with the one-line reason."""
    return {k: v for k, v in _failed.items() if k not in _loaded}


def require_loaded(name: str) -> None:
    """The one-line reason a requested defense is a plugin that failed to load, if it is one."""
    if name in failures():
        raise BenchmarkError(failures()[name])


def plugin_origin(name: str) -> Optional[str]:
    return _loaded.get(name)
