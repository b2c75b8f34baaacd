"""Tiers are data: each scale is a TOML file here, validated on load."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore

from ..errors import BenchmarkError

TIER_DIR = Path(__file__).parent


def list_tiers() -> List[str]:
    return sorted(p.stem for p in TIER_DIR.glob("*.toml"))


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise BenchmarkError(msg)


def validate(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Check types and ranges so bad numbers fail before any work starts."""
    for section in ("tier", "data", "pretrain", "threat", "probe"):
        _require(section in cfg, f"tier file lacks the [{section}] section")
    p, t, pr = cfg["pretrain"], cfg["threat"], cfg["probe"]
    for key in ("epochs", "batch_size", "width"):
        _require(isinstance(p.get(key), int) and p[key] >= 1, f"pretrain.{key} must be an integer >= 1, got {p.get(key)!r}")
    for key in ("lr", "temperature"):
        _require(isinstance(p.get(key), (int, float)) and p[key] > 0, f"pretrain.{key} must be > 0, got {p.get(key)!r}")
    _require(isinstance(p.get("blocks"), list) and all(isinstance(b, int) and b >= 1 for b in p["blocks"]),
             f"pretrain.blocks must be a list of integers >= 1, got {p.get('blocks')!r}")
    _require(isinstance(p.get("init", ""), str), f"pretrain.init must be a backbone name, got {p.get('init')!r}")
    _require(isinstance(p.get("frozen_stages", 0), int) and 0 <= p.get("frozen_stages", 0) <= len(p["blocks"]),
             f"pretrain.frozen_stages must be an integer in [0, {len(p['blocks'])}], got {p.get('frozen_stages')!r}")
    _require(not p.get("frozen_stages", 0) or p.get("init"), "pretrain.frozen_stages needs pretrain.init (a backbone)")
    for key in ("targets_per_task", "n_references"):
        _require(isinstance(t.get(key), int) and t[key] >= 1, f"threat.{key} must be an integer >= 1, got {t.get(key)!r}")
    _require(isinstance(t.get("only_target", -1), int) and not isinstance(t.get("only_target", -1), bool)
             and t.get("only_target", -1) >= -1, f"threat.only_target must be an integer >= -1, got {t.get('only_target')!r}")
    _require(isinstance(t.get("poison_rate"), (int, float)) and 0 < t["poison_rate"] <= 1,
             f"threat.poison_rate must be in (0, 1], got {t.get('poison_rate')!r}")
    for key in ("epochs", "batch_size"):
        _require(isinstance(pr.get(key), int) and pr[key] >= 1, f"probe.{key} must be an integer >= 1, got {pr.get(key)!r}")
    _require(pr.get("feature_norm", "none") in ("none", "l2"), "probe.feature_norm must be none or l2")
    _require(isinstance(cfg["data"].get("tasks"), list) and cfg["data"]["tasks"], "data.tasks must be a non-empty list")
    for limit_owner in [cfg["data"]["pretrain"], *cfg["data"]["tasks"]]:
        for key in ("limit", "train_limit", "test_limit"):
            if key in limit_owner:
                _require(isinstance(limit_owner[key], int) and limit_owner[key] >= 1,
                         f"data {limit_owner.get('name')}.{key} must be an integer >= 1")
    return cfg


def apply_override(cfg: Dict[str, Any], assignment: str) -> None:
    """``section.key=value`` with a JSON (or bare string) value, e.g. ``pretrain.epochs=40``."""
    if "=" not in assignment:
        raise BenchmarkError(f"--set expects section.key=value, got {assignment!r}")
    path, raw = assignment.split("=", 1)
    keys = path.split(".")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    node = cfg
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            raise BenchmarkError(f"--set: no section {path!r} in the tier")
        node = node[k]
    if keys[-1] not in node:
        raise BenchmarkError(f"--set: unknown key {path!r}")
    node[keys[-1]] = value


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


def load_tier(name_or_path: str, overrides: List[str] = ()) -> Dict[str, Any]:
    """Load a built-in tier by name, or a TOML file by path; apply ``--set`` overrides."""
    _, cfg = read_named_toml(name_or_path, TIER_DIR, "tier")
    cfg = copy.deepcopy(cfg)
    for o in overrides:
        apply_override(cfg, o)
    return validate(cfg)
