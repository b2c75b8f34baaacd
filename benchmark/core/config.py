"""Tiers are data — one TOML file per scale in ``benchmark/tiers/`` — loaded, overridden and validated here."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore

from .errors import BenchmarkError
from .settings import SECTION_KEYS, TierConfig

TIER_DIR = Path(__file__).parents[1] / "tiers"  # the tier files are data, beside the code that reads them


def list_tiers() -> List[str]:
    return sorted(p.stem for p in TIER_DIR.glob("*.toml"))


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise BenchmarkError(msg)


# Upper bounds keep a typo (or a hostile --set) from reaching the allocator or running for years.
MAX_INT = 10_000_000


def _int(value: Any, where: str, lo: int = 1, hi: int = MAX_INT) -> None:
    """An integer in [lo, hi]; booleans (``true`` is an int to Python) are refused."""
    _require(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
             f"{where} must be an integer in [{lo}, {hi}], got {value!r}")


def _real(value: Any, where: str, lo: float, hi: float, lo_open: bool = True) -> None:
    """A finite number in (lo, hi] (or [lo, hi]); booleans, NaN and infinities are refused."""
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
          and (value > lo if lo_open else value >= lo) and value <= hi)
    _require(ok, f"{where} must be a finite number in {'(' if lo_open else '['}{lo}, {hi}], got {value!r}")


def validate(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Check types and ranges so bad numbers fail before any work starts."""
    for section in ("tier", "data", "pretrain", "threat", "probe"):
        _require(isinstance(cfg.get(section), dict), f"the tier lacks a [{section}] table")
    for section, known in SECTION_KEYS.items():
        unknown = sorted(set(cfg[section]) - set(known))
        _require(not unknown, f"[{section}] has unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    check_pretrain(cfg["pretrain"])
    t, pr = cfg["threat"], cfg["probe"]
    _int(t.get("targets_per_task"), "threat.targets_per_task", hi=10_000)
    _int(t.get("n_references"), "threat.n_references", hi=100_000)
    _int(t.get("only_target", -1), "threat.only_target", lo=-1)
    _real(t.get("poison_rate"), "threat.poison_rate", 0, 1)
    _real(t.get("max_clean_fraction", 0.5), "threat.max_clean_fraction", 0, 1, lo_open=False)
    _int(pr.get("epochs"), "probe.epochs", hi=100_000)
    _int(pr.get("batch_size"), "probe.batch_size", hi=1_000_000)
    _real(pr.get("lr", 1e-3), "probe.lr", 0, 100)
    _require(pr.get("feature_norm", "none") in ("none", "l2"), "probe.feature_norm must be none or l2")
    _require(isinstance(cfg["data"].get("tasks"), list) and cfg["data"]["tasks"], "data.tasks must be a non-empty list")
    for limit_owner in [cfg["data"].get("pretrain"), *cfg["data"]["tasks"]]:
        _require(isinstance(limit_owner, dict) and isinstance(limit_owner.get("name"), str),
                 f"data entries must be tables with a name, got {limit_owner!r}")
        for key in ("limit", "train_limit", "test_limit"):
            if key in limit_owner:
                _int(limit_owner[key], f"data {limit_owner['name']}.{key}")
    return cfg


def check_pretrain(p: Dict[str, Any]) -> None:
    """The ``[pretrain]`` ranges — of a tier, and of every config a submitted defense asks to train with."""
    _int(p.get("epochs"), "pretrain.epochs", hi=100_000)
    # A contrastive batch of one image has no negative (NT-Xent's loss is 0, nothing is learnt).
    _int(p.get("batch_size"), "pretrain.batch_size", lo=2, hi=65_536)
    _int(p.get("width"), "pretrain.width", hi=1024)
    _real(p.get("lr"), "pretrain.lr", 0, 100)
    _real(p.get("temperature"), "pretrain.temperature", 0, 100)
    _real(p.get("weight_decay", 0), "pretrain.weight_decay", 0, 10, lo_open=False)
    blocks = p.get("blocks")
    if not (isinstance(blocks, (list, tuple)) and 1 <= len(blocks) <= 8):
        raise BenchmarkError(f"pretrain.blocks must be a list of 1 to 8 integers, got {blocks!r}")
    for b in blocks:
        _int(b, "pretrain.blocks[]", hi=64)
    _require(isinstance(p.get("init", ""), str), f"pretrain.init must be a backbone name, got {p.get('init')!r}")
    _int(p.get("frozen_stages", 0), "pretrain.frozen_stages", lo=0, hi=len(blocks))
    _require(not p.get("frozen_stages", 0) or bool(p.get("init")), "pretrain.frozen_stages needs pretrain.init (a backbone)")
    _require(isinstance(p.get("method", "simclr"), str), f"pretrain.method must be a method name, got {p.get('method')!r}")
    _require(p.get("optimizer", "adam") in ("adam", "sgd"), f"pretrain.optimizer must be adam or sgd, got {p.get('optimizer')!r}")
    _require(p.get("schedule", "constant") in ("constant", "cosine"),
             f"pretrain.schedule must be constant or cosine, got {p.get('schedule')!r}")
    _real(p.get("momentum", 0.99), "pretrain.momentum", 0, 1, lo_open=False)
    _require(p.get("momentum", 0.99) < 1, "pretrain.momentum must be below 1")
    _int(p.get("queue_size", 4096), "pretrain.queue_size", hi=1_000_000)


# Sections whose tables are registry entries' parameters: ``attack.NAME.PARAM``, ``defense.NAME.PARAM``.
ENTRY_SECTIONS = ("attack", "defense")


def set_value(cfg: Dict[str, Any], path: str, value: Any) -> None:
    """The one override rule (``--set`` in every command, and the experiments' cell changes):
    ``attack.NAME.PARAM`` / ``defense.NAME.PARAM`` set an entry's parameter, created if the tier
    does not list it (whether NAME takes PARAM is checked against its ``__init__`` by
    :func:`benchmark.core.registry.check_entry_sections` once the registries are loaded); a key of a
    typed section (:data:`SECTION_KEYS`) may be set whether or not the file sets it; every other
    path must already exist in the tier — a typo fails instead of being ignored."""
    keys = path.split(".")
    if len(keys) == 2 and keys[0] in SECTION_KEYS and isinstance(cfg.get(keys[0]), dict):
        if keys[1] not in SECTION_KEYS[keys[0]]:
            raise BenchmarkError(f"--set: unknown key {path!r} (the [{keys[0]}] keys: {', '.join(SECTION_KEYS[keys[0]])})")
        cfg[keys[0]][keys[1]] = value
        return
    if keys[0] in ENTRY_SECTIONS:
        if len(keys) != 3 or not all(keys):
            raise BenchmarkError(f"--set {path}: an entry's parameter is {keys[0]}.NAME.PARAMETER")
        section = cfg.setdefault(keys[0], {})
        if not isinstance(section, dict) or not isinstance(section.setdefault(keys[1], {}), dict):
            raise BenchmarkError(f"--set {path}: [{keys[0]}.{keys[1]}] is not a table in the tier")
        section[keys[1]][keys[2]] = value
        return
    node = cfg
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            raise BenchmarkError(f"--set: no section {path!r} in the tier")
        node = node[k]
    if keys[-1] not in node:
        raise BenchmarkError(f"--set: unknown key {path!r}")
    node[keys[-1]] = value


def apply_override(cfg: Dict[str, Any], assignment: str) -> None:
    """``section.key=value`` with a JSON (or bare string) value, e.g. ``pretrain.epochs=40``."""
    if "=" not in assignment:
        raise BenchmarkError(f"--set expects section.key=value, got {assignment!r}")
    path, raw = assignment.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    set_value(cfg, path, value)


def with_changes(cfg: TierConfig, changes: Dict[str, Any]) -> TierConfig:
    """``cfg`` with ``{dotted path: value}`` applied by :func:`set_value`, validated and built anew."""
    out = cfg.as_dict()
    for path, value in changes.items():
        set_value(out, path, value)
    return TierConfig.from_dict(validate(out))


def read_named_toml(name_or_path: str, directory: Path, kind: str):
    """(path, parsed dict) of a built-in ``directory/NAME.toml`` or a .toml path; one-line errors."""
    path = Path(name_or_path)
    if not path.suffix:
        path = directory / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.toml")))
        raise BenchmarkError(f"unknown {kind} '{name_or_path}' (built-in: {known}; or a .toml path)")
    try:
        return path, tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BenchmarkError(f"{kind} file {path} is not valid TOML: {exc}") from exc


def load_tier(name_or_path: str, overrides: Sequence[str] = ()) -> TierConfig:
    """Load a built-in tier by name, or a TOML file by path; apply ``--set`` overrides; validate and
    build the typed config once."""
    _, cfg = read_named_toml(name_or_path, TIER_DIR, "tier")
    cfg = copy.deepcopy(cfg)
    for o in overrides:
        apply_override(cfg, o)
    return TierConfig.from_dict(validate(cfg))
